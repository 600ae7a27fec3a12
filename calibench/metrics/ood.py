"""Out-of-distribution (OOD) detection: score functions from a model's outputs, and the
detection metrics that compare in-distribution scores with OOD scores.

Convention, everywhere in this module: a HIGHER score means MORE in-distribution, and
in-distribution inputs are the positive class. So maximum softmax probability and negative
energy are used as they are; a raw energy (lower = more in-distribution) must be negated
first. Ties are handled as scikit-learn does (a tied in/out pair counts 1/2 to the AUROC;
precision and recall are evaluated at every distinct score value), and the tests check each
metric against ``sklearn.metrics``. Pure numpy/scipy: metrics never import torch.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from scipy.stats import rankdata

#: Keys of :func:`ood_metrics`, in report order.
OOD_METRIC_KEYS: tuple[str, ...] = ("auroc", "aupr_in", "aupr_out", "fpr95")

#: What each key of :func:`ood_metrics` measures (``calibench ls metrics`` lists them).
OOD_METRIC_DESCRIPTIONS: dict[str, str] = {
    "auroc": "AUROC of the score for in-distribution (positive) vs OOD inputs; ties count 1/2 (higher is better)",
    "aupr_in": "average precision, in-distribution inputs as the positive class (higher is better)",
    "aupr_out": "average precision, OOD inputs as the positive class, scores negated (higher is better)",
    "fpr95": "fraction of OOD inputs at or above the threshold keeping 95% of in-distribution inputs (lower is better)",
}

#: The score functions of this module (higher = more in-distribution), for listings.
OOD_SCORE_DESCRIPTIONS: dict[str, str] = {
    "msp": "maximum softmax probability (Hendrycks & Gimpel 2017)",
    "neg_energy": "negative free energy T * logsumexp(logits / T), T = 1 (Liu et al. 2020)",
}


def _check_scores(in_scores: np.ndarray, out_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both score arrays as finite, non-empty float64 (n,) vectors, or a ``ValueError`` naming the problem."""
    checked = []
    for name, s in (("in_scores", in_scores), ("out_scores", out_scores)):
        a = np.asarray(s)
        if a.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array of one score per input, got shape {a.shape}")
        if a.size == 0:
            raise ValueError(f"{name} is empty: OOD detection needs at least one input on each side")
        if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
            raise ValueError(f"{name} must hold real numbers, got dtype {a.dtype}")
        a = a.astype(np.float64, copy=False)
        if not np.isfinite(a).all():
            i = int(np.flatnonzero(~np.isfinite(a))[0])
            raise ValueError(f"{name} contains non-finite values (NaN or inf), first at index {i}: {a[i]}")
        checked.append(a)
    return checked[0], checked[1]


def ood_auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Area under the ROC curve of telling in-distribution (positive) from OOD inputs.

    The Mann-Whitney form P(s_in > s_out) + P(s_in = s_out) / 2, from mid-ranks: identical to
    ``sklearn.metrics.roc_auc_score`` including ties, in O(n log n).
    """
    s_in, s_out = _check_scores(in_scores, out_scores)
    n_in, n_out = len(s_in), len(s_out)
    ranks = rankdata(np.concatenate([s_in, s_out]), method="average")
    return float((ranks[:n_in].sum() - n_in * (n_in + 1) / 2.0) / (n_in * n_out))


def _average_precision(pos: np.ndarray, neg: np.ndarray) -> float:
    """Average precision with ``pos`` the positive class: sum_k (R_k - R_{k-1}) P_k over the
    distinct score thresholds in decreasing order (``sklearn.metrics.average_precision_score``)."""
    scores = np.concatenate([pos, neg])
    is_pos = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    order = np.argsort(-scores, kind="mergesort")
    scores, is_pos = scores[order], is_pos[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # one threshold per distinct score
    tp = np.cumsum(is_pos)[last_of_tie]
    predicted = last_of_tie + 1.0
    precision = tp / predicted
    recall_step = np.diff(np.r_[0.0, tp]) / len(pos)
    return float(np.sum(recall_step * precision))


def ood_aupr_in(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Area under the precision-recall curve (average precision), in-distribution as positive."""
    s_in, s_out = _check_scores(in_scores, out_scores)
    return _average_precision(s_in, s_out)


def ood_aupr_out(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Average precision with OOD inputs as the positive class (scores negated)."""
    s_in, s_out = _check_scores(in_scores, out_scores)
    return _average_precision(-s_out, -s_in)


def ood_fpr_at_tpr(in_scores: np.ndarray, out_scores: np.ndarray, tpr: float = 0.95) -> float:
    """Fraction of OOD inputs scored at or above the threshold that keeps ``tpr`` of the
    in-distribution inputs (the highest threshold t with mean(in_scores >= t) >= tpr).

    This is the first ROC point reaching ``tpr`` on ``sklearn.metrics.roc_curve(...,
    drop_intermediate=False)``: no interpolation between points, ties at t count as kept.
    """
    if not 0.0 < tpr <= 1.0:
        raise ValueError(f"tpr must lie in (0, 1], got {tpr}")
    s_in, s_out = _check_scores(in_scores, out_scores)
    n_in = len(s_in)
    kept = np.arange(1, n_in + 1) / n_in  # TPR when keeping the k highest in-distribution scores
    k = int(np.searchsorted(kept, tpr, side="left")) + 1  # the fewest kept inputs that reach tpr
    threshold = np.sort(s_in)[::-1][k - 1]
    return float(np.mean(s_out >= threshold))


def ood_metrics(in_scores: np.ndarray, out_scores: np.ndarray) -> dict[str, float]:
    """AUROC, AUPR-in, AUPR-out and FPR at 95% TPR, keyed as :data:`OOD_METRIC_KEYS`."""
    s_in, s_out = _check_scores(in_scores, out_scores)
    return {
        "auroc": ood_auroc(s_in, s_out),
        "aupr_in": ood_aupr_in(s_in, s_out),
        "aupr_out": ood_aupr_out(s_in, s_out),
        "fpr95": ood_fpr_at_tpr(s_in, s_out, tpr=0.95),
    }


def _check_matrix(name: str, a: np.ndarray) -> np.ndarray:
    x = np.asarray(a)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D array of shape (n, C), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    if not np.isfinite(x).all():
        i = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise ValueError(f"{name} contains non-finite values (NaN or inf), first in row {i}")
    return x


def msp(probs: np.ndarray) -> np.ndarray:
    """Maximum softmax probability per input (n,): the baseline OOD score (Hendrycks & Gimpel 2017)."""
    return _check_matrix("probs", probs).max(axis=1)


def neg_energy(logits: np.ndarray, T: float = 1.0) -> np.ndarray:
    """Negative free energy per input, ``T * logsumexp(logits / T)`` (n,) (Liu et al. 2020).

    The energy is ``-T * logsumexp(logits / T)``; its negation is higher in-distribution, as
    this module's metrics expect. Unlike MSP it does not saturate at 1 for large logits.
    """
    if not T > 0:
        raise ValueError(f"temperature T must be positive, got {T}")
    return T * logsumexp(_check_matrix("logits", logits) / T, axis=1)
