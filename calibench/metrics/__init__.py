"""Metrics: scoring rules, task metrics and calibration estimators, each with a canonical
estimator string. Pure numpy. Every metric has a single-sample form ``f(probs, labels)`` and
a batched form ``f_batched(probs, labels, idx)`` over resample indices ``idx`` (B, m); the
former is the B = 1 case of the latter. Every metric is one :class:`Metric` entry in the
registry (built-in or plugin); look it up by key with :func:`metric_spec`.
"""

from calibench.metrics.calibration import (
    CLIP_EPS,
    ReliabilityBins,
    ece,
    ece_batched,
    ece_estimator,
    mce,
    mce_batched,
    mce_estimator,
    reliability_bins,
)
from calibench.metrics.classification import (
    accuracy,
    accuracy_batched,
    confusion_batched,
    f1,
    f1_batched,
    mcc,
    mcc_batched,
)
from calibench.metrics.estimators import EstimatorMismatch, parse_estimator, spec_from_estimator
from calibench.metrics.evaluate import evaluate, evaluation_specs, run_option_names
from calibench.metrics.inputs import ROW_SUM_ATOL, check_inputs, full_index
from calibench.metrics.scoring import (
    NLL_EPS,
    brier,
    brier_batched,
    brier_per_example,
    nll,
    nll_batched,
    nll_per_example,
)
from calibench.metrics.specs import (
    METRICS,
    Metric,
    MetricSpec,
    get_metric,
    metric_fn,
    metric_names,
    metric_spec,
    resolve_metric,
)

__all__ = [
    "CLIP_EPS",
    "METRICS",
    "NLL_EPS",
    "ROW_SUM_ATOL",
    "EstimatorMismatch",
    "Metric",
    "MetricSpec",
    "ReliabilityBins",
    "accuracy",
    "accuracy_batched",
    "brier",
    "brier_batched",
    "brier_per_example",
    "check_inputs",
    "confusion_batched",
    "ece",
    "ece_batched",
    "ece_estimator",
    "evaluate",
    "evaluation_specs",
    "f1",
    "f1_batched",
    "full_index",
    "get_metric",
    "mcc",
    "mcc_batched",
    "mce",
    "mce_batched",
    "mce_estimator",
    "metric_fn",
    "metric_names",
    "metric_spec",
    "nll",
    "nll_batched",
    "nll_per_example",
    "parse_estimator",
    "reliability_bins",
    "resolve_metric",
    "run_option_names",
    "spec_from_estimator",
]
