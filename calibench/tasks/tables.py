"""Rows from outside GLUE into a task's schema: read a local file, map its columns and labels.

One mapping serves two uses: a task defined on a user's own data (:mod:`calibench.tasks.custom`)
and an extra evaluation set read with another task's fields (:mod:`calibench.tasks.evalsets`).
Labels are matched by *name*, never by id (WNLI encodes entailment as 1, RTE as 0), and
the mapped table goes through :func:`calibench.tasks.loading.canonical_table`, the checks
every GLUE source gets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from calibench.tasks.errors import DataError
from calibench.tasks.loading import canonical_table
from calibench.tasks.spec import TaskSpec

FILE_FORMATS: dict[str, str] = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def read_table_file(path: str | Path) -> pa.Table:
    """A CSV (with a header row), JSON-lines or parquet file as an Arrow table, by its suffix."""
    p = Path(path)
    fmt = FILE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise DataError(f"{p}: unknown file type {p.suffix!r}; use one of {', '.join(FILE_FORMATS)}")
    if not p.is_file():
        raise DataError(f"{p}: no such file" + (" (it is a directory)" if p.exists() else ""))
    try:
        if fmt == "csv":
            import pyarrow.csv as pcsv

            return pcsv.read_csv(p)
        if fmt == "json":
            import pyarrow.json as pjson

            return pjson.read_json(p)
        import pyarrow.parquet as pq

        return pq.read_table(p)
    except (pa.ArrowException, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        what = {"csv": "CSV with a header row", "json": "JSON lines (one object per line)", "parquet": "parquet"}[fmt]
        raise DataError(f"cannot read {p} as {what}: {first}") from exc


def _label_ids(
    target: TaskSpec,
    values: pa.ChunkedArray | pa.Array,
    source_names: Sequence[str] | None,
    label_map: Mapping[str, str],
    where: str,
) -> pa.Array:
    """Source labels -> target ids, by name.

    ``label_map`` (source value as text -> target label name; a ``ClassLabel``'s names for a
    hub column) wins; else integer labels with
    ``source_names`` (a ClassLabel's names) go id -> name -> target id; else text labels are
    taken as target names and integers as target ids (checked by ``canonical_table``).
    """
    names = list(target.label_names)
    bad_targets = sorted({v for v in label_map.values() if v not in names})
    if bad_targets:
        raise DataError(
            f"{where}: labels={dict(label_map)} maps to {bad_targets}, which are not {target.name}'s "
            f"label names {names}"
        )
    py = values.to_pylist()
    is_int = pa.types.is_integer(values.type)
    if label_map and is_int and source_names is not None:  # a ClassLabel: the map speaks its names
        py = [None if v is None or not 0 <= v < len(source_names) else source_names[v] for v in py]
    if label_map:
        keys = {str(k): v for k, v in label_map.items()}
        unmapped = sorted({str(v) for v in py if v is not None and str(v) not in keys})
        if unmapped:
            raise DataError(
                f"{where}: label value(s) {unmapped[:5]} have no entry in labels={dict(label_map)}; "
                f"map every source label to one of {names}"
            )
        return pa.array([None if v is None else names.index(keys[str(v)]) for v in py], pa.int64())
    if is_int and source_names is not None:
        missing = [n for n in source_names if n not in names]
        if missing:
            raise DataError(
                f"{where}: label names do not match: the source has {list(source_names)}, {target.name} has "
                f"{names} ({missing} not among them); map them by name with labels=..., e.g. "
                f"labels={';'.join(f'{n}:{names[i % len(names)]}' for i, n in enumerate(source_names))}"
            )
        lookup = np.array([names.index(n) for n in source_names], dtype=np.int64)
        ids = np.array([-1 if v is None or not 0 <= v < len(lookup) else lookup[v] for v in py], dtype=np.int64)
        return pa.array(ids)
    return values  # text names or target ids: canonical_table encodes and checks them


def map_to_task(
    target: TaskSpec,
    table: pa.Table,
    *,
    text_columns: Sequence[str],
    label_column: str | None = "label",
    source_label_names: Sequence[str] | None = None,
    label_map: Mapping[str, str] | None = None,
    where: str,
) -> tuple[pa.Table, int]:
    """``table``'s rows in ``target``'s schema (text field ``i`` read from ``text_columns[i]``),
    and how many rows were dropped for having no gold label.

    ``label_column=None`` (an OOD set, whose labels are never used) gives every row label 0.
    An ``idx`` column is kept when present, else ``idx`` is the row number. Rows whose
    ``ClassLabel`` label is -1 (the hub's "no gold label", e.g. SNLI's) are dropped.
    """
    if len(text_columns) != len(target.text_fields):
        raise DataError(
            f"{where}: {target.name} has {len(target.text_fields)} text field(s) "
            f"{list(target.text_fields)} but {len(text_columns)} column(s) {list(text_columns)} were mapped"
        )
    wanted = [*text_columns, *([label_column] if label_column else [])]
    missing = [c for c in dict.fromkeys(wanted) if c not in table.column_names]
    if missing:
        raise DataError(
            f"{where}: missing column(s) {missing}; the columns found are {table.column_names}. "
            f"Map {target.name}'s fields {list(target.text_fields)} to existing columns (fields=...)"
        )
    if "idx" not in table.column_names:  # the row number in the source, before any row is dropped
        table = table.append_column("idx", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    no_gold = 0
    if label_column and source_label_names and pa.types.is_integer(table.column(label_column).type):
        keep = pc.fill_null(pc.not_equal(table.column(label_column), -1), True)
        no_gold = table.num_rows - int(pc.sum(keep).as_py() or 0)
        if no_gold:
            table = table.filter(keep)
    cols: dict[str, pa.ChunkedArray | pa.Array] = {f: table.column(c) for f, c in zip(target.text_fields, text_columns)}
    if label_column:
        cols["label"] = _label_ids(target, table.column(label_column), source_label_names, label_map or {}, where)
    else:
        cols["label"] = pa.array(np.zeros(table.num_rows, dtype=np.int64))
    cols["idx"] = table.column("idx")
    return canonical_table(target, pa.Table.from_pydict(cols), where), no_gold


def class_names(features: object, column: str) -> list[str] | None:
    """The names of a hub dataset's ``ClassLabel`` column, or None for plain values."""
    feature = getattr(features, "get", lambda _k: None)(column)
    names = getattr(feature, "names", None)
    return list(names) if names else None
