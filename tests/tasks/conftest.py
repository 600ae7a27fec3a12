"""Fixtures for the task layer: an isolated working directory and synthetic local copies."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory with no ./glue, no ../shared/glue and no $CALIBENCH_DATA_DIR."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("CALIBENCH_DATA_DIR", raising=False)
    return cwd


@pytest.fixture
def no_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries the Hugging Face hub."""
    import datasets

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"the hub must not be tried here (load_dataset{args})")

    monkeypatch.setattr(datasets, "load_dataset", refuse)


Rows = Mapping[str, Sequence[Any]]


def _table(rows: Rows) -> pa.Table:
    types = {"label": pa.int64(), "idx": pa.int32()}
    return pa.table({k: pa.array(list(v), types.get(k, pa.string())) for k, v in rows.items()})


@pytest.fixture
def write_parquet() -> Callable[..., Path]:
    """Write ``<root>/<config>/<split>.parquet`` files in the nyu-mll/glue layout; returns root."""

    def write(root: Path, config: str, splits: Mapping[str, Rows | pa.Table]) -> Path:
        folder = root / config
        folder.mkdir(parents=True, exist_ok=True)
        for split, rows in splits.items():
            table = rows if isinstance(rows, pa.Table) else _table(rows)
            pq.write_table(table, folder / f"{split}.parquet")
        return root

    return write


def _pair_rows(n: int, *, start: int = 0, num_labels: int = 2, tag: str = "") -> dict[str, list[Any]]:
    """``n`` distinct sentence pairs with cycling labels and idx ``start..start+n-1``."""
    ids = list(range(start, start + n))
    return {
        "sentence1": [f"premise {tag}{i}" for i in ids],
        "sentence2": [f"hypothesis {tag}{i}" for i in ids],
        "label": [i % num_labels for i in ids],
        "idx": ids,
    }


@pytest.fixture
def pair_rows() -> Callable[..., dict[str, list[Any]]]:
    """Factory for synthetic sentence-pair columns (see ``_pair_rows``)."""
    return _pair_rows


@pytest.fixture
def rte_copy(tmp_path: Path, write_parquet: Callable[..., Path]) -> Path:
    """A small synthetic RTE copy (40 train rows, 11 dev rows) in the parquet layout."""
    return write_parquet(tmp_path / "data", "rte", {"train": _pair_rows(40), "validation": _pair_rows(11, tag="d")})
