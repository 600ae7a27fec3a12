"""Post-hoc calibrators from netcal (Küppers et al. 2020), behind calibench's calibrator contract.

netcal works on *probabilities*, not logits, and has its own shape conventions: a binary
problem is given (and answered) as the ``(n,)`` confidences of class 1; a multiclass
problem as ``(n, C)``, calibrated one-vs-all by the binning methods and renormalised.
:class:`NetcalCalibrator` hides all of that: it takes ``(n, C)`` logits for any C >= 2,
passes ``softmax(logits)`` (class 1's column when C = 2) to netcal, and returns ``(n, C)``
probabilities clipped to [0, 1] with rows summing to 1. A row that netcal calibrates to
all zeros (possible with the binning methods, when every one-vs-all map gives 0) falls back
to the uncalibrated softmax row rather than to 0/0.

netcal prints progress bars and warnings to stdout/stderr; library code must stay quiet,
so that output is captured and lines starting with ``WARNING`` are re-raised as Python
warnings (e.g. a class absent from the fitting labels).

The methods, all multiclass unless stated (netcal's own one-vs-all or multinomial forms):

* ``vector-scaling`` -- netcal ``LogisticCalibration`` fitted by maximum likelihood: a
  weight and a bias per class on netcal's inverse softmax ``log p`` (Guo et al. 2017's
  vector scaling acts on the raw logits; on ``log p = z - logsumexp(z)`` the family differs
  by a per-row shift times the weights, so fitted numbers are not interchangeable). For
  C = 2 it is Platt scaling (Platt 1999) of the log-odds.
* ``histogram-binning`` (Zadrozny & Elkan 2001): equal-width bins, one-vs-all.
* ``isotonic`` (Zadrozny & Elkan 2002): isotonic regression, one-vs-all.
* ``bbq`` (Naeini et al. 2015): Bayesian binning into quantiles, one-vs-all.
* ``enir`` (Naeini & Cooper 2016): ensemble of near-isotonic regressions, one-vs-all.
  Data-hungry: fitted on 600 synthetic binary examples (scale-3 overconfident, see
  tests/baselines) netcal's map was non-monotone and took held-out ECE only from 0.13 to
  0.09 (isotonic: 0.03); fitted on 1500 it reached 0.014 (isotonic: 0.009).
* ``beta-calibration`` (Kull et al. 2017): **binary tasks only**, as published. netcal also
  has a multinomial extension of its own for C > 2; it is refused here because it is not
  the published method and its derivative-free fit took 4-16 s for 400 examples x 3
  classes on this machine.

Fitting cost: the scaling methods use netcal's derivative-free scipy optimisation
(about 2 s for 600 examples x 3 classes here, plus a few seconds to import pyro once),
the binning methods milliseconds to a second.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
from scipy.special import softmax

from baselines.calibrator import PostHocCalibrator
from calibench.errors import OptionError

#: a row whose calibrated probabilities sum to no more than this is treated as all-zero
ZERO_ROW = 1e-12


def to_netcal(probs: np.ndarray) -> np.ndarray:
    """netcal's input convention: class 1's confidences ``(n,)`` when binary, else ``(n, C)``."""
    return probs[:, 1] if probs.shape[1] == 2 else probs


def from_netcal(out: np.ndarray, n_classes: int) -> np.ndarray:
    """netcal's output back to ``(n, C)``: a binary ``(n,)`` (or ``(n, 1)``) is class 1's probability."""
    out = np.asarray(out, dtype=np.float64)
    if n_classes == 2:
        p1 = out.reshape(len(out), -1)[:, -1]
        return np.column_stack([1.0 - p1, p1])
    return out.reshape(len(out), n_classes)


def renormalise(probs: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and make rows sum to 1; rows with (near) zero mass take ``fallback``'s row."""
    p = np.clip(np.nan_to_num(probs, nan=0.0), 0.0, 1.0)
    total = p.sum(axis=1, keepdims=True)
    empty = total[:, 0] <= ZERO_ROW
    p[empty] = fallback[empty]
    total[empty] = fallback[empty].sum(axis=1, keepdims=True)
    return p / total


