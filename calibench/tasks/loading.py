"""Load a task's training split and official dev split as ``datasets.Dataset``.

Three sources, tried in a fixed order, and the one used is always reported:

1. a local copy in the parquet layout of ``nyu-mll/glue`` (``<dir>/<config>/<split>.parquet``,
   or the hub snapshot's sharded ``<split>-00000-of-00001.parquet``);
2. a local copy in the original GLUE TSV layout (``<dir>/<TaskDir>/train.tsv``, ``dev.tsv``...);
3. the Hugging Face hub (``datasets.load_dataset("nyu-mll/glue", config)``).

With ``data_dir=None`` the directory is ``$CALIBENCH_DATA_DIR`` if set (used strictly: a
missing task there is an error, never a silent fallback), else the first of ``./glue`` and
``../shared/glue`` (relative to the current directory) that holds the task, else the hub.

Whatever the source, rows come out identical: columns ``<text fields>, label, idx``, labels
in the ``nyu-mll/glue`` encoding (checked to be in range), and ``idx`` as the hub defines it
(the data-row number in the original file). TSV rows with too few fields or an empty label
are dropped and counted, as ``nyu-mll/glue`` drops them. Anything else wrong with the data
raises :class:`~calibench.tasks.errors.DataError` with a message saying where and what to do.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datasets.table import InMemoryTable

from calibench.tasks.errors import DataError
from calibench.tasks.lookup import get_task
from calibench.tasks.spec import DerivedSplits, TaskSpec

ENV_VAR = "CALIBENCH_DATA_DIR"
# (label used in messages, path relative to the current directory)
IMPLICIT_DIRS: tuple[tuple[str, str], ...] = (
    ("./glue", "glue"),
    ("../shared/glue", os.path.join("..", "shared", "glue")),
)
SourceKind = Literal["parquet", "tsv", "hub", "files"]
_CACHE_SIZE = 4  # whole tasks (train + dev tables); MNLI/QQP are ~100 MB each


@dataclass(frozen=True)
class DataSource:
    """Where a task's rows came from, and why that source was chosen."""

    kind: SourceKind
    location: str  # absolute directory for local copies, the dataset id for the hub
    origin: str  # "data_dir argument", "$CALIBENCH_DATA_DIR", "./glue", "../shared/glue" or "hub"

    def __str__(self) -> str:
        return f"{self.kind}:{self.location}"


@dataclass(frozen=True, eq=False)
class LoadedTask:
    """A task's training split and complete official dev split, before the split protocol."""

    task: TaskSpec
    train: datasets.Dataset
    dev: datasets.Dataset  # the official dev split (``task.dev_split_name``), in file order
    source: DataSource
    # TSV rows dropped for too few fields or an empty label: {"train": n, "official_dev": n}.
    dropped_malformed: dict[str, int]
    train_file: str = ""  # the file(s) the training split was read from ("" for the hub)


@dataclass(frozen=True)
class _LocalCopy:
    kind: Literal["parquet", "tsv"]
    task_dir: Path


def features_for(task: TaskSpec) -> datasets.Features:
    """The ``datasets`` features every loaded split has: texts, ``ClassLabel`` label, int64 idx."""
    feats: dict[str, datasets.features.features.FeatureType] = {f: datasets.Value("string") for f in task.text_fields}
    feats["label"] = datasets.ClassLabel(names=list(task.label_names))
    feats["idx"] = datasets.Value("int64")
    return datasets.Features(feats)


def _schema(task: TaskSpec) -> pa.Schema:
    return pa.schema(
        [*(pa.field(f, pa.string()) for f in task.text_fields), ("label", pa.int64()), ("idx", pa.int64())]
    )


# --------------------------------------------------------------------------- resolution


