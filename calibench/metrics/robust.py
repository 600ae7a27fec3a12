"""Calibration estimators that do not hinge on one fixed binning, from the maintained libraries:

* SmoothECE (Blasiok & Nakkiran 2023, ``relplot.smECE``): the top-label residual smoothed by a
  reflected Gaussian kernel whose bandwidth is chosen from the data (the fixed point
  sigma = smECE_sigma); no bin count to pick, continuous in the predictions.
* the debiased L2 calibration error of Kumar, Liang & Ma (2019) (uncertainty-calibration,
  the library the EBM paper used): top-label, equal-mass bins, each bin's squared gap minus
  its label-variance term, so the estimate is not biased upward by sparse bins.

Both are the libraries' own code (their top-label inputs are the same (confidence, correct)
pairs calibench's ECE uses); calibench adds only input checks and the batched form over
resample indices that the statistics need, a loop over resamples (the libraries have no
vectorised form: SmoothECE costs ~30 ms per call at n = 500 here, so a 1000-resample board
column takes about half a minute per seed and method).
"""

from __future__ import annotations

import numpy as np

from calibench.metrics.inputs import (
    check_index,
    check_inputs,
    estimator_string,
    predictions,
)

#: relplot's default tolerance of the bandwidth search (``smECE(eps=0.001)``).
SMECE_EPS = 0.001


def _top_label(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    p, y = check_inputs(probs, labels)
    pred = predictions(p)
    return p, y, p[np.arange(len(y)), pred], (pred == y).astype(np.float64)


def _per_resample(fn, n: int, idx: np.ndarray | None) -> np.ndarray:
    rows = check_index(idx, n)
    return np.array([fn(row) for row in rows], dtype=np.float64)


def smece_batched(
    probs: np.ndarray, labels: np.ndarray, idx: np.ndarray | None, *, eps: float = SMECE_EPS
) -> np.ndarray:
    """SmoothECE (top-label) on each resample row of ``idx`` (None = the sample) -> (B,)."""
    import relplot

    if not 0 < eps < 1:
        raise ValueError(f"eps must lie in (0, 1), got {eps}")
    _, _, conf, correct = _top_label(probs, labels)
    return _per_resample(lambda row: float(relplot.smECE(conf[row], correct[row], eps=eps)), len(conf), idx)


def smece(probs: np.ndarray, labels: np.ndarray, *, eps: float = SMECE_EPS) -> float:
    """SmoothECE of the top-label confidence, bandwidth chosen by relplot (lower is better)."""
    return float(smece_batched(probs, labels, None, eps=eps)[0])


def smece_estimator(eps: float = SMECE_EPS) -> str:
    return estimator_string("smece", confidence="top-label", kernel="reflected-gaussian", bandwidth="auto", eps=eps)


def debiased_l2_ce_batched(
    probs: np.ndarray, labels: np.ndarray, idx: np.ndarray | None, *, bins: int = 15
) -> np.ndarray:
    """Debiased top-label L2 calibration error on each resample row of ``idx`` -> (B,)."""
    import calibration

    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    p, y, _, _ = _top_label(probs, labels)
    rows = check_index(idx, len(y))
    if rows.shape[1] < bins:  # undefined (the library cannot make more bins than examples)
        return np.full(rows.shape[0], np.nan)

    def one(row: np.ndarray) -> float:
        return float(
            calibration.lower_bound_scaling_ce(
                p[row],
                y[row],
                p=2,
                debias=True,
                num_bins=bins,
                binning_scheme=calibration.get_equal_bins,
                mode="top-label",
            )
        )

    return np.array([one(row) for row in rows], dtype=np.float64)


def debiased_l2_ce(probs: np.ndarray, labels: np.ndarray, *, bins: int = 15) -> float:
    """Kumar et al.'s debiased L2 calibration error, top-label, ``bins`` equal-mass bins (lower is better).

    NaN on fewer than ``bins`` examples, where the estimator is undefined (computed for every
    run, it must not stop a tiny test half from being scored).
    """
    return float(debiased_l2_ce_batched(probs, labels, None, bins=bins)[0])


def debiased_l2_ce_estimator(bins: int = 15) -> str:
    return estimator_string("debiased_l2_ce", bins=bins, scheme="mass-midpoints", confidence="top-label")