@contextlib.contextmanager
def quiet_netcal() -> Iterator[None]:
    """Swallow netcal's prints, progress bars and pyro's deprecation notices; re-raise netcal's
    ``WARNING`` lines as warnings."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield
    for line in (out.getvalue() + err.getvalue()).splitlines():
        if line.strip().upper().startswith("WARNING"):
            warnings.warn(f"netcal: {line.strip()}", RuntimeWarning, stacklevel=3)


class NetcalCalibrator(PostHocCalibrator):
    """A netcal calibration method on softmax probabilities, with calibench's contract.

    Subclasses name the netcal class (``netcal_class``, ``"module:Class"``) and map their
    own options to netcal's constructor arguments (``netcal_options``: option -> argument).
    """

    netcal_class: ClassVar[str]
    netcal_options: ClassVar[dict[str, str]] = {}
    fixed_options: ClassVar[dict[str, Any]] = {}  # netcal arguments calibench does not expose

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._model: Any = None

    def _make(self) -> Any:
        module, _, cls = self.netcal_class.partition(":")
        kwargs = {arg: self.options[opt] for opt, arg in self.netcal_options.items()}
        return getattr(importlib.import_module(module), cls)(**kwargs, **self.fixed_options)

    def fit(self, logits: np.ndarray, labels: np.ndarray) -> NetcalCalibrator:
        z, y = self._check_fit(logits, labels)
        model = self._make()
        with quiet_netcal():
            model.fit(to_netcal(softmax(z, axis=1)), y)
        self._model = model
        return self

    def predict_proba(self, logits: np.ndarray) -> np.ndarray:
        z = self._check_predict(logits)
        probs = softmax(z, axis=1)
        with quiet_netcal():
            out = self._model.transform(to_netcal(probs))
        return renormalise(from_netcal(out, probs.shape[1]), probs)

    def fitted_params(self) -> dict[str, Any]:
        import netcal

        return {"netcal": f"{self.netcal_class} {netcal.__version__}"}


class VectorScaling(NetcalCalibrator):
    """Per-class weight and bias on log-probabilities, by maximum likelihood (Platt scaling when binary)."""

    name: ClassVar[str] = "vector-scaling"
    netcal_class: ClassVar[str] = "netcal.scaling:LogisticCalibration"
    fixed_options: ClassVar[dict[str, Any]] = {"method": "mle", "temperature_only": False}

    def fitted_params(self) -> dict[str, Any]:
        m = self._model
        if m is None:
            return {}
        return {
            **super().fitted_params(),
            "weights": np.ravel(m.weights).tolist(),
            "bias": np.ravel(m.intercept).tolist(),
        }


class HistogramBinning(NetcalCalibrator):
    """Equal-width histogram binning, one-vs-all for more than two classes."""

    name: ClassVar[str] = "histogram-binning"
    defaults: ClassVar[dict[str, Any]] = {"fit_on": "dev", "bins": 10}
    netcal_class: ClassVar[str] = "netcal.binning:HistogramBinning"
    netcal_options: ClassVar[dict[str, str]] = {"bins": "bins"}
    fixed_options: ClassVar[dict[str, Any]] = {"equal_intervals": True}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        bins = self.options["bins"]
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            raise OptionError(f"histogram-binning: bins must be a positive integer, got {bins!r}")


class IsotonicRegression(NetcalCalibrator):
    """Isotonic regression of the confidences, one-vs-all for more than two classes."""

    name: ClassVar[str] = "isotonic"
    netcal_class: ClassVar[str] = "netcal.binning:IsotonicRegression"


class _ScoredEnsemble(NetcalCalibrator):
    """BBQ and ENIR average many binning models weighted by a BIC or AIC score."""

    defaults: ClassVar[dict[str, Any]] = {"fit_on": "dev", "score": "BIC"}
    netcal_options: ClassVar[dict[str, str]] = {"score": "score_function"}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if self.options["score"] not in ("BIC", "AIC"):
            raise OptionError(f"{self.name}: score must be 'BIC' or 'AIC', got {self.options['score']!r}")


class BBQ(_ScoredEnsemble):
    """Bayesian binning into quantiles: a score-weighted average of histogram binnings."""

    name: ClassVar[str] = "bbq"
    netcal_class: ClassVar[str] = "netcal.binning:BBQ"


class ENIR(_ScoredEnsemble):
    """Ensemble of near-isotonic regressions, score-weighted."""

    name: ClassVar[str] = "enir"
    netcal_class: ClassVar[str] = "netcal.binning:ENIR"


class BetaCalibration(NetcalCalibrator):
    """Beta calibration by maximum likelihood; binary tasks only (see the module docstring)."""

    name: ClassVar[str] = "beta-calibration"
    netcal_class: ClassVar[str] = "netcal.scaling:BetaCalibration"
    fixed_options: ClassVar[dict[str, Any]] = {"method": "mle"}

    def fit(self, logits: np.ndarray, labels: np.ndarray) -> BetaCalibration:
        if np.ndim(logits) == 2 and np.shape(logits)[1] > 2:
            raise OptionError(
                f"beta-calibration is defined for binary tasks (Kull et al. 2017); got "
                f"{np.shape(logits)[1]} classes. Use vector-scaling or a binning calibrator."
            )
        super().fit(logits, labels)
        return self
