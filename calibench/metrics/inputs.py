"""Input checks and resample-index helpers shared by every metric.

Every metric takes ``probs`` of shape (n, C) and integer ``labels`` of shape (n,), and has a
*batched* form that also takes ``idx`` of shape (B, m): B resamples, each a row of example
indices (a bootstrap resample, a jackknife leave-one-out sample, or ``full_index(n)`` for the
sample itself). Checking here, once, means a bad input fails with a message naming the
problem instead of a silently wrong number deep inside a binning routine.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from calibench.specstring import format_call

#: Rows of ``probs`` must sum to 1 within this absolute tolerance. Loose enough for a float32
#: softmax over a few classes (error ~1e-7), tight enough to catch logits or rounded tables.
ROW_SUM_ATOL = 1e-5

#: Element budget of one vectorised chunk (1 MiB per float64 temporary). Batched metrics
#: process resamples in row blocks of about this many gathered elements: memory stays bounded
#: for any B, and cache-sized blocks are faster than one huge gather (measured ~1.3x).
CHUNK_ELEMENTS = 1 << 17


def check_inputs(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return ``(probs as float64 (n, C), labels as int64 (n,))``.

    Raises ``ValueError`` naming the problem: wrong shapes, fewer than two classes, an empty
    sample, non-integer or out-of-range labels, non-finite or out-of-[0, 1] probabilities,
    rows not summing to 1.
    """
    p = np.asarray(probs)
    y = np.asarray(labels)
    if p.ndim != 2:
        raise ValueError(
            f"probs must be a 2-D array of shape (n, C), got shape {p.shape}; "
            "for a binary task pass np.column_stack([1 - p, p])"
        )
    n, n_classes = p.shape
    if n_classes < 2:
        raise ValueError(f"probs must have at least 2 classes (columns), got {n_classes}")
    if n == 0:
        raise ValueError("probs is empty: a metric needs at least one example")
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"shape mismatch: probs has shape {p.shape} but labels has shape {y.shape}; expected ({n},)")
    if not (np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_):
        raise ValueError(f"labels must be integers (class indices), got dtype {y.dtype}")
    y = y.astype(np.int64, copy=False)
    bad = (y < 0) | (y >= n_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"labels out of range [0, {n_classes}): {int(bad.sum())} labels, first labels[{i}] = {int(y[i])}"
        )
    if not np.issubdtype(p.dtype, np.number) or np.issubdtype(p.dtype, np.complexfloating):
        raise ValueError(f"probs must be real numbers, got dtype {p.dtype}")
    p = p.astype(np.float64, copy=False)
    finite = np.isfinite(p)
    if not finite.all():
        i = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise ValueError(f"probs contains non-finite values (NaN or inf), first in row {i}: {p[i].tolist()}")
    if (p < 0).any() or (p > 1).any():
        i = int(np.flatnonzero(((p < 0) | (p > 1)).any(axis=1))[0])
        raise ValueError(f"probs must lie in [0, 1] (are these logits?), first bad row {i}: {p[i].tolist()}")
    row_err = np.abs(p.sum(axis=1) - 1.0)
    if (row_err > ROW_SUM_ATOL).any():
        i = int(np.argmax(row_err))
        raise ValueError(
            f"rows of probs must sum to 1 within {ROW_SUM_ATOL:g}: {int((row_err > ROW_SUM_ATOL).sum())} rows "
            f"do not, worst row {i} sums to {p[i].sum():.9g}"
        )
    return p, y


def full_index(n: int) -> np.ndarray:
    """The (1, n) index of the sample itself: a single-sample metric is the B = 1 case."""
    return np.arange(n, dtype=np.int64)[None, :]


def check_index(idx: np.ndarray | None, n: int) -> np.ndarray:
    """Validate resample indices ``idx`` (B, m) into a sample of size n; return int64 (B, m).

    ``None`` stands for the sample itself, ``full_index(n)``.
    """
    if idx is None:
        return full_index(n)
    a = np.asarray(idx)
    if a.ndim != 2:
        raise ValueError(f"idx must be a 2-D array (n_resamples, resample_size), got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"idx must have at least one resample of at least one example, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"idx must hold integer example indices, got dtype {a.dtype}")
    a = a.astype(np.int64, copy=False)
    if a.min() < 0 or a.max() >= n:
        raise ValueError(f"idx values must lie in [0, {n}), got range [{a.min()}, {a.max()}]")
    return a


def row_chunks(n_rows: int, elements_per_row: int) -> Iterator[slice]:
    """Slices of rows such that one slice gathers at most ``CHUNK_ELEMENTS`` elements."""
    step = max(1, CHUNK_ELEMENTS // max(1, elements_per_row))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def resampled_mean(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Mean of per-example ``values`` (n,) over each resample row of ``idx`` (B, m) -> (B,)."""
    out = np.empty(idx.shape[0], dtype=np.float64)
    for rows in row_chunks(idx.shape[0], idx.shape[1]):
        out[rows] = values[idx[rows]].mean(axis=1)
    return out


def predictions(probs: np.ndarray) -> np.ndarray:
    """Predicted class per example: ``argmax``, ties to the first (lowest) class index."""
    return np.argmax(probs, axis=1)


def estimator_string(name: str, **params: object) -> str:
    """Canonical estimator string ``name(k=v,...)`` in the given parameter order (no spaces)."""
    return format_call(name, params)
