"""The paper's data protocol, ``dev-halves-v2``, and the fingerprint that identifies its output.

GLUE test labels are hidden, so (He et al., EACL 2021) each official dev set is split in
file order: the first half is "dev" (calibration / validation), the second half "test"
(every reported number). Concretely, for an official dev set of ``n`` usable rows:

* pair examples with an empty side -- and, for single-sentence tasks, empty sentences --
  are dropped first (empty = None or whitespace only), and counted per source split;
* a task's text normalisation (:attr:`TaskSpec.text_replacements`, e.g. MRPC's
  ``' ,' -> ','``) is applied to every split first, as the reference code does;
* ``dev`` = the first ``n // 2`` rows, ``test`` = the last ``n // 2`` rows: for odd ``n`` the
  middle row is in neither half, as in the reference (``cal_num = n // 2``).
  ``dev-halves-v1``, the protocol before this one, gave that row to ``test`` and did not
  normalise MRPC; results stored under it keep its name and fingerprint, and a rerun under
  v2 trains anew (the fingerprint hashes the protocol name).
* the training set is optionally subsampled to ``train_size`` rows chosen by ``data_seed``
  alone, kept in file order. The choice ranks rows by a fixed 64-bit hash of
  ``(data_seed, idx)``, so it is identical on every machine and NumPy version, independent
  of the training seed (every method and seed sees the same rows), and nested: for one seed
  the rows chosen for a smaller ``train_size`` are a subset of those for a larger one.

The fingerprint is a content hash of the three splits (see :func:`compute_fingerprint`):
two runs share it exactly when they saw the same rows, texts and labels, whichever source
the data came from.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from calibench.tasks.errors import DataError
from calibench.tasks.loading import load_task, table_of, to_dataset
from calibench.tasks.lookup import get_task
from calibench.tasks.spec import TaskSpec

PROTOCOL = "dev-halves-v2"
SPLIT_NAMES: tuple[str, ...] = ("train", "dev", "test")
FINGERPRINT_CHARS = 16  # hex digits of sha256 kept: 64 bits, ample for naming split variants


@dataclass(frozen=True, eq=False)
class Splits:
    """The train / dev / test datasets of one task under the protocol, and their identity.

    Each dataset has the columns ``<task.text_fields>, label, idx`` (``idx`` as in
    ``nyu-mll/glue``, so rows can be traced back to the source). ``stats`` is plain JSON.
    """

    task: TaskSpec
    train: datasets.Dataset
    dev: datasets.Dataset
    test: datasets.Dataset
    fingerprint: str
    stats: dict[str, Any]
    protocol: str = PROTOCOL

    def __repr__(self) -> str:
        return (
            f"Splits(task={self.task.name!r}, protocol={self.protocol!r}, train={self.train.num_rows}, "
            f"dev={self.dev.num_rows}, test={self.test.num_rows}, fingerprint={self.fingerprint!r})"
        )


# --------------------------------------------------------------------------- fingerprint


def _update_int64(h: Any, values: pa.ChunkedArray | pa.Array) -> None:
    h.update(np.ascontiguousarray(values.to_numpy(), dtype="<i8").tobytes())


def _update_texts(h: Any, values: pa.ChunkedArray | pa.Array) -> None:
    encoded = [None if v is None else v.encode("utf-8") for v in values.to_pylist()]
    # The byte lengths (-1 for a null) make the concatenation unambiguous ("ab","c" vs "a","bc").
    lengths = np.fromiter((-1 if b is None else len(b) for b in encoded), dtype="<i8", count=len(encoded))
    h.update(lengths.tobytes())
    h.update(b"".join(b for b in encoded if b is not None))


def compute_fingerprint(
    task: TaskSpec, parts: Mapping[str, pa.Table | datasets.Dataset], protocol: str = PROTOCOL
) -> str:
    """Content hash of a task's splits: first 16 hex digits of a SHA-256.

    Hashed, in order: a format tag, ``protocol``, the task name, its label names and text
    fields; then for each split in ``parts`` (sorted by name): the split name, its row count,
    ``idx`` and ``label`` as little-endian int64, and each text field as the int64 UTF-8 byte
    lengths followed by the concatenated UTF-8 bytes. It therefore changes with any text,
    label, row selection or row order, and is the same in every process and on every machine.
    """
    h = hashlib.sha256()
    header = ["calibench-splits/1", protocol, task.name, "|".join(task.label_names), "|".join(task.text_fields)]
    h.update("\x00".join(header).encode("utf-8"))
    for name in sorted(parts):
        part = parts[name]
        table = table_of(part) if isinstance(part, datasets.Dataset) else part
        h.update(f"\x00{name}\x00".encode())
        h.update(np.int64(table.num_rows).astype("<i8").tobytes())
        _update_int64(h, table.column("idx"))
        _update_int64(h, table.column("label"))
        for field in task.text_fields:
            _update_texts(h, table.column(field))
    return h.hexdigest()[:FINGERPRINT_CHARS]


# --------------------------------------------------------------------------- protocol steps


def normalize_texts(task: TaskSpec, table: pa.Table) -> pa.Table:
    """Apply ``task.text_replacements`` (literal, in order) to every text field of ``table``."""
    if not task.text_replacements:
        return table
    for field in task.text_fields:
        col = table.column(field)
        for old, new in task.text_replacements:
            col = pc.replace_substring(col, pattern=old, replacement=new)
        table = table.set_column(table.schema.get_field_index(field), field, col)
    return table


def dev_test_halves(official_dev: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The first ``n // 2`` rows and the last ``n // 2`` rows (odd ``n``: the middle row in neither)."""
    half = official_dev.num_rows // 2
    return official_dev.slice(0, half), official_dev.slice(official_dev.num_rows - half)


