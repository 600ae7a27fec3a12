"""One call that scores a set of predictions with every reported metric, each value tagged
with the estimator that produced it (so numbers from different conventions never mix).

Which metrics a run computes is read from the metric registry, not listed here: every
registered metric of scope ``"always"``, plus the task's own metric.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from calibench.metrics.specs import MetricSpec, get_metric, metric_names


def run_option_names() -> set[str]:
    """The run-wide metric options some registered metric reads (``ece_bins``, ``classwise_bins``, ...)."""
    return {opt for name in metric_names() for opt in get_metric(name).run_options.values()}


def evaluation_specs(task_metric: str, **options: Any) -> dict[str, MetricSpec]:
    """The specs :func:`evaluate` computes, by report key, in report order.

    ``options`` are the run's metric options (e.g. ``ece_bins=10``); each metric takes the
    ones its ``run_options`` name, and keeps its default for the others.
    """
    names = metric_names()
    if task_metric not in names:
        raise ValueError(f"unknown task metric {task_metric!r}; expected one of {', '.join(names)}")
    unknown = set(options) - run_option_names()
    if unknown:
        raise TypeError(f"unknown metric option(s) {sorted(unknown)}; known: {', '.join(sorted(run_option_names()))}")
    specs: dict[str, MetricSpec] = {}
    for name in names:
        m = get_metric(name)
        if m.scope == "always" or name == task_metric:
            params = {p: options[o] for p, o in m.run_options.items() if options.get(o) is not None}
            specs[name] = m.bind(**params)
    return specs


def evaluate(probs: np.ndarray, labels: np.ndarray, task_metric: str, **options: Any) -> dict[str, dict]:
    """Score ``probs`` (n, C) against ``labels`` (n,) with every reported metric.

    Returns ``{key: {"value": float, "estimator": str}}`` for the keys of
    :func:`evaluation_specs`: for the built-ins ``accuracy``, the task metric (``mcc`` or
    ``f1``; none extra for ``accuracy``), ``nll``, ``brier``, ``ece`` (top-label,
    ``ece_bins`` equal-width bins), ``ece_classwise`` (``classwise_bins`` bins),
    ``ece_adaptive`` (top-label, ``ece_bins`` equal-mass bins) and ``mce``.
    """
    specs = evaluation_specs(task_metric, **options)
    return {key: {"value": spec.fn(probs, labels), "estimator": spec.estimator} for key, spec in specs.items()}
