"""Calibration estimators against netcal and against a plain per-bin loop written here."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netcal.metrics import ECE as NETCAL_ECE
from netcal.metrics import MCE as NETCAL_MCE

from calibench.metrics import ece, ece_batched, ece_estimator, mce, mce_batched, mce_estimator, reliability_bins

EPS = np.finfo(np.float64).eps


# --- an independent reference: explicit loops over columns, bins and examples -------------
def reference(probs, labels, *, bins, scheme="width", norm="l1", confidence="top-label", kind="ece"):
    probs = np.asarray(probs, dtype=float)
    n, n_classes = probs.shape
    if confidence == "top-label":
        pred = np.argmax(probs, axis=1)
        columns = [(probs[np.arange(n), pred], (pred == labels).astype(float))]
    else:
        columns = [(probs[:, c], (labels == c).astype(float)) for c in range(n_classes)]
    per_column = []
    for values, hits in columns:
        values = np.clip(values, EPS, 1 - EPS)
        if scheme == "width":
            edges = np.linspace(0, 1, bins + 1)
        else:
            edges = np.quantile(values, np.linspace(0, 1, bins + 1))
            edges[0], edges[-1] = 0.0, 1.0
        total, gaps = 0.0, []
        for t in range(bins):
            members = [i for i in range(n) if edges[t] <= values[i] < edges[t + 1]]
            if not members:
                continue
            gap = abs(np.mean(hits[members]) - np.mean(values[members]))
            gaps.append(gap)
            weight = len(members) / n
            total += weight * (gap if norm == "l1" else gap**2)
        if kind == "mce":
            per_column.append(max(gaps))
        else:
            per_column.append(total if norm == "l1" else np.sqrt(total))
    return float(np.mean(per_column))


def netcal_top_label(probs, labels, bins, *, equal_intervals=True, metric=NETCAL_ECE):
    """netcal on (confidence, correct): netcal's own multiclass path, valid for any C.

    (netcal given (n, 2) probs measures the *positive-class* probability, not top-label.)
    """
    pred = np.argmax(probs, axis=1)
    conf = probs[np.arange(len(labels)), pred]
    return metric(bins, equal_intervals=equal_intervals).measure(conf, (pred == labels).astype(int))


def netcal_classwise(probs, labels, bins):
    return np.mean([NETCAL_ECE(bins).measure(probs[:, c], (labels == c).astype(int)) for c in range(probs.shape[1])])


# --- agreement with netcal ------------------------------------------------------------------
@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("bins", [1, 10, 15, 20])
@pytest.mark.parametrize("extremes", [0.0, 0.2])
def test_top_label_ece_and_mce_match_netcal(make_predictions, n_classes, bins, extremes):
    rng = np.random.default_rng(100 * n_classes + bins)
    probs, labels = make_predictions(rng, 700, n_classes, extremes=extremes)
    assert ece(probs, labels, bins=bins) == pytest.approx(netcal_top_label(probs, labels, bins), abs=1e-12)
    assert mce(probs, labels, bins=bins) == pytest.approx(
        netcal_top_label(probs, labels, bins, metric=NETCAL_MCE), abs=1e-12
    )


@pytest.mark.parametrize("n_classes", [3, 4])
def test_top_label_ece_matches_netcal_multiclass_input(make_predictions, n_classes):
    """netcal's own multiclass path (argmax/max inside netcal) gives the same number."""
    rng = np.random.default_rng(n_classes)
    probs, labels = make_predictions(rng, 900, n_classes, extremes=0.1)
    assert len(np.unique(labels)) > 2  # else netcal switches to its binary path
    assert ece(probs, labels) == pytest.approx(NETCAL_ECE(15).measure(probs, labels), abs=1e-12)
    assert mce(probs, labels) == pytest.approx(NETCAL_MCE(15).measure(probs, labels), abs=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("bins", [5, 15])
def test_adaptive_ece_matches_netcal_equal_mass(make_predictions, n_classes, bins):
    # continuous confidences: netcal's equal-mass binning raises on tied quantile edges
    rng = np.random.default_rng(bins + n_classes)
    probs, labels = make_predictions(rng, 600, n_classes)
    expected = netcal_top_label(probs, labels, bins, equal_intervals=False)
    assert ece(probs, labels, bins=bins, scheme="mass") == pytest.approx(expected, abs=1e-12)
    expected_mce = netcal_top_label(probs, labels, bins, equal_intervals=False, metric=NETCAL_MCE)
    assert mce(probs, labels, bins=bins, scheme="mass") == pytest.approx(expected_mce, abs=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3, 4])
