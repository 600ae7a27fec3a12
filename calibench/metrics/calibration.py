"""Binned calibration estimators: ECE (top-label, classwise, equal-width or equal-mass bins,
L1 or L2) and MCE.

Why so many: the usual NLU convention (Desai & Durrett 2020) is top-label; the EBM paper
reports uncertainty-calibration's ``get_ece(probs, labels, num_bins=20)``, top-label with 20
equal-width right-closed bins (``closed="right"``); classwise ECE (per-class bins, averaged
over classes) is that library's ``mode='marginal'``, equal to the paper's only on binary
tasks; adaptive (equal-mass) bins reduce the bias of sparse bins. They give different numbers on the same
predictions, so every value is reported with its canonical estimator string, e.g.
``ece(bins=15,scheme=width,norm=l1,confidence=top-label)``.

Definitions. For each *column* k (one column, the top-label confidence max_c p_c with
"hit" = [argmax p == y], for ``confidence="top-label"``; one column per class c, value
p_c with "hit" = [y == c], for ``confidence="classwise"``), the m examples of a sample are
binned by value; with N_b, conf_b, acc_b the count, mean value and hit rate of bin b:

* ``norm="l1"``: sum_b (N_b / m) |acc_b - conf_b|
* ``norm="l2"``: sqrt(sum_b (N_b / m) (acc_b - conf_b)^2)
* MCE: max over non-empty bins of |acc_b - conf_b|

and the estimator is the mean over columns (classwise ECE = the per-class ECEs averaged).

Bin convention (identical to ``netcal.metrics.ECE`` / ``MCE`` with ``detection=False``, so
values agree with netcal to rounding): values are first clipped to [eps, 1 - eps] with
eps = float64 machine epsilon, so a value of exactly 0 lands in the first bin and exactly 1
in the last; bins are [e_t, e_{t+1}) over the edges e (``closed="left"``, the default) or
(e_t, e_{t+1}] with upper edges ``t / bins`` computed as uncertainty-calibration does
(``closed="right"``, equal-width only; a value at an edge then joins the lower bin).
``scheme="width"``: e = ``np.linspace(0, 1, bins + 1)``. ``scheme="mass"``: e = ``np.quantile(values, linspace(0, 1,
bins + 1))`` of the (resampled) sample, with e_0 = 0 and e_bins = 1; tied quantiles make
empty bins (netcal raises there instead). Empty bins contribute nothing.

Everything is computed in batched form over resample indices ``idx`` (B, m): per-bin sums
come from ``np.bincount`` over keys (column, resample, bin), with no Python loop over
resamples, and L1 ECE needs a single pass because N_b |acc_b - conf_b| = |sum_{i in b}
(value_i - hit_i)|. The single-sample functions are the B = 1 case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from calibench.metrics.inputs import (
    check_index,
    check_inputs,
    estimator_string,
    predictions,
    row_chunks,
)

Scheme = Literal["width", "mass"]
Norm = Literal["l1", "l2"]
Confidence = Literal["top-label", "classwise"]
Closed = Literal["left", "right"]
SCHEMES: tuple[str, ...] = ("width", "mass")
NORMS: tuple[str, ...] = ("l1", "l2")
CONFIDENCES: tuple[str, ...] = ("top-label", "classwise")
CLOSED: tuple[str, ...] = ("left", "right")

#: Values are clipped to [CLIP_EPS, 1 - CLIP_EPS] before binning, as netcal does.
CLIP_EPS = float(np.finfo(np.float64).eps)


def _check_params(bins: int, scheme: str, confidence: str, norm: str | None = None, closed: str = "left") -> None:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if confidence not in CONFIDENCES:
        raise ValueError(f"confidence must be one of {CONFIDENCES}, got {confidence!r}")
    if norm is not None and norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if closed not in CLOSED:
        raise ValueError(f"closed must be one of {CLOSED}, got {closed!r}")
    if closed == "right" and scheme != "width":
        raise ValueError("closed='right' is defined for equal-width bins only (scheme='width')")


def _columns(p: np.ndarray, y: np.ndarray, confidence: str) -> tuple[np.ndarray, np.ndarray]:
    """Clipped values (K, n) and 0/1 hits (K, n) of the K columns being calibrated.

    Column-major, so that gathering a block of resamples is a contiguous 1-D take per column
    (5x faster than gathering rows of an (n, K) array).
    """
    if confidence == "top-label":
        pred = predictions(p)
        values = p[np.arange(len(y)), pred][None, :]
        hits = (pred == y).astype(np.int64)[None, :]
    else:
        values = np.ascontiguousarray(p.T)
        hits = (np.arange(p.shape[1])[:, None] == y[None, :]).astype(np.int64)
    return np.clip(values, CLIP_EPS, 1.0 - CLIP_EPS), hits


def _value_ranks(values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Rank of each value among its column's sorted unique values (K, n), and those unique values."""
    uniques = [np.unique(column) for column in values]
    ranks = np.stack([np.searchsorted(u, column) for u, column in zip(uniques, values)])
    return ranks.astype(np.int64), uniques


