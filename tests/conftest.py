"""Fixtures shared across the test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_glue_dir() -> Path:
    """The machine's local GLUE copy (nyu-mll/glue parquet layout) beside the repository.

    Tests that read real GLUE rows use it; on machines without it they are skipped, not failed.
    """
    path = (REPO_ROOT / ".." / "shared" / "glue").resolve()
    if not (path / "rte" / "validation.parquet").is_file():
        pytest.skip(f"no local GLUE copy at {path} (expected the nyu-mll/glue parquet layout there)")
    return path