@pytest.mark.parametrize("extremes", [0.0, 0.3])
def test_classwise_ece_is_mean_of_netcal_per_class_ece(make_predictions, n_classes, extremes):
    rng = np.random.default_rng(7 + n_classes)
    probs, labels = make_predictions(rng, 500, n_classes, extremes=extremes)
    got = ece(probs, labels, bins=20, confidence="classwise")
    assert got == pytest.approx(netcal_classwise(probs, labels, 20), abs=1e-12)
    assert got == pytest.approx(reference(probs, labels, bins=20, confidence="classwise"), abs=1e-12)


# --- agreement with the reference loop, every estimator -------------------------------------
@pytest.mark.parametrize("scheme", ["width", "mass"])
@pytest.mark.parametrize("norm", ["l1", "l2"])
@pytest.mark.parametrize("confidence", ["top-label", "classwise"])
def test_ece_matches_reference_loop(make_predictions, scheme, norm, confidence):
    rng = np.random.default_rng(3)
    probs, labels = make_predictions(rng, 300, 3, extremes=0.25)  # ties at 0 and 1 included
    for bins in (1, 7, 15):
        got = ece(probs, labels, bins=bins, scheme=scheme, norm=norm, confidence=confidence)
        want = reference(probs, labels, bins=bins, scheme=scheme, norm=norm, confidence=confidence)
        assert got == pytest.approx(want, abs=1e-12)
    got_mce = mce(probs, labels, bins=9, scheme=scheme, confidence=confidence)
    assert got_mce == pytest.approx(
        reference(probs, labels, bins=9, scheme=scheme, confidence=confidence, kind="mce"), abs=1e-12
    )


# --- hand-checked edge cases -------------------------------------------------------------
def test_confidence_exactly_one_goes_to_last_bin_and_zero_to_first():
    probs = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    labels = np.array([0, 1, 1, 1])
    # top-label: three examples at confidence 1 (2 correct) in the last bin, one at 0.5
    # (argmax tie -> class 0, wrong) in bin [0.5, 0.6) of 10
    want = 3 / 4 * abs(2 / 3 - (1 - EPS)) + 1 / 4 * abs(0 - 0.5)
    assert ece(probs, labels, bins=10) == pytest.approx(want, abs=1e-15)
    assert mce(probs, labels, bins=10) == pytest.approx(0.5, abs=1e-15)
    # classwise: class 0 has values 1,1,0,0.5 with hits 1,0,0,0; class 1 values 0,0,1,0.5 hits 0,1,1,1
    c0 = 2 / 4 * abs(1 / 2 - (1 - EPS)) + 1 / 4 * abs(0 - EPS) + 1 / 4 * 0.5
    c1 = 2 / 4 * abs(1 / 2 - EPS) + 1 / 4 * abs(1 - (1 - EPS)) + 1 / 4 * 0.5
    assert ece(probs, labels, bins=10, confidence="classwise") == pytest.approx((c0 + c1) / 2, abs=1e-15)
    assert ece(probs, labels, bins=10) == pytest.approx(netcal_top_label(probs, labels, 10), abs=1e-15)
    assert ece(probs, labels, bins=10, confidence="classwise") == pytest.approx(
        netcal_classwise(probs, labels, 10), abs=1e-15
    )


def test_confident_and_always_right_has_zero_ece():
    probs = np.eye(3)[[0, 1, 2, 2, 1]]
    labels = np.array([0, 1, 2, 2, 1])
    for confidence in ("top-label", "classwise"):
        assert ece(probs, labels, confidence=confidence) < 1e-15  # only the 2.2e-16 clip remains
        assert ece(probs, labels, scheme="mass", confidence=confidence) < 1e-15


def test_all_predictions_in_one_bin():
    rng = np.random.default_rng(5)
    conf = rng.uniform(0.90, 0.93, size=200)
    probs = np.column_stack([conf, 1 - conf])
    labels = (rng.random(200) > 0.8).astype(int)  # class 0 correct ~80% of the time
    want = abs(np.mean(labels == 0) - conf.mean())
    for bins in (1, 10, 15):
        assert ece(probs, labels, bins=bins) == pytest.approx(want, abs=1e-14)
        assert mce(probs, labels, bins=bins) == pytest.approx(want, abs=1e-14)
    assert ece(probs, labels, bins=15) == pytest.approx(netcal_top_label(probs, labels, 15), abs=1e-14)
    rel = reliability_bins(probs, labels, bins=15)
    assert rel.count.sum() == 200 and np.count_nonzero(rel.count) == 1 and rel.count[0, 13] == 200


