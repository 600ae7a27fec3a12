"""Content-addressed artifacts on disk: logits, noise corpora, checkpoints.

Each artifact is a folder ``<root>/<kind>/<key[:2]>/<key>/`` holding plain files (``.npy``
without pickle, JSON, JSON-lines text) and a ``MANIFEST.json`` with each file's SHA-256.
The folder is built under a temporary name and renamed into place, and the manifest is
the last thing written into it, so a reader sees a whole artifact or none; every read
checks the checksums, so a corrupt file raises :class:`ArtifactCorrupt` instead of being
used. Callers regenerate on either. A writer killed mid-write leaves only its temporary
folder, named after the writing process, which :meth:`ArtifactStore.remove_stale_tmp`
deletes once that process is known dead (so a live concurrent writer is never disturbed).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calibench.store.owners import HOST, Owner

MANIFEST = "MANIFEST.json"
#: artifact kinds of the results store: a training's logits, and a result's test probabilities
LOGITS = "logits"
PROBS = "probs"
TMP_PREFIX = ".tmp-"


class ArtifactCorrupt(RuntimeError):
    """An artifact whose files do not match their recorded checksums."""


class ArtifactMissing(FileNotFoundError):
    """No complete artifact under that key."""


@dataclass
class Artifact:
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    json: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, list[str]] = field(default_factory=dict)
    path: Path | None = None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    """Persist a rename: without it a power loss can undo a rename the caller already relied on."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _tmp_name(key: str) -> str:
    """``.tmp-<key>@<host>@<pid>@<start>@<nonce>``: names the writer so a crash's leftover can be told apart."""
    me = Owner.current()
    return f"{TMP_PREFIX}{key}@{me.host}@{me.pid}@{me.start}@{me.nonce}"


def _tmp_writer(name: str) -> Owner | None:
    parts = name.split("@")
    if len(parts) != 5 or not (parts[2].isdigit() and parts[3].isdigit()):
        return None
    return Owner(parts[1], int(parts[2]), int(parts[3]), parts[4])


