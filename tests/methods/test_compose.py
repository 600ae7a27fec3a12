"""Method strings: recipe[+inference][+calibrator] with options, resolved through the registry."""

import pytest

from calibench.methods.compose import MethodSyntaxError, parse_method, parse_methods


def test_method_composition_defaults_and_options():
    m = parse_method("temp-scaling")
    assert (m.recipe.name, m.inference.name, m.calibrator.name) == ("baseline", "deterministic", "temp-scaling")
    m = parse_method("baseline + temp-scaling(fit_on=train, ece_bins=10)")
    assert m.label == "baseline+temp-scaling(fit_on=train,ece_bins=10)"
    assert m.calibrator.opts == {"fit_on": "train", "ece_bins": 10}
    assert parse_method("baseline").calibrator is None


def test_method_errors():
    with pytest.raises(MethodSyntaxError, match="two calibrators"):
        parse_method("temp-scaling+temp-scaling")
    with pytest.raises(MethodSyntaxError, match="key=value"):
        parse_method("temp-scaling(train)")
    with pytest.raises(MethodSyntaxError, match="no method"):
        parse_methods(" , ")
    with pytest.raises(ValueError, match="unknown option.*valid options: fit_on, objective"):
        parse_method("temp-scaling(bins=3)").calibrator.instantiate("calibrator")


def test_parse_methods_splits_outside_parentheses_and_dedups():
    ms = parse_methods("baseline,temp-scaling(fit_on=train,objective=nll),baseline")
    assert [m.label for m in ms] == ["baseline", "temp-scaling(fit_on=train,objective=nll)"]
