"""Task metrics computed from the arg-max prediction: accuracy, Matthews correlation, F1.

Each metric exists once, in batched form over resample indices ``idx`` (B, m); the
single-sample function is the B = 1 case (``idx=None``, the sample itself), so a bootstrap
recomputes exactly the number that is reported. Predictions are ``argmax(probs)`` with ties
going to the lowest class index (numpy's convention).
"""

from __future__ import annotations

import numpy as np

from calibench.metrics.inputs import (
    check_index,
    check_inputs,
    predictions,
    resampled_mean,
    row_chunks,
)


def accuracy_batched(probs: np.ndarray, labels: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    """Accuracy of the arg-max prediction on each resample row of ``idx`` -> (B,)."""
    p, y = check_inputs(probs, labels)
    idx = check_index(idx, len(y))
    hits = (predictions(p) == y).astype(np.float64)
    return resampled_mean(hits, idx)


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of examples whose arg-max prediction equals the label."""
    return float(accuracy_batched(probs, labels, None)[0])


def confusion_batched(probs: np.ndarray, labels: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    """Confusion matrices (B, C, C), ``[b, true, predicted]`` counts, one per resample row.

    One ``np.bincount`` over keys ``(b * C + true) * C + predicted``: no loop over resamples.
    """
    p, y = check_inputs(probs, labels)
    idx = check_index(idx, len(y))
    n_classes = p.shape[1]
    cell = y * n_classes + predictions(p)  # (n,) flat cell of each example in a C x C matrix
    n_res = idx.shape[0]
    out = np.empty((n_res, n_classes * n_classes), dtype=np.int64)
    for rows in row_chunks(n_res, idx.shape[1]):
        b = rows.stop - rows.start
        keys = cell[idx[rows]] + (np.arange(b, dtype=np.int64) * n_classes * n_classes)[:, None]
        out[rows] = np.bincount(keys.ravel(), minlength=b * n_classes * n_classes).reshape(b, -1)
    return out.reshape(n_res, n_classes, n_classes)


def mcc_batched(probs: np.ndarray, labels: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    """Matthews correlation coefficient per resample row -> (B,).

    The multiclass R_K statistic (Gorodkin 2004), exactly as ``sklearn.metrics.matthews_corrcoef``:
    ``(c*s - t.p) / sqrt((s^2 - p.p)(s^2 - t.t))`` with t / p the true / predicted class counts,
    c the correct count and s the sample size; it reduces to the usual binary MCC. Where the
    denominator is 0 (all labels or all predictions one class) the value is 0.0, as sklearn.
    """
    conf = confusion_batched(probs, labels, idx).astype(np.float64)
    t_sum = conf.sum(axis=2)
    p_sum = conf.sum(axis=1)
    n_correct = np.trace(conf, axis1=1, axis2=2)
    n_samples = p_sum.sum(axis=1)
    cov_ytyp = n_correct * n_samples - np.einsum("bk,bk->b", t_sum, p_sum)
    cov_ypyp = n_samples**2 - np.einsum("bk,bk->b", p_sum, p_sum)
    cov_ytyt = n_samples**2 - np.einsum("bk,bk->b", t_sum, t_sum)
    denom = cov_ypyp * cov_ytyt
    out = np.zeros_like(denom)
    ok = denom != 0
    out[ok] = cov_ytyp[ok] / np.sqrt(denom[ok])
    return out


def mcc(probs: np.ndarray, labels: np.ndarray) -> float:
    """Matthews correlation coefficient of the arg-max prediction (CoLA's task metric)."""
    return float(mcc_batched(probs, labels, None)[0])


def f1_batched(probs: np.ndarray, labels: np.ndarray, idx: np.ndarray | None, *, pos_label: int = 1) -> np.ndarray:
    """F1 of class ``pos_label`` (one-vs-rest) per resample row -> (B,).

    ``2 tp / (2 tp + fp + fn)``; 0.0 when the class is neither present nor predicted
    (sklearn's default ``zero_division`` behaviour).
    """
    conf = confusion_batched(probs, labels, idx)
    n_classes = conf.shape[1]
    if not 0 <= pos_label < n_classes:
        raise ValueError(f"pos_label must be a class index in [0, {n_classes}), got {pos_label}")
    tp = conf[:, pos_label, pos_label].astype(np.float64)
    fn = conf[:, pos_label, :].sum(axis=1) - tp
    fp = conf[:, :, pos_label].sum(axis=1) - tp
    denom = 2 * tp + fp + fn
    out = np.zeros_like(tp)
    ok = denom > 0
    out[ok] = 2 * tp[ok] / denom[ok]
    return out


def f1(probs: np.ndarray, labels: np.ndarray, *, pos_label: int = 1) -> float:
    """F1 of the positive class (label 1 by default; MRPC and QQP's task metric)."""
    return float(f1_batched(probs, labels, None, pos_label=pos_label)[0])
