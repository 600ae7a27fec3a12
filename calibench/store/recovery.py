"""Ways back from a damaged results database: rebuild it from the artifacts, or restore a backup.

The SQLite file is an index: every logits artifact carries its training's spec and record
and its prediction row, and every probabilities artifact carries its result record (see
:func:`calibench.execution.local.store_output` and ``run_evaluations``). So when the file
is damaged, the artifacts, each checked against its manifest, are enough to write a new
index (:func:`rebuild_index`). Each finished run also leaves a copy of the database made
with SQLite's online backup API (:func:`backup`), consistent even while other sweeps
write, which :func:`restore_backup` puts back. The damaged file is never deleted: it is
moved aside, with its WAL and shared-memory files, so nothing of it is replayed into the
new one.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from calibench.errors import StoreError
from calibench.store.artifacts import LOGITS, PROBS

if TYPE_CHECKING:
    from calibench.store.db import Store


def damaged_message(store: Store, exc: BaseException) -> str:
    """One line: which file, what is wrong, what survives, and the ways out."""
    root = str(store.root)
    backup = store.root / store.BACKUP_NAME
    restore = (
        (
            f", or restore the backup of {time.strftime('%Y-%m-%d %H:%M', time.localtime(backup.stat().st_mtime))}"
            f" with `calibench check -o {root} --restore`"
        )
        if backup.is_file()
        else ""
    )
    return (
        f"the results database {str(store.db_path)!r} is damaged ({exc}); the artifacts under "
        f"{str(store.artifacts.root)!r} are not affected: rebuild the database from their manifests with "
        f"`calibench check -o {root} --rebuild`{restore} (the damaged file is kept beside it)"
    )


def backup(store: Store) -> Path:
    """Copy the database to ``calibench.sqlite.backup`` with SQLite's online backup API."""
    target = store.root / store.BACKUP_NAME
    tmp = target.with_name(target.name + ".tmp")
    dst = sqlite3.connect(tmp)
    try:
        store._raw().backup(dst)
    finally:
        dst.close()
    os.replace(tmp, target)
    return target


def _move_aside(db_path: Path) -> Path | None:
    """Rename the database file and its ``-wal``/``-shm`` companions to ``*.damaged-<time>``."""
    if not db_path.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = db_path.with_name(f"{db_path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = db_path.with_name(db_path.name + suffix)
        if src.exists():
            os.replace(src, aside.with_name(aside.name + suffix))
    return aside


def restore_backup(root: str | os.PathLike[str]) -> Path | None:
    """Put the backup back in place of the (damaged) database; returns where the old file went."""
    from calibench.store.db import Store

    root = Path(root)
    source = root / Store.BACKUP_NAME
    if not source.is_file():
        raise StoreError(
            f"no backup {str(source)!r} to restore; rebuild instead: `calibench check -o {root} --rebuild`"
        )
    aside = _move_aside(root / Store.DB_NAME)
    shutil.copyfile(source, root / Store.DB_NAME)
    return aside


@dataclass
class Rebuilt:
    """What :func:`rebuild_index` wrote back, and what it could not use."""

    trainings: int = 0
    predictions: int = 0
    results: int = 0
    moved_aside: Path | None = None
    skipped: list[str] = field(default_factory=list)  # artifacts that are damaged or lack their rows


def rebuild_index(root: str | os.PathLike[str]) -> Rebuilt:
    """Write a new database from the artifacts' manifests and the rows they carry.

    Artifacts that fail their checksum, or were written before artifacts carried their rows,
    are skipped and named: a rerun of their command regenerates them.
    """
    from calibench.store.db import Store

    root = Path(root)
    out = Rebuilt(moved_aside=_move_aside(root / Store.DB_NAME))
    store = Store(root)
    arts = store.artifacts
    try:
        with store._conn() as c:
            for pkey in arts.keys(LOGITS):
                meta = _meta(arts, LOGITS, pkey, ("training_key", "spec", "record", "splits"), out)
                if meta is None:
                    continue
                tkey = meta["training_key"]
                if c.execute("SELECT 1 FROM trainings WHERE key=?", (tkey,)).fetchone() is None:
                    c.execute(
                        "INSERT INTO trainings(key, spec, status, attempts, finished_at, record) "
                        "VALUES (?, ?, 'done', 1, ?, ?)",
                        (
                            tkey,
                            json.dumps(meta["spec"], sort_keys=True),
                            time.time(),
                            json.dumps(meta["record"], sort_keys=True),
                        ),
                    )
                    out.trainings += 1
                c.execute(
                    "INSERT OR REPLACE INTO predictions(key, training_key, inference, options, splits, created) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        pkey,
                        tkey,
                        meta["inference"],
                        json.dumps(meta["options"], sort_keys=True),
                        json.dumps(meta["splits"]),
                        time.time(),
                    ),
                )
                out.predictions += 1
        for rkey in arts.keys(PROBS):
            meta = _meta(arts, PROBS, rkey, ("record",), out)
            if meta is not None:
                store.put_result(rkey, meta["record"])
                out.results += 1
    finally:
        store.close()
    return out


def _meta(arts, kind: str, key: str, needed: tuple[str, ...], out: Rebuilt) -> dict | None:
    problem = arts.damage(kind, key)
    if problem is not None:
        out.skipped.append(f"{kind} {key}: {problem}")
        return None
    meta = arts.read(kind, key, verify=False).json
    if not all(meta.get(k) is not None for k in needed):
        out.skipped.append(f"{kind} {key}: written before artifacts carried their database rows")
        return None
    return meta
