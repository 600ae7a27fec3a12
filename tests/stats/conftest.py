"""Synthetic tasks with a known truth for the statistics tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


def synthetic_task(rng: np.random.Generator, n: int, n_classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """True-class logits (n, C) and labels drawn from their softmax, so softmax(logits) is calibrated."""
    logits = rng.normal(size=(n, n_classes)) * 1.5
    true = np.exp(logits - logits.max(axis=1, keepdims=True))
    true /= true.sum(axis=1, keepdims=True)
    labels = (rng.random((n, 1)) > np.cumsum(true, axis=1)).sum(axis=1)
    return logits, labels


def model_probs(
    rng: np.random.Generator, logits: np.ndarray, *, temperature: float = 1.0, seed_noise: float = 0.3
) -> np.ndarray:
    """One "training run": the true logits sharpened by 1 / temperature plus per-run noise.

    temperature < 1 gives an over-confident (miscalibrated) model; seed_noise is the
    run-to-run variation.
    """
    z = logits / temperature + rng.normal(scale=seed_noise, size=logits.shape)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


@pytest.fixture(scope="session")
def make_task() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    return synthetic_task


@pytest.fixture(scope="session")
def make_model() -> Callable[..., np.ndarray]:
    return model_probs
