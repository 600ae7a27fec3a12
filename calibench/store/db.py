"""The results store: one SQLite database (WAL) beside the artifact folder.

Three tables, one per stage of the flow:

* ``trainings`` -- one row per training key: its spec, status (running/done/failed), a
  claim (owner + lease expiry) so concurrent sweeps on one store never run a job twice,
  and on completion its record (train log, split statistics, versions) or its error.
* ``predictions`` -- logits of one (training, inference procedure); arrays live in the
  artifact store under the same key, written *before* the row that points at them.
* ``results`` -- one (training, inference, calibrator) evaluation: the metrics, each
  naming its estimator.

Every state change is one transaction, so an interrupted run leaves finished work whole
and unfinished work absent or claimed. A claim is a short lease (``LEASE_S``) that the
driver renews while the job runs, so a driver that died on another host releases its
jobs within minutes; a driver on this host that died (SIGKILL, OOM-kill) is detected at
once from its owner token (pid + process start time), so a rerun right after a crash
retakes its jobs without waiting. Verdicts (done/failed) are written only by the current
owner of the claim: a sweep whose claim was taken over cannot overwrite the new owner.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from calibench.errors import StoreDamaged, StoreError, StoreNotFound
from calibench.store.artifacts import ArtifactStore
from calibench.store.owners import Owner, owner_known_dead

#: seconds a claim stays valid without renewal; drivers renew every LEASE_S / 4
LEASE_S = 120.0

#: what a claim must find unchanged: ``(attempts, status)``, ``(0, None)`` when there is no row
RowState = tuple[int, str | None]


def row_state(row: Mapping[str, Any] | sqlite3.Row | None) -> RowState:
    """The part of a training row that changes whenever another sweep claims, finishes,
    fails or releases the job."""
    return (row["attempts"], row["status"]) if row is not None else (0, None)


SCHEMA = """
CREATE TABLE IF NOT EXISTS trainings (
  key TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
  owner TEXT,
  lease_until REAL,
  attempts INTEGER NOT NULL DEFAULT 0,
  started_at REAL,
  finished_at REAL,
  record TEXT,
  error TEXT,
  traceback TEXT
);
CREATE TABLE IF NOT EXISTS predictions (
  key TEXT PRIMARY KEY,
  training_key TEXT NOT NULL REFERENCES trainings(key),
  inference TEXT NOT NULL,
  options TEXT NOT NULL,
  splits TEXT NOT NULL,
  created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
  key TEXT PRIMARY KEY,
  training_key TEXT NOT NULL,
  prediction_key TEXT NOT NULL,
  task TEXT NOT NULL,
  method TEXT NOT NULL,
  seed INTEGER NOT NULL,
  model TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  record TEXT NOT NULL,
  created REAL NOT NULL,
  eval_set TEXT NOT NULL DEFAULT 'test'
);
CREATE INDEX IF NOT EXISTS results_task_method ON results(task, method);
CREATE INDEX IF NOT EXISTS predictions_training ON predictions(training_key);
"""


def default_owner() -> str:
    """A fresh owner token for this process (``host:pid:start:nonce``; see :mod:`.owners`)."""
    return str(Owner.current())


class Store:
    """Results database + artifacts under one output directory.

    ``read_only=True`` (the read commands) opens an existing database without writing
    anything: no folder is created, no WAL switch, no schema, so a store one cannot write
    (another user's, a read-only mount) can still be read.
    """

    DB_NAME = "calibench.sqlite"
    BACKUP_NAME = "calibench.sqlite.backup"

    def __init__(self, root: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self.root = Path(root)
        self.read_only = read_only
        self.db_path = self.root / self.DB_NAME
        self.artifacts = ArtifactStore(self.root / "artifacts")
        self._local = threading.local()
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"{str(self.root)!r} is a file, not a results store folder; pass -o a folder")
        if read_only:
            if not self.db_path.is_file():
                raise StoreNotFound(
                    f"no results store in {str(self.root)!r}; run `calibench run` first or pass -o STORE"
                )
            self._raw().execute("SELECT count(*) FROM sqlite_master").fetchone()
            return
        try:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # no permission, a read-only file system, a file on the way
                raise StoreError(
                    f"cannot write the results store {str(self.root)!r} ({exc.strerror}); "
                    "pass -o a folder you can write"
                ) from exc
            self._raw().executescript(SCHEMA)
            self._migrate()
        except PermissionError as exc:
            raise StoreError(
                f"cannot write the results store {str(self.root)!r} ({exc.strerror}); pass -o a folder you can write"
            ) from exc
        except sqlite3.OperationalError as exc:
            if "readonly" not in str(exc) and "unable to open" not in str(exc):
                raise
            raise StoreError(
                f"cannot write the results store {str(self.db_path)!r} ({exc}); pass -o a folder you can write"
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc

    def _migrate(self) -> None:
        """Bring a store written by an older calibench up to this schema (in place, idempotent).

        ``results.eval_set``: which evaluation set a result scores -- ``test``, the in-domain
        test half (every older result), or an extra set such as ``shift-qnli``. A store opened
        read-only is not changed; :meth:`results` reads it as all in-domain.
        """
        with self._conn() as c:
            if not self._has_eval_set(c):
                c.execute("ALTER TABLE results ADD COLUMN eval_set TEXT NOT NULL DEFAULT 'test'")

    @staticmethod
    def _has_eval_set(c: sqlite3.Connection) -> bool:
        return "eval_set" in {r["name"] for r in c.execute("PRAGMA table_info(results)").fetchall()}

    # -- connection ---------------------------------------------------------------------
    def _raw(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = self._connect()
            except sqlite3.DatabaseError as exc:
                raise self._damaged(exc) from exc
            self._local.conn = conn
        return conn

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            uri = self.db_path.resolve().as_uri()
            try:
                conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=60.0, isolation_level=None)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:
                # a WAL database in a folder we cannot write (no -shm to create): nobody can
                # be writing it through this folder either, so read the file as it is
                conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=60.0, isolation_level=None)
        else:
            conn = sqlite3.connect(self.db_path, timeout=60.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=60000")
        if not self.read_only:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _damaged(self, exc: sqlite3.DatabaseError) -> Exception:
        """The error for an unreadable database file, or ``exc`` itself when it is not damage."""
        if isinstance(exc, sqlite3.OperationalError):  # locked, busy, no such file: not damage
            return exc
        from calibench.store.recovery import damaged_message

        return StoreDamaged(damaged_message(self, exc))

    def _conn(self) -> _Tx:
        return _Tx(self._raw(), self)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- trainings ----------------------------------------------------------------------
    def claim(
        self,
        key: str,
        spec: dict[str, Any],
        owner: str,
        lease_s: float = LEASE_S,
        *,
        expect: RowState | None = None,
    ) -> bool:
        """Take the job ``key`` unless someone else holds a live claim on it.

        A claim is live while its lease runs and its owner is not known to be dead (see
        :func:`~calibench.store.owners.owner_known_dead`). ``expect`` makes the claim
        conditional on the row being as the caller saw it (:func:`row_state`): a driver
        decides from a read whether a job needs running, and without this check a
        concurrent sweep could finish the job between that read and the claim, and it would
        run twice. Attempts alone do not tell: a job that goes from running to done keeps
        its attempt count.
        """
        now = time.time()
        with self._conn() as c:
            row = c.execute("SELECT status, owner, lease_until, attempts FROM trainings WHERE key=?", (key,)).fetchone()
            if expect is not None and row_state(row) != expect:
                return False
            if row is None:
                c.execute(
                    "INSERT INTO trainings(key, spec, status, owner, lease_until, attempts, started_at) "
                    "VALUES (?, ?, 'running', ?, ?, 1, ?)",
                    (key, json.dumps(spec, sort_keys=True), owner, now + lease_s, now),
                )
                return True
            if (
                row["status"] == "running"
                and row["owner"] != owner
                and (row["lease_until"] or 0) > now
                and not owner_known_dead(row["owner"])
            ):
                return False
            c.execute(
                "UPDATE trainings SET status='running', owner=?, lease_until=?, attempts=attempts+1, "
                "started_at=?, spec=?, error=NULL, traceback=NULL WHERE key=?",
                (owner, now + lease_s, now, json.dumps(spec, sort_keys=True), key),
            )
            return True

    def renew(self, key: str, owner: str, lease_s: float = LEASE_S) -> bool:
        """Extend ``owner``'s lease on ``key``; False if the claim is no longer theirs."""
        with self._conn() as c:
            cur = c.execute(
                "UPDATE trainings SET lease_until=? WHERE key=? AND owner=? AND status='running'",
                (time.time() + lease_s, key, owner),
            )
            return cur.rowcount == 1

    def finish_training(
        self,
        key: str,
        owner: str,
        record: dict[str, Any],
        predictions: list[tuple[str, str, dict[str, Any], list[str]]],
        drop_results_of: Sequence[str] = (),
    ) -> bool:
        """Mark done and register its predictions, in one transaction.

        Only the current owner of the running claim can: returns False (and writes nothing)
        when the claim was taken over, so a job is never recorded done twice. The results
        of the predictions in ``drop_results_of`` (regenerated logits) are deleted with it,
        so they are recomputed from the new logits.
        """
        now = time.time()
        with self._conn() as c:
            cur = c.execute(
                "UPDATE trainings SET status='done', finished_at=?, record=?, lease_until=NULL, error=NULL, "
                "traceback=NULL WHERE key=? AND owner=? AND status='running'",
                (now, json.dumps(record, sort_keys=True), key, owner),
            )
            if cur.rowcount != 1:
                return False
            for pkey, inference, options, splits in predictions:
                c.execute(
                    "INSERT OR REPLACE INTO predictions(key, training_key, inference, options, splits, created) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (pkey, key, inference, json.dumps(options, sort_keys=True), json.dumps(splits), now),
                )
            for pkey in drop_results_of:
                c.execute("DELETE FROM results WHERE prediction_key=?", (pkey,))
            return True

    def fail_training(self, key: str, owner: str, error: str, traceback: str) -> bool:
        """Record a failure; like :meth:`finish_training`, only by the claim's current owner."""
        with self._conn() as c:
            cur = c.execute(
                "UPDATE trainings SET status='failed', finished_at=?, lease_until=NULL, error=?, traceback=? "
                "WHERE key=? AND owner=? AND status='running'",
                (time.time(), error, traceback, key, owner),
            )
            return cur.rowcount == 1

    def release(self, key: str, owner: str) -> None:
        """Give a claim back without a verdict (an interrupted job).

        A job that was done before this claim (re-run to add a prediction) goes back to
        done with its earlier record; one that never finished is forgotten.
        """
        with self._conn() as c:
            c.execute(
                "DELETE FROM trainings WHERE key=? AND owner=? AND status='running' AND record IS NULL", (key, owner)
            )
            c.execute(
                "UPDATE trainings SET status='done', lease_until=NULL WHERE key=? AND owner=? "
                "AND status='running' AND record IS NOT NULL",
                (key, owner),
            )

    def training(self, key: str) -> dict[str, Any] | None:
        with self._conn() as c:
            row = c.execute("SELECT * FROM trainings WHERE key=?", (key,)).fetchone()
        return _row(row)

    def trainings(self, status: str | None = None) -> list[dict[str, Any]]:
        q, args = "SELECT * FROM trainings", ()
        if status:
            q, args = q + " WHERE status=?", (status,)
        with self._conn() as c:
            return [_row(r) for r in c.execute(q + " ORDER BY started_at", args).fetchall()]

    # -- predictions --------------------------------------------------------------------
    def prediction(self, key: str) -> dict[str, Any] | None:
        with self._conn() as c:
            row = c.execute("SELECT * FROM predictions WHERE key=?", (key,)).fetchone()
        return _row(row)

    # -- results ------------------------------------------------------------------------
    def put_result(self, key: str, record: dict[str, Any]) -> None:
        with self._conn() as c:
            c.execute(
                "INSERT OR REPLACE INTO results(key, training_key, prediction_key, task, method, seed, model, "
                "fingerprint, record, created, eval_set) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    record["training_key"],
                    record["prediction_key"],
                    record["task"],
                    record["method"],
                    record["seed"],
                    record["model"],
                    record["fingerprint"],
                    json.dumps(record, sort_keys=True),
                    time.time(),
                    record.get("eval_set", "test"),
                ),
            )

    def result(self, key: str) -> dict[str, Any] | None:
        """The stored record of one evaluation, or None."""
        with self._conn() as c:
            row = c.execute("SELECT record FROM results WHERE key=?", (key,)).fetchone()
        return json.loads(row["record"]) if row else None

    def has_result(self, key: str) -> bool:
        with self._conn() as c:
            return c.execute("SELECT 1 FROM results WHERE key=?", (key,)).fetchone() is not None

    def results(
        self, task: str | None = None, method: str | None = None, eval_set: str | None = "test"
    ) -> list[dict[str, Any]]:
        """Stored records; by default those on the in-domain test half. ``eval_set``: one set's
        (``shift-qnli``), ``"extra"`` for every extra set's, None for all."""
        q, args = "SELECT record FROM results WHERE 1=1", []
        if task:
            q += " AND task=?"
            args.append(task)
        if method:
            q += " AND method=?"
            args.append(method)
        with self._conn() as c:
            if not self._has_eval_set(c):  # an older store opened read-only: every result is in-domain
                if eval_set not in (None, "test"):
                    return []
            elif eval_set == "extra":
                q += " AND eval_set != 'test'"
            elif eval_set is not None:
                q += " AND eval_set=?"
                args.append(eval_set)
            return [json.loads(r["record"]) for r in c.execute(q + " ORDER BY task, method, seed", args)]

    def integrity_check(self) -> list[str]:
        """Problems found: SQLite's own check, half-written records, corrupt or missing artifacts
        (each with its remedy: :func:`calibench.store.check.check_store`)."""
        from calibench.store.check import check_store

        return [p.what for p in check_store(self)]

    def backup(self) -> Path:
        """A consistent copy of the database beside it (SQLite's online backup API)."""
        from calibench.store.recovery import backup

        return backup(self)


class _Tx:
    """``with store._conn() as c``: one IMMEDIATE transaction (DEFERRED when read-only),
    committed or rolled back; a damaged database file becomes :class:`StoreDamaged`."""

    def __init__(self, conn: sqlite3.Connection, store: Store) -> None:
        self.conn = conn
        self.store = store

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.conn.execute("BEGIN" if self.store.read_only else "BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise self.store._damaged(exc) from exc
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        except sqlite3.DatabaseError as err:
            if exc_type is None:
                raise self.store._damaged(err) from err
        if isinstance(exc, sqlite3.DatabaseError):
            damaged = self.store._damaged(exc)
            if damaged is not exc:
                raise damaged from exc


def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    d = dict(row)
    for k in ("spec", "record", "options", "splits"):
        if isinstance(d.get(k), str):
            d[k] = json.loads(d[k])
    return d
