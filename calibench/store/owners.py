"""Who holds a claim or a half-written file, and whether that process is still alive.

A sweep killed with SIGKILL cannot release its claims or delete its temporary files. Its
lease would expire eventually, but a rerun right after the crash should not wait for
that: every owner token names its host, process id and the process's start time, so a
process on the same host can tell for certain that the owner is gone (no such pid, a
zombie, or the pid reused by a younger process). Owners on other hosts cannot be
checked and are trusted until their lease runs out.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

HOST = socket.gethostname()


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """``(state, start_ticks)`` from ``/proc/<pid>/stat``; None where there is no such file."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    # the command name (field 2) is parenthesised and may itself contain ') ': split after the last one
    rest = text[text.rindex(")") + 2 :].split()
    return rest[0], int(rest[19])  # field 3 (state) and field 22 (starttime, clock ticks since boot)


def process_start(pid: int | None = None) -> int:
    """The start time of ``pid`` (default: this process) in clock ticks; 0 where unknown."""
    stat = _proc_stat(pid if pid is not None else os.getpid())
    return stat[1] if stat else 0


def process_alive(pid: int, start: int = 0) -> bool:
    """Whether ``pid`` runs and (when ``start`` is known) is the process that started then."""
    if pid <= 0:
        return False
    stat = _proc_stat(pid)
    if stat is not None:
        state, started = stat
        if state in ("Z", "X"):  # killed but not yet reaped by its parent
            return False
        return not (start and started != start)
    if os.path.isdir("/proc/self"):  # Linux, and no such pid
        return False
    try:  # elsewhere: signal 0 probes existence
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Owner:
    """A process-unique identity: ``host:pid:start:nonce``."""

    host: str
    pid: int
    start: int
    nonce: str

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.start}:{self.nonce}"

    @classmethod
    def current(cls) -> Owner:
        return cls(HOST, os.getpid(), process_start(), uuid.uuid4().hex[:6])

    @classmethod
    def parse(cls, text: str | None) -> Owner | None:
        """The owner named by ``text``; None for tokens not made by :meth:`current`."""
        parts = (text or "").rsplit(":", 3)
        if len(parts) != 4:
            return None
        host, pid, start, nonce = parts
        if not (pid.isdigit() and start.isdigit()):
            return None
        return cls(host, int(pid), int(start), nonce)

    def known_dead(self) -> bool:
        """True only when it is certain: same host, and that process no longer runs."""
        return self.host == HOST and not process_alive(self.pid, self.start)


def owner_known_dead(token: str | None) -> bool:
    """Whether the owner token ``token`` names a process on this host that has died."""
    owner = Owner.parse(token)
    return owner is not None and owner.known_dead()
