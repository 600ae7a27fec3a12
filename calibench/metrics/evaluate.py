"""One call that scores a set of predictions with every reported metric, each value tagged
with the estimator that produced it (so numbers from different conventions never mix)."""

from __future__ import annotations

import numpy as np

from calibench.metrics.specs import MetricSpec, metric_spec

#: The task metrics a task spec may name, and the extra keys each adds to the report.
TASK_METRICS: dict[str, tuple[str, ...]] = {"accuracy": (), "mcc": ("mcc",), "f1": ("f1",)}


def evaluation_specs(task_metric: str, *, ece_bins: int = 15, classwise_bins: int = 20) -> dict[str, MetricSpec]:
    """The specs :func:`evaluate` computes, by report key, in report order."""
    if task_metric not in TASK_METRICS:
        raise ValueError(f"unknown task metric {task_metric!r}; expected one of {', '.join(TASK_METRICS)}")
    specs = {"accuracy": metric_spec("accuracy")}
    for key in TASK_METRICS[task_metric]:
        specs[key] = metric_spec(key)
    specs["nll"] = metric_spec("nll")
    specs["brier"] = metric_spec("brier")
    specs["ece"] = metric_spec("ece", bins=ece_bins)
    specs["ece_classwise"] = metric_spec("ece_classwise", bins=classwise_bins)
    specs["ece_adaptive"] = metric_spec("ece_adaptive", bins=ece_bins)
    specs["mce"] = metric_spec("mce", bins=ece_bins)
    return specs


def evaluate(
    probs: np.ndarray,
    labels: np.ndarray,
    task_metric: str,
    *,
    ece_bins: int = 15,
    classwise_bins: int = 20,
) -> dict[str, dict]:
    """Score ``probs`` (n, C) against ``labels`` (n,) with every reported metric.

    Returns ``{key: {"value": float, "estimator": str}}`` with keys ``accuracy``, the task
    metric (``mcc`` or ``f1``; none extra for ``accuracy``), ``nll``, ``brier``, ``ece``
    (top-label, ``ece_bins`` equal-width bins), ``ece_classwise`` (``classwise_bins`` bins),
    ``ece_adaptive`` (top-label, ``ece_bins`` equal-mass bins) and ``mce``.
    """
    specs = evaluation_specs(task_metric, ece_bins=ece_bins, classwise_bins=classwise_bins)
    return {key: {"value": spec.fn(probs, labels), "estimator": spec.estimator} for key, spec in specs.items()}
