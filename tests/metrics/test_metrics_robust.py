"""Robust estimators (SmoothECE, debiased L2 CE) and calibench's binned ECE against the libraries'
own binned ECE wherever the conventions coincide: uncertainty-calibration's get_ece (the EBM
paper's ECE: top-label, equal-width, right-closed) and relplot's binnedECE."""

from __future__ import annotations

import numpy as np
import pytest

from calibench.metrics import ece, ece_estimator
from calibench.metrics.inputs import full_index
from calibench.metrics.robust import (
    debiased_l2_ce,
    debiased_l2_ce_batched,
    smece,
    smece_batched,
)

calibration = pytest.importorskip("calibration", reason="uncertainty-calibration is the reference")
relplot = pytest.importorskip("relplot", reason="relplot is the reference")


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_paper_ece_is_uncertainty_calibrations_get_ece(make_predictions, n_classes):
    rng = np.random.default_rng(n_classes)
    probs, labels = make_predictions(rng, 500, n_classes, extremes=0.05)
    ref = calibration.get_ece(probs, labels, num_bins=20)
    assert ece(probs, labels, bins=20, closed="right") == pytest.approx(ref, abs=1e-12)
    # the library's marginal mode is classwise ECE with the same bins
    ref_marginal = calibration.get_ece(probs, labels, num_bins=20, mode="marginal")
    assert ece(probs, labels, bins=20, confidence="classwise", closed="right") == pytest.approx(ref_marginal, abs=1e-12)


def test_right_closed_bins_at_an_edge():
    """A confidence exactly at an edge joins the lower bin (a, b], as the library bins it.

    0.5 is an edge in both conventions (10/20 = linspace(0, 1, 21)[10]); the default
    left-closed bins put it in [0.5, 0.55), right-closed ones in (0.45, 0.5], together with
    the hit at 0.53, whose residual has the opposite sign.
    """
    probs = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.53, 0.47], [0.9, 0.1]])
    labels = np.array([1, 1, 0, 0, 0])  # the 0.5s: two errors, one hit (residual +0.5); 0.53, 0.9: hits
    right = ece(probs, labels, bins=20, closed="right")
    assert right == pytest.approx(calibration.get_ece(probs, labels, num_bins=20), abs=1e-12)
    left = ece(probs, labels, bins=20)
    assert left != pytest.approx(right, abs=1e-6)
    # by hand: right-closed, (0.45, 0.5] holds the three 0.5s and (0.5, 0.55] the 0.53 (0.53 - 1)
    assert right == pytest.approx((0.5 + 0.47 + 0.1) / 5)
    assert left == pytest.approx((abs(0.5 - 0.47) + 0.1) / 5)


def test_classwise_is_not_the_papers_ece_on_three_classes():
    probs = np.array([[0.6, 0.3, 0.1], [0.5, 0.1, 0.4], [0.2, 0.7, 0.1], [0.34, 0.33, 0.33]])
    labels = np.array([0, 2, 1, 2])
    paper = calibration.get_ece(probs, labels, num_bins=20)
    assert ece(probs, labels, bins=20, closed="right") == pytest.approx(paper, abs=1e-12)
    assert ece(probs, labels, bins=20, confidence="classwise") != pytest.approx(paper, abs=1e-3)


def test_estimator_strings_keep_their_old_form():
    assert ece_estimator() == "ece(bins=15,scheme=width,norm=l1,confidence=top-label)"
    assert (
        ece_estimator(bins=20, closed="right") == "ece(bins=20,scheme=width,norm=l1,confidence=top-label,closed=right)"
    )
    with pytest.raises(ValueError, match="equal-width bins only"):
        ece_estimator(scheme="mass", closed="right")
    with pytest.raises(ValueError, match="closed must be one of"):
        ece_estimator(closed="both")


@pytest.mark.parametrize("n_bins", [10, 15])
def test_left_closed_ece_is_relplots_binned_ece(make_predictions, n_bins):
    """relplot bins int(f * nbins), i.e. [a, b); the conventions coincide below confidence 1."""
    rng = np.random.default_rng(n_bins)
    probs, labels = make_predictions(rng, 400, 3)
    f, y = relplot.multiclass_logits_to_confidences(probs, labels, probs=True)
    assert f.max() < 1.0
    assert ece(probs, labels, bins=n_bins) == pytest.approx(relplot.metrics.binnedECE(f, y, nbins=n_bins), abs=1e-12)


def test_smece_is_relplots(make_predictions):
    rng = np.random.default_rng(7)
    probs, labels = make_predictions(rng, 300, 4)
    f, y = relplot.multiclass_logits_to_confidences(probs, labels, probs=True)
    assert smece(probs, labels) == pytest.approx(relplot.smECE(f, y), abs=1e-12)
    # a calibrated sample scores far lower than an over-confident one of the same accuracy
    sharp = probs**4 / (probs**4).sum(axis=1, keepdims=True)
    assert smece(sharp, labels) > 2 * smece(probs, labels)


def test_debiased_l2_is_uncertainty_calibrations(make_predictions):
    rng = np.random.default_rng(8)
    probs, labels = make_predictions(rng, 600, 3)
    ref = calibration.get_calibration_error(probs, labels, p=2, debias=True, mode="top-label")
    assert debiased_l2_ce(probs, labels) == pytest.approx(ref, abs=1e-12)
    plugin = calibration.get_calibration_error(probs, labels, p=2, debias=False, mode="top-label")
    assert debiased_l2_ce(probs, labels) < plugin  # the variance term removed


@pytest.mark.parametrize("batched", [smece_batched, debiased_l2_ce_batched])
def test_batched_equals_single_sample(batched, make_predictions):
    rng = np.random.default_rng(9)
    probs, labels = make_predictions(rng, 80, 3)
    idx = rng.integers(0, 80, size=(3, 80))
    np.testing.assert_allclose(batched(probs, labels, idx), [batched(probs[r], labels[r], None)[0] for r in idx])
    assert batched(probs, labels, full_index(80))[0] == batched(probs, labels, None)[0]


def test_debiased_l2_is_undefined_below_bins_examples():
    assert np.isnan(debiased_l2_ce(np.array([[0.9, 0.1]] * 5), np.zeros(5, dtype=int)))
    assert np.isfinite(debiased_l2_ce(np.array([[0.9, 0.1]] * 5), np.zeros(5, dtype=int), bins=5))


def test_registered_paper_ece_and_honest_classwise_label():
    from calibench.metrics import metric_spec

    probs = np.array([[0.6, 0.3, 0.1], [0.5, 0.1, 0.4], [0.2, 0.7, 0.1], [0.34, 0.33, 0.33], [0.5, 0.25, 0.25]])
    labels = np.array([0, 2, 1, 2, 0])
    paper = metric_spec("ece_paper")
    assert paper.estimator == "ece(bins=20,scheme=width,norm=l1,confidence=top-label,closed=right)"
    assert paper.fn(probs, labels) == pytest.approx(calibration.get_ece(probs, labels, num_bins=20), abs=1e-12)
    classwise = metric_spec("ece_classwise")
    assert classwise.fn(probs, labels) != pytest.approx(paper.fn(probs, labels), abs=1e-3)
    assert "the EBM paper's)" not in classwise.description and "only on binary tasks" in classwise.description
