"""Estimator strings back to metrics: a stored value is recomputed with the estimator that made it.

Why: a stored value says which estimator produced it (e.g. ECE with 10 bins); a
recomputation must use that estimator, not the metric's current default.
"""

from __future__ import annotations

from typing import Any

from calibench.metrics.specs import MetricSpec, get_metric
from calibench.specstring import SpecSyntaxError, parse_call


class EstimatorMismatch(ValueError):
    """A stored estimator string that this calibench's metric cannot reproduce."""


def parse_estimator(estimator: str) -> tuple[str, dict[str, Any]]:
    """Split a canonical estimator string ``name(k=v,...)`` into its name and parsed parameters."""
    try:
        name, options = parse_call(estimator)
    except SpecSyntaxError:
        raise ValueError(f"malformed estimator string {estimator!r}") from None
    return name, dict(options)


def _typed_like(value: Any, default: Any) -> Any:
    """``15`` stays an int, but becomes ``15.0`` where the parameter is a float (so strings round-trip)."""
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def spec_from_estimator(key: str, estimator: str) -> MetricSpec:
    """The :class:`MetricSpec` of metric ``key`` that produces exactly ``estimator``.

    The string's parameters that the metric accepts are bound; the spec's own estimator
    string must then equal ``estimator``, else :class:`EstimatorMismatch` is raised.
    """
    metric = get_metric(key)
    _, raw = parse_estimator(estimator)
    params = {k: _typed_like(v, metric.defaults[k]) for k, v in raw.items() if k in metric.defaults}
    try:
        spec = metric.bind(**params)
    except (TypeError, ValueError) as exc:
        raise EstimatorMismatch(f"metric {key!r}: cannot rebuild estimator {estimator!r}: {exc}") from exc
    if spec.estimator != estimator:
        raise EstimatorMismatch(
            f"metric {key!r}: stored estimator {estimator!r} cannot be reproduced (this calibench gives "
            f"{spec.estimator!r})"
        )
    return spec
