"""A small finished store, made once per module by the real CLI on a tiny model, copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _tiny_store import run_args

from calibench.cli import main


@pytest.fixture(scope="module")
def finished_store(tmp_path_factory: pytest.TempPathFactory, tiny_bert: str, glue_dir: str) -> Path:
    store = tmp_path_factory.mktemp("finished") / "runs"
    assert main(run_args(store, tiny_bert, glue_dir)) == 0
    return store


@pytest.fixture
def store_copy(finished_store: Path, tmp_path: Path) -> Path:
    """A private copy of the finished store (its database closed and checkpointed)."""
    dst = tmp_path / "runs"
    shutil.copytree(finished_store, dst)
    return dst
