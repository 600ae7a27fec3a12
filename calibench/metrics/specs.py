"""The table of metrics: every metric is looked up here by key, never reimplemented.

A :class:`MetricSpec` bundles a metric's key, its canonical estimator string, the
single-sample function and the batched (resampled) function with all parameters bound, and
whether lower is better. The statistics code (bootstrap, paired tests) consumes the batched
function; reports print the estimator string next to every value.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from calibench.metrics import calibration, classification, scoring
from calibench.metrics.inputs import estimator_string


@dataclass(frozen=True)
class MetricSpec:
    """One metric with its parameters fixed.

    ``fn(probs, labels) -> float``; ``batched(probs, labels, idx) -> (B,)`` where ``idx`` (B, m)
    holds resample rows of example indices (``None`` = the sample itself); ``fn`` is
    ``batched`` at ``idx=None``. ``params`` are the bound keyword parameters.
    """

    name: str
    estimator: str
    fn: Callable[[np.ndarray, np.ndarray], float] = field(repr=False, compare=False)
    batched: Callable[[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray] = field(repr=False, compare=False)
    lower_is_better: bool
    params: tuple[tuple[str, Any], ...] = ()
    description: str = ""

    def __call__(self, probs: np.ndarray, labels: np.ndarray) -> float:
        return self.fn(probs, labels)


@dataclass(frozen=True)
class _Definition:
    fn: Callable[..., float]
    batched: Callable[..., np.ndarray]
    estimator: Callable[..., str]
    defaults: Mapping[str, Any]
    lower_is_better: bool
    description: str


def _keyword_defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    return {
        k: v.default for k, v in inspect.signature(fn).parameters.items() if v.kind is inspect.Parameter.KEYWORD_ONLY
    }


def _define(
    fn: Callable[..., float],
    batched: Callable[..., np.ndarray],
    estimator: Callable[..., str],
    *,
    lower_is_better: bool,
    description: str,
    **defaults: Any,
) -> _Definition:
    merged = {**_keyword_defaults(fn), **defaults}
    return _Definition(fn, batched, estimator, MappingProxyType(merged), lower_is_better, description)


_DEFINITIONS: dict[str, _Definition] = {
    "accuracy": _define(
        classification.accuracy,
        classification.accuracy_batched,
        lambda: "accuracy",
        lower_is_better=False,
        description="accuracy of the arg-max prediction",
    ),
    "mcc": _define(
        classification.mcc,
        classification.mcc_batched,
        lambda: "mcc",
        lower_is_better=False,
        description="Matthews correlation coefficient (multiclass R_K, as sklearn)",
    ),
    "f1": _define(
        classification.f1,
        classification.f1_batched,
        lambda pos_label: estimator_string("f1", pos_label=pos_label),
        lower_is_better=False,
        description="F1 of the positive class (one-vs-rest)",
    ),
    "nll": _define(
        scoring.nll,
        scoring.nll_batched,
        lambda eps: estimator_string("nll", eps=eps),
        lower_is_better=True,
        description="mean negative log-likelihood, true-class probability clipped at eps",
    ),
    "brier": _define(
        scoring.brier,
        scoring.brier_batched,
        lambda: estimator_string("brier", form="multiclass-sum"),
        lower_is_better=True,
        description="Brier score, squared error summed over classes, mean over examples (range [0, 2])",
    ),
    "ece": _define(
        calibration.ece,
        calibration.ece_batched,
        calibration.ece_estimator,
        lower_is_better=True,
        description="top-label ECE, equal-width bins",
    ),
    "ece_classwise": _define(
        calibration.ece,
        calibration.ece_batched,
        calibration.ece_estimator,
        lower_is_better=True,
        description="classwise ECE (the EBM paper's): equal-width bins per class, averaged over classes",
        bins=20,
        confidence="classwise",
    ),
    "ece_adaptive": _define(
        calibration.ece,
        calibration.ece_batched,
        calibration.ece_estimator,
        lower_is_better=True,
        description="top-label ECE, equal-mass (adaptive) bins",
        scheme="mass",
    ),
    "mce": _define(
        calibration.mce,
        calibration.mce_batched,
        calibration.mce_estimator,
        lower_is_better=True,
        description="maximum calibration error over non-empty bins, top-label",
    ),
}


def metric_spec(key: str, **params: Any) -> MetricSpec:
    """The :class:`MetricSpec` of metric ``key`` with ``params`` overriding its defaults.

    ``metric_spec("ece", bins=10)`` is top-label ECE with 10 bins; unknown keys or parameters
    raise ``KeyError`` / ``TypeError`` listing the accepted ones.
    """
    try:
        d = _DEFINITIONS[key]
    except KeyError:
        raise KeyError(f"unknown metric {key!r}; known metrics: {', '.join(_DEFINITIONS)}") from None
    unknown = set(params) - set(d.defaults)
    if unknown:
        accepted = ", ".join(d.defaults) or "none"
        raise TypeError(f"metric {key!r} got unknown parameter(s) {sorted(unknown)}; accepted: {accepted}")
    bound = {**d.defaults, **params}
    return MetricSpec(
        name=key,
        estimator=d.estimator(**bound),
        fn=functools.partial(d.fn, **bound),
        batched=functools.partial(d.batched, **bound),
        lower_is_better=d.lower_is_better,
        params=tuple(bound.items()),
        description=d.description,
    )


def metric_fn(key: str, **params: Any) -> Callable[[np.ndarray, np.ndarray], float]:
    """The single-sample function ``(probs, labels) -> float`` of metric ``key``."""
    return metric_spec(key, **params).fn


def resolve_metric(metric: str | MetricSpec, **params: Any) -> MetricSpec:
    """Accept a key (plus parameters) or a ready :class:`MetricSpec` (e.g. a plugin's)."""
    if isinstance(metric, MetricSpec):
        if params:
            raise TypeError("parameters can only be given with a metric key, not with a MetricSpec")
        return metric
    return metric_spec(metric, **params)


#: Every built-in metric at its default parameters, by key.
METRICS: Mapping[str, MetricSpec] = MappingProxyType({k: metric_spec(k) for k in _DEFINITIONS})

ACCURACY = METRICS["accuracy"]
MCC = METRICS["mcc"]
F1 = METRICS["f1"]
NLL = METRICS["nll"]
BRIER = METRICS["brier"]
ECE = METRICS["ece"]
ECE_CLASSWISE = METRICS["ece_classwise"]
ECE_ADAPTIVE = METRICS["ece_adaptive"]
MCE = METRICS["mce"]