def _ways_out(task: TaskSpec) -> str:
    tsv_train = task.tsv.file_for(task.train_split_name) or "train.tsv"
    return (
        "Ways out: pass --data-dir DIR (data_dir=DIR in Python) pointing at a copy in the "
        f"nyu-mll/glue parquet layout (DIR/{task.hf_config}/{task.train_split_name}.parquet, "
        f"DIR/{task.hf_config}/{task.dev_split_name}.parquet) or in the original GLUE TSV layout "
        f"(DIR/{task.tsv.dir_name}/{tsv_train}); or set {ENV_VAR}=DIR; or leave both unset on a "
        f"machine with Hugging Face hub access, which downloads {task.hf_path} (config {task.hf_config!r})."
    )


def _find_local(task: TaskSpec, root: Path) -> _LocalCopy | None:
    """The task's folder under ``root`` and its layout, or None when ``root`` lacks the task."""
    parquet_dir = root / task.hf_config
    if parquet_dir.is_dir() and any(parquet_dir.glob("*.parquet")):
        return _LocalCopy("parquet", parquet_dir)
    tsv_dir = root / task.tsv.dir_name
    if tsv_dir.is_dir() and any(p.suffix in (".tsv", ".txt") for p in tsv_dir.iterdir()):
        return _LocalCopy("tsv", tsv_dir)
    return None


def _explicit(task: TaskSpec, root: Path, origin: str) -> tuple[DataSource, _LocalCopy]:
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise DataError(f"data directory {root} (from {origin}) {what}. {_ways_out(task)}")
    local = _find_local(task, root)
    if local is None:
        raise DataError(
            f"task {task.name!r} is not in the data directory {root.resolve()} (from {origin}): looked for "
            f"{root / task.hf_config}/*.parquet (nyu-mll/glue layout) and "
            f"{root / task.tsv.dir_name}/*.tsv (GLUE TSV layout). {_ways_out(task)}"
        )
    return DataSource(local.kind, str(root.resolve()), origin), local


def _resolve(
    task: TaskSpec, data_dir: str | os.PathLike[str] | None
) -> tuple[DataSource, _LocalCopy | None, list[str]]:
    """Pick the source; also return what was looked at, for the hub's error message."""
    if data_dir is not None:
        return (*_explicit(task, Path(data_dir), "data_dir argument"), [])
    env = os.environ.get(ENV_VAR)
    if env:
        return (*_explicit(task, Path(env), f"${ENV_VAR}"), [])
    looked: list[str] = [f"${ENV_VAR} (unset)"]
    for label, rel in IMPLICIT_DIRS:
        root = Path(rel)
        if not root.is_dir():
            looked.append(f"{label} = {root.resolve()} (absent)")
            continue
        local = _find_local(task, root)
        if local is not None:
            return DataSource(local.kind, str(root.resolve()), label), local, looked
        looked.append(f"{label} = {root.resolve()} (no {task.hf_config}/ or {task.tsv.dir_name}/ in it)")
    return DataSource("hub", task.hf_path, "hub"), None, looked


def resolve_source(task: str | TaskSpec, data_dir: str | os.PathLike[str] | None = None) -> DataSource:
    """The source :func:`load_task` would use, without reading any rows."""
    return _resolve(get_task(task), data_dir)[0]


# --------------------------------------------------------------------------- canonical rows


def _encode_label(task: TaskSpec, value: str, where: str, row: int) -> int:
    """A label as written in a file (a class name or an integer) -> its nyu-mll/glue id."""
    try:
        return task.label_names.index(value)
    except ValueError:
        pass
    try:
        return int(value)
    except ValueError:
        raise DataError(
            f"{where}, data row {row}: label {value!r} is neither one of {list(task.label_names)} nor an integer"
        ) from None


