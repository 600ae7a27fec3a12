"""The metric registry's entries: one :class:`Metric` per metric holds everything about it.

A :class:`Metric` is a metric with its parameters still open: the implementation (single-
sample and, where it exists, vectorised over resamples), its estimator string, its
direction, its description, whether it reads only the predicted classes or the full
probabilities, and whether ``calibench run`` computes it for every task or only for the tasks
whose metric it is. :meth:`Metric.bind` fixes the parameters and gives a :class:`MetricSpec`,
which is what the statistics consume and what reports print next to every value.

Built-in and plugin metrics are the same kind of entry in :mod:`calibench.registry` (kind
``"metric"``); every lookup (:func:`metric_spec`, the run's metric list in
:mod:`calibench.metrics.evaluate`, the bootstrap, the paired tests, the leaderboard) goes
through it, so a metric a plugin registers is computed, bootstrapped and ranked like a
built-in one.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from calibench.metrics import calibration, classification, robust, scoring, selective
from calibench.metrics.inputs import check_index, check_inputs, estimator_string

Needs = Literal["classes", "probabilities"]
Scope = Literal["always", "task"]


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


def _keyword_defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    return {
        k: v.default for k, v in inspect.signature(fn).parameters.items() if v.kind is inspect.Parameter.KEYWORD_ONLY
    }


def _checked(fn: Callable[..., float]) -> Callable[..., float]:
    """``fn`` called on checked inputs (float64 probabilities, int64 labels), as every built-in is."""

    @functools.wraps(fn)
    def checked(probs: np.ndarray, labels: np.ndarray, **params: Any) -> float:
        p, y = check_inputs(probs, labels)
        return float(fn(p, y, **params))

    return checked


def _looped(fn: Callable[..., float]) -> Callable[..., np.ndarray]:
    """A batched form for a metric that has only a single-sample one: one call per resample row."""

    def batched(probs: np.ndarray, labels: np.ndarray, idx: np.ndarray | None, **params: Any) -> np.ndarray:
        p, y = check_inputs(probs, labels)
        rows = check_index(idx, len(y))
        return np.array([fn(p[r], y[r], **params) for r in rows], dtype=np.float64)

    return batched


@dataclass(frozen=True)
class Metric:
    """One registry entry of kind ``"metric"``: everything calibench knows about a metric.

    * ``fn(probs, labels, **params) -> float`` is the implementation; its keyword-only
      parameters (and ``defaults``, which override them) are the metric's parameters.
    * ``batched(probs, labels, idx, **params) -> (B,)`` is the same metric on each resample row
      of ``idx``; without one, ``fn`` is called once per row (correct, slower).
    * ``estimator(**params) -> str`` names the estimator; default ``name(k=v,...)``.
    * ``needs``: ``"classes"`` if the value depends on the probabilities only through the
      arg-max class (so a calibrator that keeps the order cannot change it),
      ``"probabilities"`` otherwise.
    * ``scope``: ``"always"`` if ``calibench run`` computes it for every task, ``"task"`` if
      only for tasks whose metric it is (MCC for CoLA, F1 for MRPC).
    * ``run_options`` maps a parameter to the run-wide metric option that sets it
      (``{"bins": "ece_bins"}``: ``--ece-bins`` sets this metric's bins).
    * ``title`` is the short column title in reports (default: the key).
    """

    name: str
    fn: Callable[..., float] = field(repr=False)
    lower_is_better: bool
    description: str
    needs: Needs = "probabilities"
    batched: Callable[..., np.ndarray] | None = field(default=None, repr=False)
    estimator: Callable[..., str] | None = field(default=None, repr=False)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    scope: Scope = "always"
    run_options: Mapping[str, str] = field(default_factory=dict)
    title: str = ""

    def __post_init__(self) -> None:
        if not self.title:
            object.__setattr__(self, "title", self.name)
        if self.needs not in ("classes", "probabilities"):
            raise ValueError(f"metric {self.name!r}: needs must be 'classes' or 'probabilities', got {self.needs!r}")
        if self.scope not in ("always", "task"):
            raise ValueError(f"metric {self.name!r}: scope must be 'always' or 'task', got {self.scope!r}")
        merged = {**_keyword_defaults(self.fn), **self.defaults}
        object.__setattr__(self, "defaults", MappingProxyType(merged))
        object.__setattr__(self, "run_options", MappingProxyType(dict(self.run_options)))
        unknown = set(self.run_options) - set(merged)
        if unknown:
            raise ValueError(f"metric {self.name!r}: run_options name unknown parameter(s) {sorted(unknown)}")

    def bind(self, **params: Any) -> MetricSpec:
        """The :class:`MetricSpec` with ``params`` overriding the defaults (unknown ones raise ``TypeError``)."""
        unknown = set(params) - set(self.defaults)
        if unknown:
            accepted = ", ".join(self.defaults) or "none"
            raise TypeError(f"metric {self.name!r} got unknown parameter(s) {sorted(unknown)}; accepted: {accepted}")
        bound = {**self.defaults, **params}
        estimator = self.estimator(**bound) if self.estimator else estimator_string(self.name, **bound)
        batched = self.batched or _looped(self.fn)
        return MetricSpec(
            name=self.name,
            estimator=estimator,
            fn=functools.partial(_checked(self.fn), **bound),
            batched=functools.partial(batched, **bound),
            lower_is_better=self.lower_is_better,
            params=tuple(bound.items()),
            description=self.description,
        )


_ECE_BINS = MappingProxyType({"bins": "ece_bins"})

#: calibench's own metrics, in report order (registered by :mod:`calibench.builtin`).
BUILTIN: tuple[Metric, ...] = (
    Metric(
        "accuracy",
        classification.accuracy,
        title="Accuracy",
        batched=classification.accuracy_batched,
        estimator=lambda: "accuracy",
        lower_is_better=False,
        needs="classes",
        description="accuracy of the arg-max prediction",
    ),
    Metric(
        "mcc",
        classification.mcc,
        title="MCC",
        batched=classification.mcc_batched,
        estimator=lambda: "mcc",
        lower_is_better=False,
        needs="classes",
        scope="task",
        description="Matthews correlation coefficient (multiclass R_K, as sklearn)",
    ),
    Metric(
        "f1",
        classification.f1,
        title="F1",
        batched=classification.f1_batched,
        lower_is_better=False,
        needs="classes",
        scope="task",
        description="F1 of the positive class (one-vs-rest)",
    ),
    Metric(
        "nll",
        scoring.nll,
        title="NLL",
        batched=scoring.nll_batched,
        lower_is_better=True,
        description="mean negative log-likelihood, true-class probability clipped at eps",
    ),
    Metric(
        "brier",
        scoring.brier,
        title="Brier",
        batched=scoring.brier_batched,
        estimator=lambda: estimator_string("brier", form="multiclass-sum"),
        lower_is_better=True,
        description="Brier score, squared error summed over classes, mean over examples (range [0, 2])",
    ),
    Metric(
        "ece",
        calibration.ece,
        title="ECE",
        batched=calibration.ece_batched,
        estimator=calibration.ece_estimator,
        lower_is_better=True,
        run_options=_ECE_BINS,
        description="top-label ECE, equal-width bins",
    ),
    Metric(
        "ece_classwise",
        calibration.ece,
        title="Classwise ECE",
        batched=calibration.ece_batched,
        estimator=calibration.ece_estimator,
        lower_is_better=True,
        defaults={"bins": 20, "confidence": "classwise"},
        run_options={"bins": "classwise_bins"},
        description="classwise ECE: equal-width bins per class, averaged over classes (uncertainty-calibration's "
        "mode='marginal'; equals the EBM paper's ECE only on binary tasks)",
    ),
    Metric(
        "ece_adaptive",
        calibration.ece,
        title="Adaptive ECE",
        batched=calibration.ece_batched,
        estimator=calibration.ece_estimator,
        lower_is_better=True,
        defaults={"scheme": "mass"},
        run_options=_ECE_BINS,
        description="top-label ECE, equal-mass (adaptive) bins",
    ),
    Metric(
        "mce",
        calibration.mce,
        title="MCE",
        batched=calibration.mce_batched,
        estimator=calibration.mce_estimator,
        lower_is_better=True,
        run_options=_ECE_BINS,
        description="maximum calibration error over non-empty bins, top-label",
    ),
    Metric(
        "ece_paper",
        calibration.ece,
        title="ECE (EBM paper)",
        batched=calibration.ece_batched,
        estimator=calibration.ece_estimator,
        lower_is_better=True,
        defaults={"bins": 20, "closed": "right"},
        description="the EBM paper's ECE, uncertainty-calibration's get_ece(num_bins=20): top-label, 20 "
        "equal-width bins (a, b]",
    ),
    Metric(
        "smece",
        robust.smece,
        title="SmoothECE",
        batched=robust.smece_batched,
        estimator=robust.smece_estimator,
        lower_is_better=True,
        description="SmoothECE (relplot): top-label residual kernel-smoothed, bandwidth chosen from the data",
    ),
    Metric(
        "debiased_l2_ce",
        robust.debiased_l2_ce,
        title="Debiased L2 CE",
        batched=robust.debiased_l2_ce_batched,
        estimator=robust.debiased_l2_ce_estimator,
        lower_is_better=True,
        description="debiased top-label L2 calibration error, 15 equal-mass bins (uncertainty-calibration; "
        "NaN below 15 examples)",
    ),
    Metric(
        "aurc",
        selective.aurc,
        title="AURC",
        batched=selective.aurc_batched,
        estimator=lambda: selective.selective_estimator("aurc"),
        lower_is_better=True,
        description="area under the risk-coverage curve of MSP: mean selective risk over coverages k/n",
    ),
    Metric(
        "eaurc",
        selective.eaurc,
        title="E-AURC",
        batched=selective.eaurc_batched,
        estimator=lambda: selective.selective_estimator("eaurc"),
        lower_is_better=True,
        description="AURC minus the AURC of the oracle ranking at the same accuracy",
    ),
    *(
        Metric(
            selective.coverage_key(coverage),
            selective.selective_accuracy,
            title=f"Sel. acc. @{coverage:.0%}",
            batched=selective.selective_accuracy_batched,
            estimator=lambda coverage: selective.selective_estimator("selective_accuracy", coverage=coverage),
            lower_is_better=False,
            defaults={"coverage": coverage},
            description=f"accuracy on the {coverage:.0%} most confident test inputs (MSP)",
        )
        for coverage in selective.REPORTED_COVERAGES
    ),
    Metric(
        "misclassification_auroc",
        selective.misclassification_auroc,
        title="Misclass. AUROC",
        batched=selective.misclassification_auroc_batched,
        estimator=selective.auroc_estimator,
        lower_is_better=False,
        description="AUROC of MSP for telling correct predictions from errors (NaN without both)",
    ),
)


def metric_names() -> list[str]:
    """Every registered metric: calibench's in report order, then plugins' by name."""
    from calibench import registry

    builtin = [m.name for m in BUILTIN]
    return builtin + [n for n in registry.names("metric") if n not in builtin]


def get_metric(key: str) -> Metric:
    """The registered :class:`Metric` ``key`` (built-in or plugin); unknown keys raise ``KeyError``."""
    from calibench import registry

    found = registry.get("metric", key)
    if not isinstance(found, Metric):
        raise TypeError(
            f"metric {key!r} is registered as {type(found).__name__}; a metric entry must be a "
            "calibench.metrics.Metric (see docs/plugins.md)"
        )
    return found


def metric_spec(key: str, **params: Any) -> MetricSpec:
    """The :class:`MetricSpec` of metric ``key`` with ``params`` overriding its defaults.

    ``metric_spec("ece", bins=10)`` is top-label ECE with 10 bins; unknown keys or parameters
    raise ``KeyError`` / ``TypeError`` listing the accepted ones.
    """
    return get_metric(key).bind(**params)


def metric_fn(key: str, **params: Any) -> Callable[[np.ndarray, np.ndarray], float]:
    """The single-sample function ``(probs, labels) -> float`` of metric ``key``."""
    return metric_spec(key, **params).fn


def resolve_metric(metric: str | MetricSpec, **params: Any) -> MetricSpec:
    """Accept a key (plus parameters) or a ready :class:`MetricSpec`."""
    if isinstance(metric, MetricSpec):
        if params:
            raise TypeError("parameters can only be given with a metric key, not with a MetricSpec")
        return metric
    return metric_spec(metric, **params)


#: Every built-in metric at its default parameters, by key.
METRICS: Mapping[str, MetricSpec] = MappingProxyType({m.name: m.bind() for m in BUILTIN})

ACCURACY = METRICS["accuracy"]
MCC = METRICS["mcc"]
F1 = METRICS["f1"]
NLL = METRICS["nll"]
BRIER = METRICS["brier"]
ECE = METRICS["ece"]
ECE_CLASSWISE = METRICS["ece_classwise"]
ECE_ADAPTIVE = METRICS["ece_adaptive"]
MCE = METRICS["mce"]