def drop_empty(task: TaskSpec, table: pa.Table) -> tuple[pa.Table, int]:
    """Drop rows where any text field is None or whitespace only; return the rest and the count."""
    keep = None
    for field in task.text_fields:
        col = table.column(field)
        nonempty = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(col)), 0)
        nonempty = pc.fill_null(nonempty, False)
        keep = nonempty if keep is None else pc.and_(keep, nonempty)
    n_kept = pc.sum(keep).as_py() or 0
    if n_kept == table.num_rows:
        return table, 0
    return table.filter(keep), table.num_rows - n_kept


_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a fixed bijective 64-bit mix (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        z = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return z ^ (z >> np.uint64(31))


def subsample_positions(idx: np.ndarray, size: int, data_seed: int) -> np.ndarray:
    """Sorted positions of the ``size`` rows with the smallest hash of ``(data_seed, idx)``.

    Keyed on ``idx`` rather than position, so dropping one row does not reshuffle the others;
    ties (only possible for repeated idx) fall back to file position.
    """
    seed_key = _splitmix64(np.array([data_seed], dtype=np.uint64))
    keys = _splitmix64(idx.astype(np.int64).view(np.uint64) ^ seed_key)
    order = np.lexsort((np.arange(len(idx)), keys))
    return np.sort(order[:size])


def _check_train_size(train_size: int | None) -> int | None:
    if train_size is None:
        return None
    if isinstance(train_size, bool) or not isinstance(train_size, (int, np.integer)) or train_size < 1:
        raise ValueError(f"train_size must be a positive integer or None (all rows), got {train_size!r}")
    return int(train_size)


def _check_seed(data_seed: int) -> int:
    if isinstance(data_seed, bool) or not isinstance(data_seed, (int, np.integer)) or not 0 <= data_seed < 2**63:
        raise ValueError(f"data_seed must be an integer in [0, 2**63), got {data_seed!r}")
    return int(data_seed)


def _label_counts(task: TaskSpec, table: pa.Table) -> dict[str, int]:
    counts = np.bincount(table.column("label").to_numpy(), minlength=len(task.label_names))
    return {name: int(n) for name, n in zip(task.label_names, counts)}


def _words_mean(task: TaskSpec, table: pa.Table) -> float:
    """Mean whitespace words per example, over all text fields: a tokenizer-free length
    measure, so a plan can scale measured costs from one task to another (cf.
    :mod:`calibench.execution.costs`) without loading any tokenizer."""
    if table.num_rows == 0:
        return 0.0
    total = sum(
        pc.sum(pc.list_value_length(pc.utf8_split_whitespace(pc.utf8_trim_whitespace(table.column(f))))).as_py() or 0
        for f in task.text_fields
    )
    return round(total / table.num_rows, 3)


def split_notes(stats: dict[str, Any]) -> list[str]:
    """What a run says before it trains: rows dropped from a task, and a training set of one class."""
    task, notes = stats["task"], []
    empty = stats.get("dropped_empty", {})
    if any(empty.values()):
        notes.append(
            f"{task}: dropped {empty.get('train', 0)} training and {empty.get('official_dev', 0)} "
            "official-dev row(s) with an empty text field"
        )
    bad = stats.get("dropped_malformed", {})
    if any(bad.values()):
        notes.append(
            f"{task}: dropped {bad.get('train', 0)} training and {bad.get('official_dev', 0)} official-dev "
            "TSV row(s) with too few fields or an empty label"
        )
    counts = {k: v for k, v in stats.get("train_label_counts", {}).items() if v}
    if len(counts) == 1:
        ((name, n),) = counts.items()
        notes.append(
            f"warning: {task}: every one of the {n} training examples has the label {name!r}; the classifier "
            "can only learn to predict it (use a larger --train-size, another --data-seed or --full-train)"
        )
    return notes


def prepare_splits(
    task: TaskSpec | str,
    data_dir: str | os.PathLike[str] | None = None,
    train_size: int | None = None,
    data_seed: int = 0,
) -> Splits:
    """Load ``task`` and apply the ``dev-halves-v2`` protocol (see the module docstring).

    ``train_size=None`` keeps the whole training set; a larger ``train_size`` than there are
    usable training rows is an error. ``data_dir`` is resolved as in
    :func:`calibench.tasks.loading.load_task`.
    """
    spec = get_task(task)
    size = _check_train_size(train_size)
    seed = _check_seed(data_seed)
    loaded = load_task(spec, data_dir)

    train, dropped_train = drop_empty(spec, normalize_texts(spec, table_of(loaded.train)))
    official_dev, dropped_dev = drop_empty(spec, normalize_texts(spec, table_of(loaded.dev)))
    n_train_full = train.num_rows
    if n_train_full == 0:
        raise DataError(
            f"{spec.name}: no usable training rows in {loaded.train_file or loaded.source} "
            f"({dropped_train} had an empty text field)"
        )
    if size is not None and size > n_train_full:
        raise DataError(
            f"train_size={size} exceeds the {n_train_full} usable training examples of {spec.name} "
            f"(after dropping {dropped_train} with an empty text field); use --train-size {n_train_full} or less, "
            "or --full-train for all of them"
        )
    if size is not None and size < n_train_full:
        positions = subsample_positions(train.column("idx").to_numpy(), size, seed)
        train = train.take(pa.array(positions))
    if official_dev.num_rows < 2:
        raise DataError(
            f"{spec.name}: the official dev split {spec.dev_split_name!r} has {official_dev.num_rows} usable "
            "rows; at least 2 are needed to split it into dev and test halves"
        )
    dev, test = dev_test_halves(official_dev)
    tables = {"train": train, "dev": dev, "test": test}

    stats: dict[str, Any] = {
        "task": spec.name,
        "source": str(loaded.source),
        "source_origin": loaded.source.origin,
        "dev_split": spec.dev_split_name,
        "n_train_full": n_train_full,
        "n_train": tables["train"].num_rows,
        "n_official_dev": official_dev.num_rows,
        "n_dev": tables["dev"].num_rows,
        "n_test": tables["test"].num_rows,
        "n_unused_middle": official_dev.num_rows - dev.num_rows - test.num_rows,
        "dropped_empty": {"train": dropped_train, "official_dev": dropped_dev},
        "dropped_malformed": dict(loaded.dropped_malformed),
        "train_label_counts": _label_counts(spec, tables["train"]),
        "words_mean": {name: _words_mean(spec, t) for name, t in tables.items()},
        "data_seed": seed,
        "train_size": size,
    }
    return Splits(
        task=spec,
        train=to_dataset(spec, tables["train"], "train"),
        dev=to_dataset(spec, tables["dev"], "dev"),
        test=to_dataset(spec, tables["test"], "test"),
        fingerprint=compute_fingerprint(spec, tables),
        stats=stats,
    )