def _check_labels(task: TaskSpec, table: pa.Table, where: str) -> None:
    """Reject any label outside ``0 .. num_labels-1`` (including -1, GLUE's hidden label)."""
    labels = table.column("label")
    bad = pc.fill_null(pc.or_(pc.less(labels, 0), pc.greater_equal(labels, task.num_labels)), True)
    n_bad = pc.sum(bad).as_py() or 0
    if not n_bad:
        return
    bad_labels = pc.filter(labels, bad)
    bad_idx = pc.filter(table.column("idx"), bad)
    examples = ", ".join(
        f"idx {i}: label {v}" for i, v in zip(bad_idx[:3].to_pylist(), bad_labels[:3].to_pylist(), strict=True)
    )
    msg = f"{where}: {n_bad} of {table.num_rows} rows have a label outside 0..{task.num_labels - 1} (e.g. {examples})."
    if pc.all(pc.equal(bad_labels, -1)).as_py():
        msg += (
            " -1 marks a hidden label, as in GLUE's test splits: this split is not labelled, so it "
            "cannot be used for training or evaluation. Check that the file is the right split."
        )
    else:
        msg += (
            f" {task.name} has {task.num_labels} classes {list(task.label_names)}: the file may belong "
            "to another task or use another label encoding than nyu-mll/glue."
        )
    raise DataError(msg)


def canonical_table(task: TaskSpec, table: pa.Table, where: str) -> pa.Table:
    """Check columns and labels of a parquet/hub/file table and return it in the common schema.

    The one place every source's rows are checked (GLUE copies, custom tasks' files, shifted
    evaluation sets): missing columns, non-text fields, labels outside the task's classes.
    """
    required = [*task.text_fields, "label"]
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise DataError(
            f"{where}: missing column(s) {missing}; the columns found are {table.column_names}. "
            f"{task.name} needs {required} (and optionally 'idx'), as in nyu-mll/glue config {task.hf_config!r}."
        )
    columns: dict[str, pa.ChunkedArray | pa.Array] = {}
    for name in task.text_fields:
        col = table.column(name)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_null(col.type)):
            raise DataError(f"{where}: column {name!r} holds {col.type}, expected text (string)")
        columns[name] = col.cast(pa.string())
    label = table.column("label")
    if pa.types.is_integer(label.type) or pa.types.is_null(label.type):  # all-null: reported below
        columns["label"] = label.cast(pa.int64())
    elif pa.types.is_string(label.type) or pa.types.is_large_string(label.type):
        values = label.to_pylist()
        columns["label"] = pa.array(
            [None if v is None else _encode_label(task, v, where, i) for i, v in enumerate(values)], pa.int64()
        )
    else:
        raise DataError(
            f"{where}: column 'label' holds {label.type}; {task.name} expects integer class ids "
            f"0..{task.num_labels - 1} (a float label suggests a regression task such as STS-B)"
        )
    if "idx" in table.column_names:
        idx = table.column("idx")
        if not pa.types.is_integer(idx.type) or idx.null_count:
            raise DataError(
                f"{where}: column 'idx' must hold integers without nulls (found {idx.type}, {idx.null_count} nulls)"
            )
        columns["idx"] = idx.cast(pa.int64())
    else:  # the hub's definition: the row number in the original file
        columns["idx"] = pa.array(np.arange(table.num_rows, dtype=np.int64))
    out = pa.Table.from_pydict(columns, schema=_schema(task))
    _check_labels(task, out, where)
    return out


_canonical = canonical_table


# --------------------------------------------------------------------------- parquet


def _parquet_files(task_dir: Path, split: str) -> list[Path]:
    exact = task_dir / f"{split}.parquet"
    if exact.is_file():
        return [exact]
    return sorted(task_dir.glob(f"{split}-*.parquet"))  # hub snapshot: train-00000-of-00002.parquet


def _present_splits(task_dir: Path, suffixes: Sequence[str]) -> list[str]:
    return sorted({p.name.split(".")[0].split("-")[0] for p in task_dir.iterdir() if p.suffix in suffixes})


def _missing_split(task: TaskSpec, task_dir: Path, split: str, looked_for: str, found: list[str]) -> DataError:
    role = "training" if split == task.train_split_name else "official dev"
    return DataError(
        f"{task.name}: the {role} split {split!r} is absent from the local copy at {task_dir} "
        f"(looked for {looked_for}; found: {', '.join(found) or 'nothing'}). To get it, on a machine "
        f"with Hugging Face hub access run `datasets.load_dataset({task.hf_path!r}, {task.hf_config!r})"
        f"[{split!r}].to_parquet('{task_dir / (split + '.parquet')}')` and copy the file here, or point "
        f"--data-dir / {ENV_VAR} at a complete copy."
    )