class ArtifactStore:
    """Artifacts under ``root``; safe against crashes and concurrent writers of the same key."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / key

    def exists(self, kind: str, key: str) -> bool:
        return (self.path(kind, key) / MANIFEST).is_file()

    def write(
        self,
        kind: str,
        key: str,
        *,
        arrays: dict[str, np.ndarray] | None = None,
        json_data: dict[str, Any] | None = None,
        lines: dict[str, Iterable[str]] | None = None,
    ) -> Path:
        """Write atomically; an intact artifact already under ``key`` is kept, a damaged one replaced."""
        final = self.path(kind, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / _tmp_name(key)
        tmp.mkdir()
        try:
            files: dict[str, str] = {}
            for name, arr in (arrays or {}).items():
                buf = io.BytesIO()
                np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
                _fsync_write(tmp / f"{name}.npy", buf.getvalue())
                files[f"{name}.npy"] = ""
            if json_data is not None:
                _fsync_write(tmp / "data.json", json.dumps(json_data, sort_keys=True, indent=1).encode())
                files["data.json"] = ""
            for name, items in (lines or {}).items():
                text = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in items)
                _fsync_write(tmp / f"{name}.jsonl", text.encode("utf-8"))
                files[f"{name}.jsonl"] = ""
            manifest = {"kind": kind, "key": key, "files": {n: _sha256(tmp / n) for n in files}}
            _fsync_write(tmp / MANIFEST, json.dumps(manifest, sort_keys=True, indent=1).encode())
            if final.exists():
                if self.verify(kind, key):
                    shutil.rmtree(tmp)
                    return final
                # a partial leftover from an older layout, or a damaged artifact: replaced, never kept
                shutil.rmtree(final, ignore_errors=True)
            try:
                os.replace(tmp, final)
            except OSError as exc:
                # a concurrent writer of the same key renamed its (equal) artifact in first
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not self.exists(kind, key):
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
                return final
            _fsync_dir(final.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def read(self, kind: str, key: str, verify: bool = True) -> Artifact:
        path = self.path(kind, key)
        mpath = path / MANIFEST
        if not mpath.is_file():
            raise ArtifactMissing(f"no complete {kind} artifact {key} under {self.root}")
        manifest = json.loads(mpath.read_text())
        out = Artifact(path=path)
        for name, digest in manifest["files"].items():
            fpath = path / name
            if not fpath.is_file() or (verify and _sha256(fpath) != digest):
                raise ArtifactCorrupt(
                    f"{kind} artifact {key}: {name} is missing or does not match its checksum "
                    f"({path}). It will be regenerated; delete the folder to force it."
                )
            stem, ext = name.rsplit(".", 1)
            if ext == "npy":
                out.arrays[stem] = np.load(fpath, allow_pickle=False)
            elif ext == "json":
                out.json = json.loads(fpath.read_text())
            elif ext == "jsonl":
                with open(fpath, encoding="utf-8") as f:
                    out.lines[stem] = [json.loads(line) for line in f]
        return out

    def damage(self, kind: str, key: str) -> str | None:
        """None for an intact artifact, else what is wrong with it (missing, or which file fails)."""
        path = self.path(kind, key)
        mpath = path / MANIFEST
        if not mpath.is_file():
            return "missing" if not path.exists() else "incomplete (no manifest)"
        try:
            files = json.loads(mpath.read_text())["files"]
            items = list(files.items())
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            return "its manifest is unreadable"
        for name, digest in items:
            fpath = path / name
            if not fpath.is_file():
                return f"{name} is missing"
            if _sha256(fpath) != digest:
                return f"{name} does not match its checksum"
        return None

    def verify(self, kind: str, key: str) -> bool:
        """Whether the artifact is complete and every file matches its checksum."""
        return self.damage(kind, key) is None

    @contextmanager
    def building(self, kind: str, key: str) -> Iterator[float]:
        """Held while one process builds the artifact ``key``: a second process that wants the
        same one (two EBM trainings of a task running at once) waits, then reads the first's
        instead of building it again. Yields the seconds it waited, so a training's timings can
        tell that wait from its own work. An OS file lock, so a killed holder never blocks anyone;
        a platform without ``fcntl`` builds twice, which is wasteful but correct (writes are atomic)."""
        try:
            import fcntl
        except ImportError:  # Windows
            yield 0.0
            return
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / f"{kind}-{key}.lock", "a+") as fh:
            t0 = time.perf_counter()
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield time.perf_counter() - t0
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def delete(self, kind: str, key: str) -> None:
        shutil.rmtree(self.path(kind, key), ignore_errors=True)

    def remove_stale_tmp(self, max_age_s: float = 7 * 86400) -> list[Path]:
        """Delete temporary folders left by writers that died; returns what was removed.

        A folder whose writer ran on this host is removed as soon as that process is gone;
        one from another host (a shared filesystem) only once it is ``max_age_s`` old, since
        its writer's liveness cannot be checked from here.
        """
        removed: list[Path] = []
        if not self.root.is_dir():
            return removed
        now = time.time()
        for tmp in self.root.glob(f"*/*/{TMP_PREFIX}*"):
            writer = _tmp_writer(tmp.name)
            if writer is not None and writer.host == HOST:
                stale = writer.known_dead()
            else:
                try:
                    stale = now - tmp.stat().st_mtime > max_age_s
                except FileNotFoundError:  # its writer just finished or cleaned up
                    continue
            if stale:
                shutil.rmtree(tmp, ignore_errors=True)
                removed.append(tmp)
        return removed

    def keys(self, kind: str) -> list[str]:
        base = self.root / kind
        if not base.is_dir():
            return []
        return sorted(
            p.name for p in base.glob("*/*") if not p.name.startswith(TMP_PREFIX) and (p / MANIFEST).is_file()
        )
