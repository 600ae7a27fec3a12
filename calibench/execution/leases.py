"""The lease keeper: a sweep's claims stay alive while their jobs run, however long."""

from __future__ import annotations

import sqlite3
import threading

from calibench.store.db import LEASE_S, Store


class LeaseKeeper:
    """Renews this driver's claims from a background thread while their jobs run.

    Leases are short (``LEASE_S``) so that a crashed driver on another host frees its jobs
    within minutes; a job may run for hours, so its live driver keeps extending the lease.
    The thread uses its own SQLite connection (the store's connections are per thread).
    """

    def __init__(self, store: Store, owner: str, lease_s: float = LEASE_S) -> None:
        self.store = store
        self.owner = owner
        self.lease_s = lease_s
        self._keys: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="calibench-lease-keeper", daemon=True)

    def add(self, key: str) -> None:
        with self._lock:
            self._keys.add(key)

    def discard(self, key: str) -> None:
        with self._lock:
            self._keys.discard(key)

    def held(self) -> list[str]:
        with self._lock:
            return sorted(self._keys)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.lease_s / 4):
                for key in self.held():
                    try:
                        self.store.renew(key, self.owner, self.lease_s)
                    except sqlite3.Error:  # busy for a minute: try again at the next beat
                        pass
        finally:
            self.store.close()

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