def _read_parquet_split(task: TaskSpec, task_dir: Path, split: str) -> pa.Table:
    files = _parquet_files(task_dir, split)
    if not files:
        found = _present_splits(task_dir, (".parquet",))
        raise _missing_split(task, task_dir, split, f"{split}.parquet or {split}-*.parquet", found)
    tables = []
    for path in files:
        try:
            tables.append(pq.read_table(path))
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise DataError(
                f"cannot read {path} as parquet ({type(exc).__name__}: {exc}); the file is damaged or not "
                "parquet. Replace it with a fresh copy (its checksum may be listed in the copy's SHA256SUMS)."
            ) from exc
    try:
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    except pa.ArrowInvalid as exc:
        raise DataError(
            f"the parquet shards of {task.name} {split} in {task_dir} have different schemas: {exc}"
        ) from exc
    where = f"{task.name} {split} ({files[0] if len(files) == 1 else f'{task_dir}/{split}-*.parquet'})"
    return _canonical(task, table, where)


# --------------------------------------------------------------------------- GLUE TSV


def _tsv_rows(path: Path) -> Iterator[list[str]]:
    """Rows of a GLUE TSV file: tab-separated, quotes are plain characters, blank lines skipped."""
    # utf-8-sig strips the byte-order mark the original MRPC files start with.
    with open(path, encoding="utf-8-sig", newline="") as f:
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row:
                yield row


def _positions(header: list[str], columns: Sequence[str | int], where: str) -> list[int]:
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{where}: missing column(s) {missing} in the header row; the columns found are {header}")
    return [header.index(c) for c in columns]  # type: ignore[arg-type]


def _parse_tsv(
    task: TaskSpec, path: Path, where: str, *, header: bool, id_columns: Sequence[str] = ()
) -> tuple[pa.Table, list[tuple[str, ...]], list[tuple[str, ...] | None]]:
    """Parse one TSV file into the common schema.

    Returns the table, the ``id_columns`` values of each kept row, and for each malformed
    (dropped) row its ``id_columns`` values when readable, else None.
    """
    layout = task.tsv
    wanted: list[str | int] = [*layout.text_columns, layout.label_column, *id_columns]
    rows = _tsv_rows(path)
    if header:
        first = next(rows, None)
        if first is None:
            raise DataError(f"{where}: the file is empty (a header row was expected)")
        pos = _positions(first, wanted, where)
    else:
        if not all(isinstance(c, int) for c in wanted):
            raise DataError(f"{where}: a header-less layout must give column positions, not names")
        pos = [int(c) for c in wanted]
    n_text = len(layout.text_columns)
    text_pos, label_pos, id_pos = pos[:n_text], pos[n_text], pos[n_text + 1 :]
    width = max(pos) + 1
    texts: list[list[str]] = [[] for _ in text_pos]
    labels: list[int] = []
    idx: list[int] = []
    ids: list[tuple[str, ...]] = []
    malformed: list[tuple[str, ...] | None] = []
    for n, row in enumerate(rows):
        if len(row) < width or row[label_pos] == "":
            readable = bool(id_pos) and len(row) > max(id_pos)
            malformed.append(tuple(row[p] for p in id_pos) if readable else None)
            continue
        for column, p in zip(texts, text_pos, strict=True):
            column.append(row[p])
        labels.append(_encode_label(task, row[label_pos], where, n))
        idx.append(n)
        if id_pos:
            ids.append(tuple(row[p] for p in id_pos))
    data: dict[str, list[str] | list[int]] = dict(zip(task.text_fields, texts, strict=True))
    data["label"], data["idx"] = labels, idx
    table = pa.Table.from_pydict(data, schema=_schema(task))
    return table, ids, malformed