def _mass_bin_ids(
    ranks: np.ndarray, uniques: list[np.ndarray], gathered: np.ndarray, rows_idx: np.ndarray, bins: int
) -> np.ndarray:
    """Equal-mass bin ids (K, b, m), each resample row binned by its own quantile edges.

    Exact and loop-free over resamples: values and edges are replaced by integer ranks in the
    column's sorted unique values U (an edge e is <= U[j] iff ``searchsorted(U, e, 'left') <= j``),
    so every resample's edges can be offset into one sorted integer array and located with a
    single ``np.searchsorted`` (float offsets would perturb the comparisons).
    """
    n_cols, n = ranks.shape
    b = rows_idx.shape[0]
    edges = np.quantile(gathered, np.linspace(0.0, 1.0, bins + 1), axis=2)  # (bins+1, K, b)
    edges[0] = 0.0
    edges[-1] = 1.0
    edge_rank = np.stack(
        [np.searchsorted(u, edges[:, k, :].T, side="left") for k, u in enumerate(uniques)]
    )  # (K, b, bins+1); a loop over classes, not over resamples
    np.maximum.accumulate(edge_rank, axis=2, out=edge_rank)  # guard against 1-ulp non-monotone quantiles
    group = np.arange(n_cols * b, dtype=np.int64).reshape(n_cols, b, 1)
    flat_edges = (edge_rank + group * (n + 1)).ravel()
    pos = np.searchsorted(flat_edges, ranks[:, rows_idx] + group * (n + 1), side="right")
    return pos - group * (bins + 1) - 1


_TERMS = {
    "residual": lambda values, hits: values - hits,  # summed over a bin: N_b (conf_b - acc_b)
    "value": lambda values, hits: values,
    "hit": lambda values, hits: hits.astype(np.float64),
}


def _bin_sums(
    p: np.ndarray,
    y: np.ndarray,
    idx: np.ndarray,
    bins: int,
    scheme: str,
    confidence: str,
    terms: tuple[str, ...],
    with_count: bool,
    closed: str = "left",
) -> tuple[np.ndarray | None, list[np.ndarray]]:
    """Per (resample, column, bin) sums of per-example ``terms`` (and counts): (B, K, bins) arrays.

    Each is one ``np.bincount`` over keys ``(column * b + resample) * bins + bin`` for a block of
    b resamples. L1 ECE needs only the residual sums, ``sum_b |sum_{i in b} (v_i - hit_i)| / m``,
    so it costs a single pass.
    """
    values, hits = _columns(p, y, confidence)
    n_cols = values.shape[0]
    per_example = [_TERMS[t](values, hits) for t in terms]  # each (K, n)
    if scheme == "width" and closed == "right":  # (a, b]: the upper edges as uncertainty-calibration has them
        upper = np.arange(1, bins + 1) * 1.0 / bins
        width_ids = np.minimum(np.searchsorted(upper, values, side="left"), bins - 1)
    elif scheme == "width":  # bins do not depend on the resample: bin every example once
        edges = np.linspace(0.0, 1.0, bins + 1)
        width_ids = np.minimum(np.searchsorted(edges, values, side="right") - 1, bins - 1)
    else:
        ranks, uniques = _value_ranks(values)
    n_res, m = idx.shape
    count = np.empty((n_res, n_cols, bins)) if with_count else None
    sums = [np.empty((n_res, n_cols, bins)) for _ in terms]
    for rows in row_chunks(n_res, m * n_cols):
        rows_idx = idx[rows]
        b = rows_idx.shape[0]
        if scheme == "width":
            keys = width_ids[:, rows_idx]  # (K, b, m)
        else:
            keys = _mass_bin_ids(ranks, uniques, values[:, rows_idx], rows_idx, bins)
        keys += (np.arange(n_cols * b, dtype=np.int64) * bins).reshape(n_cols, b, 1)
        keys = keys.ravel()
        size = n_cols * b * bins
        if count is not None:
            count[rows] = np.bincount(keys, minlength=size).reshape(n_cols, b, bins).transpose(1, 0, 2)
        for out, w in zip(sums, per_example):
            block = np.bincount(keys, weights=w[:, rows_idx].ravel(), minlength=size)
            out[rows] = block.reshape(n_cols, b, bins).transpose(1, 0, 2)
    return count, sums


