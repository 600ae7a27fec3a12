"""Estimator strings parse with the one spec-string grammar and rebuild their metric exactly."""

from __future__ import annotations

import numpy as np
import pytest

from calibench.metrics import EstimatorMismatch, Metric, parse_estimator, spec_from_estimator


def _flagged(probs, labels, *, clip=False, scale=1.0):
    p = np.clip(probs, 0.1, 0.9) if clip else probs
    return scale * float(p.max(axis=1).mean())


def test_values_parse_as_literals_and_bare_words():
    assert parse_estimator("nll(eps=1e-12)") == ("nll", {"eps": 1e-12})
    assert parse_estimator("ece(bins=15,confidence=top-label)") == ("ece", {"bins": 15, "confidence": "top-label"})
    assert parse_estimator("x(flag=False,other=true)") == ("x", {"flag": False, "other": True})
    with pytest.raises(ValueError, match="malformed"):
        parse_estimator("ece(bins=15")


def test_a_false_boolean_parameter_is_rebuilt_as_false(restore_registry):
    # the leaderboard used to rebuild parameters with type(default)(text): bool("False") is True
    metric = Metric("flagged", _flagged, lower_is_better=True, description="test only", defaults={"clip": True})
    restore_registry.register("metric", "flagged", metric, description="test only")
    spec = spec_from_estimator("flagged", "flagged(clip=False,scale=1.0)")
    assert dict(spec.params) == {"clip": False, "scale": 1.0}
    probs = np.array([[0.99, 0.01], [0.3, 0.7]])
    assert spec.fn(probs, np.array([0, 1])) == pytest.approx((0.99 + 0.7) / 2)
    # "2" binds as the float parameter it is; this calibench writes that estimator "2.0"
    with pytest.raises(EstimatorMismatch, match=r"gives 'flagged\(clip=True,scale=2.0\)'"):
        spec_from_estimator("flagged", "flagged(clip=True,scale=2)")