def _read_tsv_derived(task: TaskSpec, task_dir: Path, derived: DerivedSplits) -> dict[str, tuple[pa.Table, int]]:
    """Split one file into two by an id list (MRPC), keeping the source file's row numbers as idx."""
    k = len(derived.id_columns)
    listed = {tuple(row[:k]) for row in _tsv_rows(task_dir / derived.ids_file) if len(row) >= k}
    source = task_dir / derived.source_file
    table, ids, malformed = _parse_tsv(
        task, source, f"{task.name} ({source})", header=True, id_columns=derived.id_columns
    )
    in_list = pa.array([i in listed for i in ids], pa.bool_())
    n_bad_listed = sum(1 for i in malformed if i is not None and i in listed)
    out = {
        derived.listed_split: (table.filter(in_list), n_bad_listed),
        derived.unlisted_split: (table.filter(pc.invert(in_list)), len(malformed) - n_bad_listed),
    }
    for split, (part, _) in out.items():
        listed_or_not = "in" if split == derived.listed_split else "not in"
        _check_labels(task, part, f"{task.name} {split} ({source} rows {listed_or_not} {derived.ids_file})")
    return out


def _read_tsv_split(task: TaskSpec, task_dir: Path, split: str) -> tuple[pa.Table, int]:
    name = task.tsv.file_for(split)
    path = task_dir / name if name else None
    if path is None or not path.is_file():
        found = sorted(p.name for p in task_dir.iterdir() if p.suffix in (".tsv", ".txt"))
        raise _missing_split(task, task_dir, split, name or f"a file for {split!r}", found)
    where = f"{task.name} {split} ({path})"
    table, _, malformed = _parse_tsv(task, path, where, header=task.tsv.header)
    _check_labels(task, table, where)
    return table, len(malformed)


# --------------------------------------------------------------------------- reading