def ece_batched(
    probs: np.ndarray,
    labels: np.ndarray,
    idx: np.ndarray | None,
    *,
    bins: int = 15,
    scheme: Scheme = "width",
    norm: Norm = "l1",
    confidence: Confidence = "top-label",
    closed: Closed = "left",
) -> np.ndarray:
    """Expected calibration error on each resample row of ``idx`` (None = the sample) -> (B,)."""
    _check_params(bins, scheme, confidence, norm, closed)
    p, y = check_inputs(probs, labels)
    idx = check_index(idx, len(y))
    m = idx.shape[1]
    count, (residual,) = _bin_sums(
        p, y, idx, bins, scheme, confidence, ("residual",), with_count=norm == "l2", closed=closed
    )
    if norm == "l1":  # sum_b (N_b / m) |acc_b - conf_b|
        per_column = np.abs(residual).sum(axis=2) / m
    else:  # sqrt(sum_b (N_b / m) (acc_b - conf_b)^2), empty bins contribute 0
        per_column = np.sqrt((residual**2 / np.maximum(count, 1)).sum(axis=2) / m)
    return per_column.mean(axis=1)


def ece(
    probs: np.ndarray,
    labels: np.ndarray,
    *,
    bins: int = 15,
    scheme: Scheme = "width",
    norm: Norm = "l1",
    confidence: Confidence = "top-label",
    closed: Closed = "left",
) -> float:
    """Expected calibration error; see the module docstring for the exact definition."""
    return float(
        ece_batched(probs, labels, None, bins=bins, scheme=scheme, norm=norm, confidence=confidence, closed=closed)[0]
    )


def mce_batched(
    probs: np.ndarray,
    labels: np.ndarray,
    idx: np.ndarray | None,
    *,
    bins: int = 15,
    scheme: Scheme = "width",
    confidence: Confidence = "top-label",
) -> np.ndarray:
    """Maximum calibration error (over non-empty bins) on each resample row of ``idx`` -> (B,)."""
    _check_params(bins, scheme, confidence)
    p, y = check_inputs(probs, labels)
    idx = check_index(idx, len(y))
    count, (residual,) = _bin_sums(p, y, idx, bins, scheme, confidence, ("residual",), with_count=True)
    gap = np.abs(residual) / np.maximum(count, 1)  # |acc_b - conf_b|; 0 in empty bins
    return gap.max(axis=2).mean(axis=1)


def mce(
    probs: np.ndarray,
    labels: np.ndarray,
    *,
    bins: int = 15,
    scheme: Scheme = "width",
    confidence: Confidence = "top-label",
) -> float:
    """Maximum calibration error: the worst bin's |accuracy - confidence| (sensitive to sparse bins)."""
    return float(mce_batched(probs, labels, None, bins=bins, scheme=scheme, confidence=confidence)[0])


def ece_estimator(
    bins: int = 15,
    scheme: Scheme = "width",
    norm: Norm = "l1",
    confidence: Confidence = "top-label",
    closed: Closed = "left",
) -> str:
    """Canonical estimator string of an ECE, e.g. ``ece(bins=15,scheme=width,norm=l1,confidence=top-label)``.

    ``closed`` is named only when it is ``right`` (``...,closed=right)``), so every estimator
    string stored before the option existed still names the same estimator.
    """
    _check_params(bins, scheme, confidence, norm, closed)
    extra = {"closed": closed} if closed == "right" else {}
    return estimator_string("ece", bins=bins, scheme=scheme, norm=norm, confidence=confidence, **extra)


def mce_estimator(bins: int = 15, scheme: Scheme = "width", confidence: Confidence = "top-label") -> str:
    """Canonical estimator string of an MCE, e.g. ``mce(bins=15,scheme=width,confidence=top-label)``."""
    _check_params(bins, scheme, confidence)
    return estimator_string("mce", bins=bins, scheme=scheme, confidence=confidence)


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin statistics of one sample, for reliability diagrams; arrays are (K, bins).

    K = 1 for top-label, C for classwise. ``confidence`` and ``accuracy`` are NaN in empty bins.
    """

    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray


def reliability_bins(
    probs: np.ndarray,
    labels: np.ndarray,
    *,
    bins: int = 15,
    scheme: Scheme = "width",
    confidence: Confidence = "top-label",
) -> ReliabilityBins:
    """The binned statistics behind ``ece``/``mce`` (same binning code), for plotting."""
    _check_params(bins, scheme, confidence)
    p, y = check_inputs(probs, labels)
    idx = check_index(None, len(y))
    count, (value_sum, hit_sum) = _bin_sums(p, y, idx, bins, scheme, confidence, ("value", "hit"), with_count=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ReliabilityBins(count[0], value_sum[0] / count[0], hit_sum[0] / count[0])
