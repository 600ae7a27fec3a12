"""Temperature scaling (Guo et al. 2017): divide logits by one fitted temperature T > 0.

Fitted by minimising NLL with L-BFGS on log T (unconstrained, and the problem is convex in
1/T), or -- the EBM paper's reference code, its ``TScalCalibrator`` -- by searching its 13
temperatures {0.1, 0.5, 0.8, ..., 3.0} for the lowest ECE under the paper's own estimator
(``ece_paper``: uncertainty-calibration's ``get_ece``, top-label, 20 bins (a, b]), ties to
the first (``objective="ece-grid"``). Where to fit is ``fit_on``: the dev
half (default) or the training set (the paper's comparison in which no dev data is seen).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, logsumexp

from baselines.calibrator import PostHocCalibrator
from calibench.errors import OptionError


def nll_and_grad(log_t: np.ndarray, logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean NLL of softmax(logits / T) and its derivative w.r.t. log T (``log_t`` has shape (1,))."""
    s = float(np.exp(-np.ravel(log_t)[0]))  # 1/T
    z = logits * s
    lse = logsumexp(z, axis=1)
    zy = z[np.arange(len(labels)), labels]
    nll = float(np.mean(lse - zy))
    p = np.exp(z - lse[:, None])
    d_ds = np.mean((p * logits).sum(axis=1) - logits[np.arange(len(labels)), labels])
    return nll, np.array([d_ds * -s])


class TemperatureScaling(PostHocCalibrator):
    """One temperature, fitted by NLL on the dev half (or the training set)."""

    name: ClassVar[str] = "temp-scaling"
    defaults: ClassVar[dict[str, Any]] = {"fit_on": "dev", "objective": "nll"}
    #: the reference's TScalCalibrator temperatures, in its order
    GRID = np.array([0.1, 0.5, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0])

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if self.options["objective"] not in ("nll", "ece-grid"):
            raise OptionError(f"temp-scaling: objective must be 'nll' or 'ece-grid', got {self.options['objective']!r}")
        self.temperature_: float | None = None

    def fit(self, logits: np.ndarray, labels: np.ndarray) -> TemperatureScaling:
        logits, labels = self._check_fit(logits, labels)
        if self.options["objective"] == "nll":
            res = minimize(
                nll_and_grad,
                x0=np.zeros(1),
                args=(logits, labels),
                jac=True,
                method="L-BFGS-B",
                bounds=[(np.log(1e-2), np.log(1e2))],
            )
            self.temperature_ = float(np.exp(res.x[0]))
        else:
            from calibench.metrics import metric_fn

            ece = metric_fn("ece_paper")
            scores = [ece(np.exp(log_softmax(logits / t, axis=1)), labels) for t in self.GRID]
            self.temperature_ = float(self.GRID[int(np.argmin(scores))])
        return self

    def predict_proba(self, logits: np.ndarray) -> np.ndarray:
        z = self._check_predict(logits)
        return np.exp(log_softmax(z / self.temperature_, axis=1))

    def fitted_params(self) -> dict[str, Any]:
        return {"temperature": self.temperature_}