def _stamp(task_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, mtime and size of every file in the task folder: the cache key's freshness part."""
    stats = ((p.name, p.stat()) for p in sorted(task_dir.iterdir()) if p.is_file())
    return tuple((name, st.st_mtime_ns, st.st_size) for name, st in stats)


@lru_cache(maxsize=_CACHE_SIZE)
def _read_local(
    task: TaskSpec, kind: str, task_dir: str, stamp: tuple[tuple[str, int, int], ...]
) -> dict[str, tuple[pa.Table, int]]:
    """Train and official-dev tables (with malformed-row counts) of a local copy, cached.

    Keyed on the folder's file stamps, so an edited file is re-read. Arrow tables are
    immutable, so sharing them between callers is safe; :func:`clear_cache` frees them.
    """
    root = Path(task_dir)
    splits = (task.train_split_name, task.dev_split_name)
    if kind == "parquet":
        return {s: (_read_parquet_split(task, root, s), 0) for s in splits}
    derived = task.tsv.derived
    if derived is not None and (root / derived.source_file).is_file() and (root / derived.ids_file).is_file():
        parts = _read_tsv_derived(task, root, derived)
        return {s: parts[s] for s in splits}
    return {s: _read_tsv_split(task, root, s) for s in splits}


def clear_cache() -> None:
    """Drop the cached tables of local copies."""
    _read_local.cache_clear()


def _read_hub(task: TaskSpec, looked: list[str]) -> dict[str, tuple[pa.Table, int]]:
    try:
        loaded = datasets.load_dataset(task.hf_path, task.hf_config)
    except Exception as exc:  # offline, unknown config, auth, ...: all end the same way for the user
        before = f" No local copy was found first (looked at: {'; '.join(looked)})." if looked else ""
        raise DataError(
            f"could not load {task.hf_path} (config {task.hf_config!r}) from the Hugging Face hub: "
            f"{type(exc).__name__}: {exc}.{before} If this machine is offline, copy the data to it and use "
            "a local directory (or set HF_HUB_OFFLINE=1 to use the Hugging Face cache without network "
            f"retries). {_ways_out(task)}"
        ) from exc
    wanted = (task.train_split_name, task.dev_split_name)
    missing = [s for s in wanted if s not in loaded]
    if missing:
        raise DataError(
            f"{task.hf_path} (config {task.hf_config!r}) on the hub has no split {missing[0]!r}; it has {list(loaded)}"
        )
    out: dict[str, tuple[pa.Table, int]] = {}
    for split in wanted:
        table = loaded[split].with_format("arrow")[:]
        out[split] = (_canonical(task, table, f"{task.name} {split} (hub {task.hf_path}/{task.hf_config})"), 0)
    return out


def to_dataset(task: TaskSpec, table: pa.Table, split: str) -> datasets.Dataset:
    """Wrap a table in the common schema as an in-memory ``datasets.Dataset``."""
    info = datasets.DatasetInfo(features=features_for(task))
    return datasets.Dataset(InMemoryTable(table), info=info, split=datasets.NamedSplit(split))


def table_of(ds: datasets.Dataset) -> pa.Table:
    """The rows of ``ds`` as an Arrow table (honouring any ``select``/``filter`` indices)."""
    return ds.with_format("arrow")[:]


def load_task(task: str | TaskSpec, data_dir: str | os.PathLike[str] | None = None) -> LoadedTask:
    """Load ``task``'s training split and complete official dev split from the resolved source."""
    spec = get_task(task)
    if spec.source is not None:
        from calibench.tasks.custom import load_custom_task

        return load_custom_task(spec)
    source, local, looked = _resolve(spec, data_dir)
    if local is None:
        parts = _read_hub(spec, looked)
    else:
        parts = _read_local(spec, local.kind, str(local.task_dir.resolve()), _stamp(local.task_dir))
    (train, bad_train), (dev, bad_dev) = parts[spec.train_split_name], parts[spec.dev_split_name]
    return LoadedTask(
        task=spec,
        train=to_dataset(spec, train, spec.train_split_name),
        dev=to_dataset(spec, dev, spec.dev_split_name),
        source=source,
        dropped_malformed={"train": bad_train, "official_dev": bad_dev},
        train_file="" if local is None else _split_file(spec, local, spec.train_split_name),
    )


def _split_file(task: TaskSpec, local: _LocalCopy, split: str) -> str:
    """The file a local split is read from, for messages about its rows."""
    root = local.task_dir
    if local.kind == "parquet":
        files = _parquet_files(root, split)
        return str(files[0]) if len(files) == 1 else f"{root}/{split}-*.parquet"
    derived = task.tsv.derived
    if derived is not None and (root / derived.source_file).is_file() and (root / derived.ids_file).is_file():
        return str(root / derived.source_file)
    return str(root / (task.tsv.file_for(split) or split))


def load_split(
    task: str | TaskSpec, split: str, data_dir: str | os.PathLike[str] | None = None
) -> tuple[pa.Table, DataSource]:
    """One split of ``task`` (e.g. QNLI's ``validation`` where its training split is absent),
    checked and in the common schema, from the source :func:`load_task` would use."""
    spec = get_task(task)
    if spec.source is not None:
        from calibench.tasks.custom import load_custom_split

        return load_custom_split(spec, split)
    source, local, looked = _resolve(spec, data_dir)
    if local is None:
        try:
            ds = datasets.load_dataset(spec.hf_path, spec.hf_config, split=split)
        except Exception as exc:  # offline, unknown split, auth, ...
            before = f" No local copy was found first (looked at: {'; '.join(looked)})." if looked else ""
            raise DataError(
                f"could not load {spec.hf_path} (config {spec.hf_config!r}) split {split!r} from the "
                f"Hugging Face hub: {type(exc).__name__}: {exc}.{before} {_ways_out(spec)}"
            ) from exc
        where = f"{spec.name} {split} (hub {spec.hf_path}/{spec.hf_config})"
        return canonical_table(spec, ds.with_format("arrow")[:], where), source
    if local.kind == "parquet":
        return _read_parquet_split(spec, local.task_dir, split), source
    if (
        spec.tsv is not None
        and spec.tsv.derived is not None
        and split in (spec.tsv.derived.listed_split, spec.tsv.derived.unlisted_split)
    ):
        derived = spec.tsv.derived
        if (local.task_dir / derived.source_file).is_file() and (local.task_dir / derived.ids_file).is_file():
            return _read_tsv_derived(spec, local.task_dir, derived)[split][0], source
    return _read_tsv_split(spec, local.task_dir, split)[0], source