def test_mce_ignores_empty_bins_and_ece_weights_by_count():
    probs = np.array([[0.95, 0.05]] * 3 + [[0.55, 0.45]])
    labels = np.array([0, 0, 1, 0])
    # bin [0.9, 1.0): 3 examples, acc 2/3, conf 0.95; bin [0.5, 0.6): 1 example, acc 1, conf 0.55
    assert ece(probs, labels, bins=10) == pytest.approx(0.75 * abs(2 / 3 - 0.95) + 0.25 * 0.45, abs=1e-15)
    assert mce(probs, labels, bins=10) == pytest.approx(0.45, abs=1e-15)
    assert ece(probs, labels, bins=10, norm="l2") == pytest.approx(
        np.sqrt(0.75 * (2 / 3 - 0.95) ** 2 + 0.25 * 0.45**2), abs=1e-15
    )
    assert mce(probs, labels, bins=10) == pytest.approx(netcal_top_label(probs, labels, 10, metric=NETCAL_MCE))


def test_equal_mass_with_tied_confidences_leaves_tied_edges_empty():
    # 6 of 8 confidences are exactly 1: several quantile edges coincide
    probs = np.array([[1.0, 0.0]] * 6 + [[0.6, 0.4], [0.7, 0.3]])
    labels = np.array([0, 0, 0, 0, 0, 1, 0, 1])
    got = ece(probs, labels, bins=4, scheme="mass")
    assert got == pytest.approx(reference(probs, labels, bins=4, scheme="mass"), abs=1e-15)
    rel = reliability_bins(probs, labels, bins=4, scheme="mass")
    assert rel.count.sum() == 8 and np.isnan(rel.confidence[rel.count == 0]).all()


# --- batched form ---------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 60),
    n_classes=st.integers(2, 4),
    n_resamples=st.integers(1, 6),
    resample_size=st.integers(1, 70),
    bins=st.integers(1, 16),
)
def test_batched_equals_loop_of_single(make_predictions, seed, n, n_classes, n_resamples, resample_size, bins):
    rng = np.random.default_rng(seed)
    probs, labels = make_predictions(rng, n, n_classes, extremes=0.2)
    idx = rng.integers(0, n, size=(n_resamples, resample_size))
    for scheme in ("width", "mass"):
        for confidence in ("top-label", "classwise"):
            for norm in ("l1", "l2"):
                got = ece_batched(probs, labels, idx, bins=bins, scheme=scheme, norm=norm, confidence=confidence)
                params = {"bins": bins, "scheme": scheme, "norm": norm, "confidence": confidence}
                want = [ece(probs[r], labels[r], **params) for r in idx]
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
            got = mce_batched(probs, labels, idx, bins=bins, scheme=scheme, confidence=confidence)
            want = [mce(probs[r], labels[r], bins=bins, scheme=scheme, confidence=confidence) for r in idx]
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_classes=st.integers(2, 5), bins=st.integers(1, 25))
def test_random_predictions_match_netcal_and_reference(make_predictions, seed, n_classes, bins):
    rng = np.random.default_rng(seed)
    probs, labels = make_predictions(rng, 80, n_classes, scale=rng.uniform(0.1, 5), extremes=rng.uniform(0, 0.5))
    got = ece(probs, labels, bins=bins)
    assert got == pytest.approx(netcal_top_label(probs, labels, bins), abs=1e-12)
    assert got == pytest.approx(reference(probs, labels, bins=bins), abs=1e-12)
    assert mce(probs, labels, bins=bins) == pytest.approx(netcal_top_label(probs, labels, bins, metric=NETCAL_MCE))
    assert ece(probs, labels, bins=bins, confidence="classwise") == pytest.approx(
        netcal_classwise(probs, labels, bins), abs=1e-12
    )


def test_batched_matches_netcal_per_resample(make_predictions):
    rng = np.random.default_rng(11)
    probs, labels = make_predictions(rng, 400, 3)
    idx = rng.integers(0, 400, size=(20, 400))
    got = ece_batched(probs, labels, idx)
    want = [NETCAL_ECE(15).measure(probs[r], labels[r]) for r in idx]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


# --- parameters and estimator strings ----------------------------------------------------------
def test_estimator_strings():
    assert ece_estimator() == "ece(bins=15,scheme=width,norm=l1,confidence=top-label)"
    assert ece_estimator(20, confidence="classwise") == "ece(bins=20,scheme=width,norm=l1,confidence=classwise)"
    assert ece_estimator(15, "mass") == "ece(bins=15,scheme=mass,norm=l1,confidence=top-label)"
    assert mce_estimator() == "mce(bins=15,scheme=width,confidence=top-label)"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bins": 0}, "bins must be a positive integer"),
        ({"bins": 2.5}, "bins must be a positive integer"),
        ({"scheme": "quantile"}, "scheme must be one of"),
        ({"norm": "max"}, "norm must be one of"),
        ({"confidence": "top"}, "confidence must be one of"),
    ],
)
def test_bad_parameters_are_named(kwargs, match):
    probs = np.array([[0.6, 0.4], [0.3, 0.7]])
    with pytest.raises(ValueError, match=match):
        ece(probs, np.array([0, 1]), **kwargs)
