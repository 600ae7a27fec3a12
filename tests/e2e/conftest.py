import pytest


@pytest.fixture
def fast() -> list[str]:
    """A few optimisation steps on a small slice: exercises the whole pipeline in seconds."""
    return ["--tasks", "rte", "--train-size", "48", "--max-steps", "6", "--batch-size", "8", "--seeds", "1"]
