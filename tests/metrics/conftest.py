"""Synthetic predictions for the metric tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


def softmax_predictions(
    rng: np.random.Generator, n: int, n_classes: int, *, scale: float = 2.0, extremes: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Random softmax probabilities and labels drawn from them (roughly calibrated).

    ``extremes`` is the fraction of rows replaced by exact one-hot rows, so that some
    probabilities are exactly 0 and exactly 1 (the edge cases of every binning convention).
    """
    logits = rng.normal(size=(n, n_classes)) * scale
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(n_classes, p=row) for row in probs])
    n_extreme = round(extremes * n)
    if n_extreme:
        rows = rng.choice(n, n_extreme, replace=False)
        probs[rows] = np.eye(n_classes)[rng.integers(0, n_classes, n_extreme)]
    return probs, labels


@pytest.fixture(scope="session")
def make_predictions() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    return softmax_predictions
