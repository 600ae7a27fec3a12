"""The one ``name(key=value,...)`` grammar, shared by method names and estimator strings."""

from __future__ import annotations

import pytest

from calibench.methods.compose import MethodSyntaxError, parse_method
from calibench.metrics import parse_estimator
from calibench.specstring import SpecSyntaxError, format_call, parse_call, parse_value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("15", 15),
        ("1e-12", 1e-12),
        ("False", False),
        ("false", False),
        ("TRUE", True),
        ("'a b'", "a b"),
        ("top-label", "top-label"),
        ("train", "train"),
        ("0.5", 0.5),
    ],
)
def test_values(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_calls_round_trip_and_errors():
    assert parse_call("ece(bins=15, scheme=width)") == ("ece", [("bins", 15), ("scheme", "width")])
    assert format_call("ece", [("bins", 15), ("scheme", "width")]) == "ece(bins=15,scheme=width)"
    assert format_call("accuracy", {}) == "accuracy"
    with pytest.raises(SpecSyntaxError, match="not key=value"):
        parse_call("x(train)")
    with pytest.raises(SpecSyntaxError, match="cannot parse"):
        parse_call("x(a=1")


def test_method_options_and_estimators_read_values_alike():
    # one grammar: the same text gives the same value in a method option and an estimator
    m = parse_method("temp-scaling(fit_on=train,ece_bins=10)")
    assert m.calibrator.opts == dict(parse_estimator("t(fit_on=train,ece_bins=10)")[1])
    with pytest.raises(MethodSyntaxError, match="not key=value"):
        parse_method("temp-scaling(train)")
