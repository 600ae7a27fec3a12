"""OOD detection metrics and scores against scikit-learn, with ties and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax

from calibench.metrics.ood import (
    OOD_METRIC_KEYS,
    msp,
    neg_energy,
    ood_aupr_in,
    ood_aupr_out,
    ood_auroc,
    ood_fpr_at_tpr,
    ood_metrics,
)

sklearn_metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the independent reference")


def sk_reference(s_in: np.ndarray, s_out: np.ndarray, tpr: float = 0.95) -> dict[str, float]:
    y = np.r_[np.ones(len(s_in)), np.zeros(len(s_out))]
    s = np.r_[s_in, s_out]
    fpr, tpr_curve, _ = sklearn_metrics.roc_curve(y, s, drop_intermediate=False)
    return {
        "auroc": sklearn_metrics.roc_auc_score(y, s),
        "aupr_in": sklearn_metrics.average_precision_score(y, s),
        "aupr_out": sklearn_metrics.average_precision_score(1 - y, -s),
        "fpr95": float(fpr[np.searchsorted(tpr_curve, tpr, side="left")]),
    }


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("rounding", [None, 1])  # rounded scores: many in/out ties
def test_against_sklearn(seed, rounding):
    rng = np.random.default_rng(seed)
    s_in = rng.normal(1.0, 1.0, size=rng.integers(5, 200))
    s_out = rng.normal(0.0, 1.0, size=rng.integers(5, 200))
    if rounding is not None:
        s_in, s_out = s_in.round(rounding), s_out.round(rounding)
    ours, ref = ood_metrics(s_in, s_out), sk_reference(s_in, s_out)
    assert tuple(ours) == OOD_METRIC_KEYS
    for key in OOD_METRIC_KEYS:
        assert ours[key] == pytest.approx(ref[key], abs=1e-12), key


@settings(max_examples=80, deadline=None)
@given(
    s_in=st.lists(st.integers(0, 6), min_size=1, max_size=30),
    s_out=st.lists(st.integers(0, 6), min_size=1, max_size=30),
    tpr=st.sampled_from([0.5, 0.8, 0.9, 0.95, 1.0]),
)
def test_ties_as_sklearn(s_in, s_out, tpr):
    a, b = np.asarray(s_in, float), np.asarray(s_out, float)
    ref = sk_reference(a, b, tpr)
    assert ood_auroc(a, b) == pytest.approx(ref["auroc"], abs=1e-12)
    assert ood_aupr_in(a, b) == pytest.approx(ref["aupr_in"], abs=1e-12)
    assert ood_aupr_out(a, b) == pytest.approx(ref["aupr_out"], abs=1e-12)
    assert ood_fpr_at_tpr(a, b, tpr) == pytest.approx(ref["fpr95"], abs=1e-12)


def test_hand_computed_values():
    s_in = np.array([3.0, 2.0, 1.0, 0.0])
    s_out = np.array([2.0, -1.0])
    # pairs (in > out) + 1/2 (tie): vs 2.0: 1 + 0.5; vs -1.0: 4 -> 5.5 / 8
    assert ood_auroc(s_in, s_out) == pytest.approx(5.5 / 8)
    # keep 95% of 4 in-scores -> all 4 -> threshold 0.0 -> one of two OOD scores at or above it
    assert ood_fpr_at_tpr(s_in, s_out) == 0.5
    # keep 50% -> threshold 2.0 -> the tied OOD 2.0 counts as kept
    assert ood_fpr_at_tpr(s_in, s_out, tpr=0.5) == 0.5
    assert ood_fpr_at_tpr(s_in, s_out, tpr=0.25) == 0.0
    separated = ood_metrics(s_in + 10, s_out)
    assert separated == {"auroc": 1.0, "aupr_in": 1.0, "aupr_out": 1.0, "fpr95": 0.0}


def test_direction_higher_is_in_distribution():
    s_in, s_out = np.array([0.9, 0.8, 0.7]), np.array([0.2, 0.1])
    assert ood_auroc(s_in, s_out) == 1.0
    assert ood_auroc(-s_in, -s_out) == 0.0


def test_scores_from_logits():
    logits = np.array([[2.0, 0.0, -1.0], [0.1, 0.1, 0.1], [100.0, 0.0, 0.0]])
    probs = softmax(logits, axis=1)
    np.testing.assert_allclose(msp(probs), probs.max(axis=1))
    np.testing.assert_allclose(neg_energy(logits), np.log(np.exp(logits).sum(axis=1)))
    np.testing.assert_allclose(neg_energy(logits, T=2.0), 2.0 * np.log(np.exp(logits / 2.0).sum(axis=1)))
    assert np.isfinite(neg_energy(np.array([[1000.0, 0.0]]))).all()  # logsumexp, not exp then log


@pytest.mark.parametrize(
    ("in_scores", "out_scores", "match"),
    [
        (np.array([]), np.array([1.0]), "in_scores is empty"),
        (np.array([1.0]), np.array([[1.0]]), "out_scores must be a 1-D array"),
        (np.array([1.0, np.nan]), np.array([1.0]), "in_scores contains non-finite"),
        (np.array(["a"]), np.array([1.0]), "in_scores must hold real numbers"),
    ],
)
def test_bad_scores(in_scores, out_scores, match):
    with pytest.raises(ValueError, match=match):
        ood_metrics(in_scores, out_scores)


def test_bad_parameters():
    with pytest.raises(ValueError, match="tpr must lie in"):
        ood_fpr_at_tpr(np.ones(3), np.ones(3), tpr=0.0)
    with pytest.raises(ValueError, match="temperature T must be positive"):
        neg_energy(np.ones((2, 2)), T=0.0)
    with pytest.raises(ValueError, match="logits contains non-finite"):
        neg_energy(np.array([[0.0, np.inf]]))


def test_metrics_do_not_import_torch():
    import subprocess
    import sys

    code = "import sys, calibench.metrics.ood; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
