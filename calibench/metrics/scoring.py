"""Proper scoring rules: negative log-likelihood and the Brier score.

Both are means of a per-example loss, so the batched form (resample indices ``idx`` (B, m),
``None`` = the sample itself) is a gather-and-mean, and the single-sample value is its B = 1
case.
"""

from __future__ import annotations

import numpy as np

from calibench.metrics.inputs import check_index, check_inputs, resampled_mean

#: NLL clips the probability of the true class from below at this value, so a model that
#: puts exactly 0 on the label scores -log(1e-12) ~ 27.63 for that example instead of inf
#: (one such example would otherwise make every mean and every bootstrap interval infinite).
NLL_EPS = 1e-12


def nll_per_example(probs: np.ndarray, labels: np.ndarray, *, eps: float = NLL_EPS) -> np.ndarray:
    """``-log(max(p[i, y_i], eps))`` for each example -> (n,)."""
    if not 0 < eps < 1:
        raise ValueError(f"eps must lie in (0, 1), got {eps}")
    p, y = check_inputs(probs, labels)
    return -np.log(np.maximum(p[np.arange(len(y)), y], eps))


def nll_batched(probs: np.ndarray, labels: np.ndarray, idx: np.ndarray | None, *, eps: float = NLL_EPS) -> np.ndarray:
    """Mean NLL on each resample row of ``idx`` -> (B,)."""
    losses = nll_per_example(probs, labels, eps=eps)
    return resampled_mean(losses, check_index(idx, len(losses)))


def nll(probs: np.ndarray, labels: np.ndarray, *, eps: float = NLL_EPS) -> float:
    """Mean negative log-likelihood of the labels (natural log, true-class probability clipped at eps)."""
    return float(nll_batched(probs, labels, None, eps=eps)[0])


def brier_per_example(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``sum_c (p[i, c] - 1[y_i = c])^2`` for each example -> (n,), in [0, 2]."""
    p, y = check_inputs(probs, labels)
    diff = p.copy()
    diff[np.arange(len(y)), y] -= 1.0
    return (diff**2).sum(axis=1)


def brier_batched(probs: np.ndarray, labels: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    """Mean multiclass Brier score on each resample row of ``idx`` -> (B,)."""
    losses = brier_per_example(probs, labels)
    return resampled_mean(losses, check_index(idx, len(losses)))


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    """Multiclass Brier score: mean over examples of the squared error summed over classes.

    This is Brier's (1950) original sum form, range [0, 2]. For a binary task it is twice the
    common ``mean((p_1 - y)^2)`` form (sklearn's ``brier_score_loss``): compare like with like.
    """
    return float(brier_batched(probs, labels, None)[0])
