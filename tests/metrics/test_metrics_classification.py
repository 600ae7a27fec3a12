"""Accuracy, MCC and F1 against scikit-learn and hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, matthews_corrcoef

from calibench.metrics import accuracy, accuracy_batched, confusion_batched, f1, f1_batched, mcc, mcc_batched


def test_accuracy_and_argmax_ties_go_to_the_first_class():
    probs = np.array([[0.5, 0.5], [0.2, 0.8], [0.7, 0.3]])
    labels = np.array([0, 0, 0])  # the tie predicts class 0: correct
    assert accuracy(probs, labels) == pytest.approx(2 / 3)
    three = np.array([[0.4, 0.4, 0.2], [0.1, 0.45, 0.45]])
    assert accuracy(three, np.array([0, 1])) == 1.0


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_mcc_and_f1_match_sklearn(make_predictions, n_classes):
    rng = np.random.default_rng(n_classes)
    for n in (5, 40, 500):
        probs, labels = make_predictions(rng, n, n_classes, scale=1.0)
        pred = probs.argmax(axis=1)
        assert mcc(probs, labels) == pytest.approx(matthews_corrcoef(labels, pred), abs=1e-12)
        want_f1 = f1_score(labels, pred, labels=[1], average="macro", zero_division=0.0)
        assert f1(probs, labels) == pytest.approx(want_f1, abs=1e-12)
        if n_classes == 2:
            assert f1(probs, labels) == pytest.approx(f1_score(labels, pred, zero_division=0.0), abs=1e-12)
            assert f1(probs, labels, pos_label=0) == pytest.approx(
                f1_score(labels, pred, pos_label=0, zero_division=0.0), abs=1e-12
            )


def test_degenerate_cases_follow_sklearn():
    probs = np.array([[0.9, 0.1]] * 4)  # always predicts class 0
    labels = np.array([0, 1, 0, 1])
    assert mcc(probs, labels) == 0.0 == matthews_corrcoef(labels, probs.argmax(1))
    assert f1(probs, labels) == 0.0  # no true positive
    assert f1(probs, np.zeros(4, dtype=int)) == 0.0  # class 1 neither present nor predicted
    perfect = np.eye(3)[[0, 1, 2, 1]]
    assert mcc(perfect, np.array([0, 1, 2, 1])) == pytest.approx(1.0)
    inverse = np.eye(2)[[1, 0, 1, 0]]
    assert mcc(inverse, np.array([0, 1, 0, 1])) == pytest.approx(-1.0)


def test_binary_mcc_hand_computed():
    # tp=2, tn=1, fp=1, fn=1: (2*1 - 1*1) / sqrt(3*3*2*2)
    probs = np.eye(2)[[1, 1, 0, 1, 0]]
    labels = np.array([1, 1, 0, 0, 1])
    assert mcc(probs, labels) == pytest.approx(1 / 6)
    assert f1(probs, labels) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))


def test_confusion_counts():
    probs = np.eye(3)[[0, 1, 2, 2]]
    labels = np.array([0, 2, 2, 1])
    conf = confusion_batched(probs, labels, np.array([[0, 1, 2, 3], [1, 1, 1, 1]]))
    assert conf[0].tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    assert conf[1].tolist() == [[0, 0, 0], [0, 0, 0], [0, 4, 0]]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 50), n_classes=st.integers(2, 4), n_resamples=st.integers(1, 5))
def test_batched_equals_loop_of_single(make_predictions, seed, n, n_classes, n_resamples):
    rng = np.random.default_rng(seed)
    probs, labels = make_predictions(rng, n, n_classes, scale=0.5)
    idx = rng.integers(0, n, size=(n_resamples, n))
    for single, batched in ((accuracy, accuracy_batched), (mcc, mcc_batched), (f1, f1_batched)):
        want = [single(probs[r], labels[r]) for r in idx]
        np.testing.assert_allclose(batched(probs, labels, idx), want, rtol=0, atol=1e-12)


def test_pos_label_out_of_range():
    with pytest.raises(ValueError, match="pos_label"):
        f1(np.array([[0.6, 0.4]]), np.array([0]), pos_label=2)
