"""The metric table, evaluate(), input validation and registry entries."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from calibench import registry
from calibench.metrics import (
    METRICS,
    accuracy,
    brier,
    ece,
    evaluate,
    f1,
    mcc,
    mce,
    metric_fn,
    metric_spec,
    nll,
    resolve_metric,
)

ESTIMATORS = {
    "accuracy": "accuracy",
    "mcc": "mcc",
    "f1": "f1(pos_label=1)",
    "nll": "nll(eps=1e-12)",
    "brier": "brier(form=multiclass-sum)",
    "ece": "ece(bins=15,scheme=width,norm=l1,confidence=top-label)",
    "ece_classwise": "ece(bins=20,scheme=width,norm=l1,confidence=classwise)",
    "ece_adaptive": "ece(bins=15,scheme=mass,norm=l1,confidence=top-label)",
    "mce": "mce(bins=15,scheme=width,confidence=top-label)",
    "ece_paper": "ece(bins=20,scheme=width,norm=l1,confidence=top-label,closed=right)",
    "smece": "smece(confidence=top-label,kernel=reflected-gaussian,bandwidth=auto,eps=0.001)",
    "debiased_l2_ce": "debiased_l2_ce(bins=15,scheme=mass-midpoints,confidence=top-label)",
    "aurc": "aurc(score=msp,ties=expected)",
    "eaurc": "eaurc(score=msp,ties=expected)",
    "selective_accuracy_80": "selective_accuracy(coverage=0.8,score=msp,ties=expected)",
    "selective_accuracy_90": "selective_accuracy(coverage=0.9,score=msp,ties=expected)",
    "misclassification_auroc": "misclassification_auroc(score=msp,ties=half)",
}
EXTRA = [
    "ece_paper",
    "smece",
    "debiased_l2_ce",
    "aurc",
    "eaurc",
    "selective_accuracy_80",
    "selective_accuracy_90",
    "misclassification_auroc",
]


@pytest.fixture(scope="module")
def binary(make_predictions):
    return make_predictions(np.random.default_rng(0), 400, 2, extremes=0.05)


def test_table_estimators_and_directions():
    assert {k: s.estimator for k, s in METRICS.items()} == ESTIMATORS
    assert {k for k, s in METRICS.items() if not s.lower_is_better} == {
        "accuracy",
        "mcc",
        "f1",
        "selective_accuracy_80",
        "selective_accuracy_90",
        "misclassification_auroc",
    }
    assert all(s.name == k for k, s in METRICS.items())


@pytest.mark.parametrize(
    ("task_metric", "keys"),
    [
        ("accuracy", ["accuracy"]),
        ("mcc", ["accuracy", "mcc"]),
        ("f1", ["accuracy", "f1"]),
    ],
)
def test_evaluate_keys_values_and_estimators(binary, task_metric, keys):
    probs, labels = binary
    out = evaluate(probs, labels, task_metric)
    assert list(out) == [*keys, "nll", "brier", "ece", "ece_classwise", "ece_adaptive", "mce", *EXTRA]
    assert {k: v["estimator"] for k, v in out.items()} == {k: ESTIMATORS[k] for k in out}
    direct = {
        "accuracy": accuracy(probs, labels),
        "mcc": mcc(probs, labels),
        "f1": f1(probs, labels),
        "nll": nll(probs, labels),
        "brier": brier(probs, labels),
        "ece": ece(probs, labels, bins=15),
        "ece_classwise": ece(probs, labels, bins=20, confidence="classwise"),
        "ece_adaptive": ece(probs, labels, bins=15, scheme="mass"),
        "mce": mce(probs, labels, bins=15),
        **{key: metric_spec(key).fn(probs, labels) for key in EXTRA},
    }
    for key, value in out.items():
        assert isinstance(value["value"], float)
        assert value["value"] == direct[key]


def test_evaluate_bins_change_values_and_estimators(binary):
    probs, labels = binary
    out = evaluate(probs, labels, "accuracy", ece_bins=10, classwise_bins=5)
    assert out["ece"]["estimator"] == "ece(bins=10,scheme=width,norm=l1,confidence=top-label)"
    assert out["ece_adaptive"]["estimator"] == "ece(bins=10,scheme=mass,norm=l1,confidence=top-label)"
    assert out["mce"]["estimator"] == "mce(bins=10,scheme=width,confidence=top-label)"
    assert out["ece_classwise"]["estimator"] == "ece(bins=5,scheme=width,norm=l1,confidence=classwise)"
    assert out["ece"]["value"] == ece(probs, labels, bins=10)
    assert out["ece_classwise"]["value"] == ece(probs, labels, bins=5, confidence="classwise")
    with pytest.raises(ValueError, match="unknown task metric 'auc'"):
        evaluate(probs, labels, "auc")


def test_metric_spec_binds_parameters(binary):
    probs, labels = binary
    spec = metric_spec("ece", bins=10, norm="l2")
    assert spec.estimator == "ece(bins=10,scheme=width,norm=l2,confidence=top-label)"
    assert dict(spec.params) == {
        "bins": 10,
        "scheme": "width",
        "norm": "l2",
        "confidence": "top-label",
        "closed": "left",
    }
    assert spec(probs, labels) == ece(probs, labels, bins=10, norm="l2")
    assert spec.batched(probs, labels, None)[0] == spec.fn(probs, labels)
    assert metric_fn("f1", pos_label=0)(probs, labels) == f1(probs, labels, pos_label=0)
    assert metric_spec("nll", eps=1e-6).estimator == "nll(eps=1e-06)"
    assert resolve_metric(spec) is spec
    assert resolve_metric("mce") == METRICS["mce"]
    with pytest.raises(KeyError, match=r"unknown metric 'ecee'.*ece_classwise"):
        metric_spec("ecee")
    with pytest.raises(TypeError, match=r"unknown parameter.*accepted: bins, scheme, norm, confidence"):
        metric_spec("ece", n_bins=10)
    with pytest.raises(TypeError, match="accepted: none"):
        metric_spec("accuracy", bins=3)


@pytest.mark.parametrize(
    ("probs", "labels", "match"),
    [
        ([0.2, 0.8], [1], "2-D array of shape"),
        ([[1.0], [1.0]], [0, 0], "at least 2 classes"),
        (np.zeros((0, 2)), np.zeros(0, dtype=int), "empty"),
        ([[0.2, 0.8], [0.5, 0.5]], [1], "shape mismatch"),
        ([[0.2, 0.8]], [[1]], "shape mismatch"),
        ([[0.2, 0.8]], [1.0], "labels must be integers"),
        ([[0.2, 0.8], [0.5, 0.5]], [1, 2], r"labels out of range \[0, 2\)"),
        ([[0.2, 0.8]], [-1], "labels out of range"),
        ([[np.nan, 1.0]], [0], "non-finite"),
        ([[np.inf, 0.0]], [0], "non-finite"),
        ([[1.5, -0.5]], [0], r"lie in \[0, 1\]"),
        ([[0.2, 0.7]], [0], "sum to 1"),
    ],
)
def test_invalid_inputs_name_the_problem(probs, labels, match):
    for fn in (accuracy, nll, ece, metric_fn("ece_classwise"), metric_fn("ece_adaptive")):
        with pytest.raises(ValueError, match=match):
            fn(np.asarray(probs), np.asarray(labels))


def test_float32_softmax_rows_are_accepted(make_predictions):
    probs, labels = make_predictions(np.random.default_rng(3), 100, 3)
    p32 = probs.astype(np.float32)
    assert ece(p32, labels) == pytest.approx(ece(p32.astype(np.float64), labels), abs=0)


def test_bad_resample_index():
    probs, labels = np.array([[0.6, 0.4], [0.3, 0.7]]), np.array([0, 1])
    spec = METRICS["accuracy"]
    with pytest.raises(ValueError, match=r"idx values must lie in \[0, 2\)"):
        spec.batched(probs, labels, np.array([[0, 2]]))
    with pytest.raises(ValueError, match="2-D array"):
        spec.batched(probs, labels, np.array([0, 1]))
    with pytest.raises(ValueError, match="integer"):
        spec.batched(probs, labels, np.array([[0.0, 1.0]]))


def test_every_builtin_metric_is_one_registry_entry():
    from calibench.metrics import Metric, get_metric, metric_names
    from calibench.metrics.specs import BUILTIN

    assert metric_names()[: len(BUILTIN)] == [m.name for m in BUILTIN]
    for m in BUILTIN:
        entry = registry.get_entry("metric", m.name)
        assert entry.load() is m and get_metric(m.name) is m and isinstance(m, Metric)
        assert entry.description == m.description  # the description lives in the entry only
        assert metric_spec(m.name) == METRICS[m.name]


def test_metrics_and_stats_import_neither_torch_nor_matplotlib():
    code = (
        "import sys, calibench.metrics, calibench.stats; "
        "assert not {'torch', 'matplotlib'} & set(sys.modules), sorted({'torch', 'matplotlib'} & set(sys.modules))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=registry.__file__.rsplit("/calibench/", 1)[0])
