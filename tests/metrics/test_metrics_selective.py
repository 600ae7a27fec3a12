"""Selective prediction metrics: against torch-uncertainty's risk-coverage code, scikit-learn's
AUROC, brute-force tie averaging, and hand-computed cases."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest

from calibench.metrics.inputs import full_index
from calibench.metrics.ood import ood_auroc
from calibench.metrics.selective import (
    aurc,
    aurc_batched,
    eaurc,
    eaurc_batched,
    misclassification_auroc,
    misclassification_auroc_batched,
    risk_coverage_curve,
    selective_accuracy,
    selective_accuracy_batched,
)


def _plain_aurc(conf, err):
    """Definition without ties: mean over k of the error rate among the k most confident."""
    order = np.argsort(-conf, kind="stable")
    e = err[order]
    return np.mean(np.cumsum(e) / np.arange(1, len(e) + 1))


def _probs_from_conf(conf, pred, n_classes=2):
    """Probability rows whose top class is ``pred`` with probability ``conf`` (>= 1/n_classes)."""
    rest = (1.0 - conf) / (n_classes - 1)
    p = np.repeat(rest[:, None], n_classes, axis=1)
    p[np.arange(len(conf)), pred] = conf
    return p


def test_hand_computed():
    # confidences 0.9 (correct), 0.8 (wrong), 0.7 (correct), 0.6 (wrong)
    conf = np.array([0.9, 0.8, 0.7, 0.6])
    labels = np.array([0, 1, 0, 1])
    probs = _probs_from_conf(conf, np.zeros(4, dtype=int))
    risks = np.array([0 / 1, 1 / 2, 1 / 3, 2 / 4])
    np.testing.assert_allclose(risk_coverage_curve(probs, labels).risk, risks)
    assert aurc(probs, labels) == pytest.approx(risks.mean())
    oracle = np.array([0, 0, 1 / 3, 2 / 4]).mean()
    assert eaurc(probs, labels) == pytest.approx(risks.mean() - oracle)
    assert selective_accuracy(probs, labels, coverage=0.5) == pytest.approx(0.5)
    assert selective_accuracy(probs, labels, coverage=0.25) == 1.0
    assert selective_accuracy(probs, labels, coverage=0.26) == 0.5  # ceil: 2 of 4 kept
    assert misclassification_auroc(probs, labels) == pytest.approx(0.75)  # pairs (0.9>0.8,0.6), (0.7>0.6)


def test_ties_are_the_expectation_over_orderings(make_predictions):
    """The tie convention: exactly the mean over every ordering of the tied inputs."""
    conf = np.array([0.9, 0.7, 0.7, 0.7, 0.6, 0.6])
    err = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    labels = err.astype(int)  # predicted class 0; wrong where the label is 1
    probs = _probs_from_conf(conf, np.zeros(6, dtype=int))
    groups = [[0], [1, 2, 3], [4, 5]]
    values = []
    for perms in itertools.product(*(itertools.permutations(g) for g in groups)):
        order = [i for p in perms for i in p]
        values.append(np.mean(np.cumsum(err[order]) / np.arange(1, 7)))
    assert aurc(probs, labels) == pytest.approx(np.mean(values), abs=1e-15)
    # and independent of the order the inputs are stored in
    perm = np.random.default_rng(0).permutation(6)
    assert aurc(probs[perm], labels[perm]) == pytest.approx(aurc(probs, labels), abs=1e-15)


def test_without_ties_matches_the_plain_definition(make_predictions):
    rng = np.random.default_rng(1)
    probs, labels = make_predictions(rng, 300, 3)
    conf, err = probs.max(axis=1), (probs.argmax(axis=1) != labels).astype(float)
    assert len(np.unique(conf)) == len(conf)
    assert aurc(probs, labels) == pytest.approx(_plain_aurc(conf, err), abs=1e-14)


@pytest.mark.parametrize(
    "fn",
    [
        aurc_batched,
        eaurc_batched,
        misclassification_auroc_batched,
        lambda p, y, idx: selective_accuracy_batched(p, y, idx, coverage=0.7),
    ],
)
def test_batched_equals_single_sample(fn, make_predictions):
    rng = np.random.default_rng(2)
    probs, labels = make_predictions(rng, 120, 3, extremes=0.2)  # one-hot rows: tied confidences of 1
    probs = probs.astype(np.float32).astype(np.float64)
    probs /= probs.sum(axis=1, keepdims=True)
    idx = rng.integers(0, 120, size=(7, 120))
    batched = fn(probs, labels, idx)
    single = [fn(probs[row], labels[row], None)[0] for row in idx]
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-13)
    assert fn(probs, labels, full_index(120))[0] == pytest.approx(fn(probs, labels, None)[0])


def test_misclassification_auroc_against_sklearn(make_predictions):
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the independent reference")
    rng = np.random.default_rng(3)
    for rounding in (None, 2):
        probs, labels = make_predictions(rng, 400, 4)
        if rounding:
            probs = np.round(probs, rounding)
            probs /= probs.sum(axis=1, keepdims=True)
        correct = probs.argmax(axis=1) == labels
        conf = probs.max(axis=1)
        ref = metrics.roc_auc_score(correct, conf)
        assert misclassification_auroc(probs, labels) == pytest.approx(ref, abs=1e-12)
        # the same statistic as OOD detection's AUROC, correct predictions as "in-distribution"
        assert misclassification_auroc(probs, labels) == pytest.approx(ood_auroc(conf[correct], conf[~correct]))


def test_misclassification_auroc_undefined_without_errors():
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    assert np.isnan(misclassification_auroc(probs, np.array([0, 1])))


def test_oracle_ranking_has_zero_eaurc():
    conf = np.array([0.99, 0.95, 0.9, 0.6, 0.55])
    labels = np.array([0, 0, 0, 1, 1])  # the two least confident are the errors
    probs = _probs_from_conf(conf, np.zeros(5, dtype=int))
    assert eaurc(probs, labels) == pytest.approx(0.0, abs=1e-15)
    assert eaurc(probs[::-1], labels[::-1]) == pytest.approx(0.0, abs=1e-15)


def test_bad_coverage():
    probs = np.array([[0.9, 0.1]])
    for bad in (0.0, 1.5, True):
        with pytest.raises(ValueError, match="coverage must lie in"):
            selective_accuracy(probs, np.array([0]), coverage=bad)


def _torch_uncertainty_risk_coverage():
    """torch-uncertainty's module file, loaded by path (its package __init__ needs torchvision)."""
    spec = importlib.util.find_spec("torch_uncertainty")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torch-uncertainty is not installed (pip install --no-deps torch-uncertainty)")
    pytest.importorskip("torchmetrics", reason="torch-uncertainty's metrics need torchmetrics")
    path = Path(next(iter(spec.submodule_search_locations))) / "metrics" / "classification" / "risk_coverage.py"
    if not path.is_file():
        pytest.skip(f"this torch-uncertainty has no {path.name}")
    module_spec = importlib.util.spec_from_file_location("_tu_risk_coverage", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_against_torch_uncertainty(make_predictions):
    tu = _torch_uncertainty_risk_coverage()
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    for n_classes in (2, 5):
        probs, labels = make_predictions(rng, 257, n_classes)  # continuous: no tied confidences
        n = len(labels)
        tprobs, tlabels = torch.tensor(probs), torch.tensor(labels)
        errors = ((tprobs.argmax(-1) != tlabels) * 1.0).double()
        tu_risk = tu._aurc_rejection_rate_compute(tprobs.max(-1).values, errors).numpy()  # coverage 1/n .. 1
        curve = risk_coverage_curve(probs, labels)
        np.testing.assert_allclose(curve.risk, tu_risk, atol=1e-12)
        tu_oracle = tu._aurc_rejection_rate_compute(-errors, errors).numpy()  # correct predictions first
        np.testing.assert_allclose(curve.oracle_risk, tu_oracle, atol=1e-12)
        assert eaurc(probs, labels) == pytest.approx(tu_risk.mean() - tu_oracle.mean(), abs=1e-12)
        # torch-uncertainty's AURC: trapezoid over those points from coverage 1/n to 1, over (1 - 1/n)
        metric = tu.AURC()
        metric.update(tprobs, tlabels)
        trapezoid = (aurc(probs, labels) - (curve.risk[0] + curve.risk[-1]) / (2 * n)) / (1 - 1 / n)
        assert float(metric.compute()) == pytest.approx(trapezoid, abs=1e-6)  # its errors are float32
        for coverage in (0.5, 0.8, 0.9):
            risk_at = tu.RiskAtxCov(coverage)
            risk_at.update(tprobs, tlabels)
            expected = 1.0 - float(risk_at.compute())
            assert selective_accuracy(probs, labels, coverage=coverage) == pytest.approx(expected, abs=1e-12)
