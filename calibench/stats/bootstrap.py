"""Confidence intervals: bootstrap over test examples, t-intervals over training seeds.

Why a bootstrap that recomputes the metric: ECE (and MCC, F1) are not means of per-example
losses, so a normal interval around a per-example standard error does not exist for them.
Each resample recomputes the metric from scratch through the metric's batched form (one
vectorised pass over all resamples), which is the same code that produced the point estimate.

The two sources of variation are different questions: a bootstrap interval says how much a
number would move on another test set of the same size; a seed interval says how much it
moves between training runs. Report the one that matches the claim.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import stats
from scipy.special import ndtr, ndtri

from calibench.metrics import MetricSpec, check_inputs, resolve_metric
from calibench.metrics.inputs import CHUNK_ELEMENTS

Method = Literal["percentile", "bca"]
Seed = int | np.random.Generator | None


@dataclass(frozen=True)
class BootstrapCI:
    """A bootstrap interval for one metric on one set of predictions."""

    metric: str
    estimator: str
    estimate: float  # the metric on the full sample
    low: float
    high: float
    confidence: float
    method: str
    n_resamples: int
    standard_error: float  # std (ddof=1) of the bootstrap distribution
    distribution: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class SeedCI:
    """A Student-t interval for the mean of a metric over training seeds."""

    mean: float
    half_width: float  # NaN when n < 2: the spread cannot be estimated from one run
    n: int
    sd: float  # sample standard deviation (ddof=1); NaN when n < 2
    confidence: float

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


def resample_indices(n: int, n_resamples: int, seed: Seed = 0) -> np.ndarray:
    """Bootstrap indices (n_resamples, n), drawn uniformly with replacement.

    Drawn as ``default_rng(seed).integers(0, n, (n_resamples, n))``, the same draw as
    ``scipy.stats.bootstrap(..., rng=default_rng(seed))`` makes, so the two can be compared
    resample for resample.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples}")
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, (n_resamples, n), dtype=np.int64)


def jackknife_values(spec: MetricSpec, probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The metric on each of the n leave-one-out samples -> (n,), for the BCa acceleration.

    Vectorised through the batched metric, in row blocks of leave-one-out index rows; the
    cost is O(n^2) element operations (about 10x a 1,000-resample bootstrap at n = 10,000).
    """
    n = len(labels)
    if n < 2:
        raise ValueError("the jackknife needs at least 2 examples")
    out = np.empty(n, dtype=np.float64)
    base = np.arange(n - 1, dtype=np.int64)[None, :]
    step = max(1, CHUNK_ELEMENTS * 8 // (n - 1))
    for start in range(0, n, step):
        left_out = np.arange(start, min(start + step, n), dtype=np.int64)[:, None]
        out[start : start + len(left_out)] = spec.batched(probs, labels, base + (base >= left_out))
    return out


def interval_from_distribution(
    distribution: np.ndarray,
    estimate: float,
    confidence: float,
    method: Method,
    jackknife: np.ndarray | None = None,
) -> tuple[float, float]:
    """Percentile or BCa interval from a bootstrap distribution.

    Follows Efron & Tibshirani (1993) 14.3 and 15.4 exactly as ``scipy.stats.bootstrap`` does
    (linear-interpolated quantiles; z0 from the mid-rank share of resamples below the
    estimate), so results agree with scipy given the same resamples. Where every jackknife
    value is equal the acceleration is taken as 0 rather than 0/0. BCa returns NaN endpoints,
    with a warning, when the bootstrap distribution lies entirely on one side of the estimate.
    """
    _check_confidence(confidence)
    alpha = (1 - confidence) / 2
    if method == "percentile":
        levels = np.array([alpha, 1 - alpha])
    elif method == "bca":
        if jackknife is None:
            raise ValueError("method='bca' needs the jackknife values")
        b = len(distribution)
        share_below = (np.count_nonzero(distribution < estimate) + np.count_nonzero(distribution <= estimate)) / (2 * b)
        z0 = ndtri(share_below)
        u = (len(jackknife) - 1) * (jackknife.mean() - jackknife)
        denom = np.sum(u**2)
        accel = np.sum(u**3) / (6 * denom**1.5) if denom > 0 else 0.0
        z = ndtri(np.array([alpha, 1 - alpha]))
        with np.errstate(invalid="ignore"):
            levels = ndtr(z0 + (z0 + z) / (1 - accel * (z0 + z)))
        if not np.isfinite(levels).all():
            warnings.warn(
                "BCa interval undefined: the bootstrap distribution lies on one side of the estimate",
                RuntimeWarning,
                stacklevel=3,
            )
            return float("nan"), float("nan")
    else:
        raise ValueError(f"method must be 'percentile' or 'bca', got {method!r}")
    low, high = np.quantile(distribution, levels)
    return float(low), float(high)


def bootstrap_ci(
    probs: np.ndarray,
    labels: np.ndarray,
    metric_key: str | MetricSpec,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    method: Method = "percentile",
    seed: Seed = 0,
    **metric_params: Any,
) -> BootstrapCI:
    """Bootstrap CI of metric ``metric_key`` (a key such as ``"ece"``, or a MetricSpec) over test examples.

    ``metric_params`` override the metric's defaults (e.g. ``bins=10``). ``method="bca"``
    adds a jackknife (see :func:`jackknife_values` for its cost).
    """
    spec = resolve_metric(metric_key, **metric_params)
    p, y = check_inputs(probs, labels)
    idx = resample_indices(len(y), n_resamples, seed)
    distribution = spec.batched(p, y, idx)
    estimate = spec.fn(p, y)
    jack = jackknife_values(spec, p, y) if method == "bca" else None
    low, high = interval_from_distribution(distribution, estimate, confidence, method, jack)
    return BootstrapCI(
        metric=spec.name,
        estimator=spec.estimator,
        estimate=estimate,
        low=low,
        high=high,
        confidence=confidence,
        method=method,
        n_resamples=n_resamples,
        standard_error=float(np.std(distribution, ddof=1)) if n_resamples > 1 else float("nan"),
        distribution=distribution,
    )


def seed_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> SeedCI:
    """Mean over training seeds with a Student-t interval (mean +- t_{n-1} sd / sqrt(n)).

    With one seed the interval is undefined: ``half_width`` and ``sd`` are NaN.
    """
    _check_confidence(confidence)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError("values contain NaN or inf")
    n = v.size
    if n < 2:
        return SeedCI(float(v[0]), float("nan"), 1, float("nan"), confidence)
    sd = float(np.std(v, ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n))
    return SeedCI(float(v.mean()), half, n, sd, confidence)
