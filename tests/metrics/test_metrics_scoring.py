"""NLL and Brier score against hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss

from calibench.metrics import NLL_EPS, brier, brier_batched, nll, nll_batched

PROBS = np.array([[0.7, 0.3], [0.2, 0.8], [1.0, 0.0]])
LABELS = np.array([0, 1, 1])


def test_nll_hand_computed_and_finite_at_zero_probability():
    want = (-math.log(0.7) - math.log(0.8) - math.log(1e-12)) / 3
    assert nll(PROBS, LABELS) == pytest.approx(want, rel=1e-15)
    assert NLL_EPS == 1e-12
    assert nll(PROBS[2:], LABELS[2:]) == pytest.approx(-math.log(1e-12))
    assert nll(PROBS, LABELS, eps=1e-6) == pytest.approx((-math.log(0.7) - math.log(0.8) - math.log(1e-6)) / 3)


def test_nll_matches_sklearn_log_loss_away_from_zero(make_predictions):
    probs, labels = make_predictions(np.random.default_rng(0), 200, 4, scale=1.0)
    assert nll(probs, labels) == pytest.approx(log_loss(labels, probs, labels=[0, 1, 2, 3]), rel=1e-12)


def test_brier_hand_computed_multiclass_sum_form():
    want = ((0.3**2 + 0.3**2) + (0.2**2 + 0.2**2) + (1.0 + 1.0)) / 3
    assert brier(PROBS, LABELS) == pytest.approx(want, rel=1e-15)
    three = np.array([[0.5, 0.25, 0.25]])
    assert brier(three, np.array([1])) == pytest.approx(0.25 + 0.75**2 + 0.0625)


def test_binary_brier_is_twice_sklearn_positive_class_form(make_predictions):
    probs, labels = make_predictions(np.random.default_rng(1), 300, 2)
    assert brier(probs, labels) == pytest.approx(2 * brier_score_loss(labels, probs[:, 1]), rel=1e-12)


def test_batched_equals_loop_of_single(make_predictions):
    rng = np.random.default_rng(2)
    probs, labels = make_predictions(rng, 50, 3, extremes=0.3)
    idx = rng.integers(0, 50, size=(7, 33))
    for single, batched in ((nll, nll_batched), (brier, brier_batched)):
        np.testing.assert_allclose(batched(probs, labels, idx), [single(probs[r], labels[r]) for r in idx], atol=1e-13)


def test_bad_eps():
    with pytest.raises(ValueError, match="eps"):
        nll(PROBS, LABELS, eps=0.0)
