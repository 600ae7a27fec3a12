"""Bootstrap and seed intervals: against scipy, against direct recomputation, and coverage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from calibench.metrics import ece, metric_spec, nll_per_example
from calibench.stats import bootstrap_ci, interval_from_distribution, jackknife_values, resample_indices, seed_ci


@pytest.fixture(scope="module")
def task(make_task, make_model):
    rng = np.random.default_rng(0)
    logits, labels = make_task(rng, 500, 3)
    return make_model(rng, logits, temperature=0.7), labels


@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize("key", ["accuracy", "nll"])
def test_per_example_mean_metrics_match_scipy_bootstrap(task, key, method):
    probs, labels = task
    per_example = (
        (probs.argmax(axis=1) == labels).astype(float) if key == "accuracy" else nll_per_example(probs, labels)
    )
    ours = bootstrap_ci(probs, labels, key, n_resamples=999, confidence=0.9, method=method, seed=7)
    ref = stats.bootstrap(
        (per_example,), np.mean, n_resamples=999, confidence_level=0.9, method=method, rng=np.random.default_rng(7)
    )
    np.testing.assert_allclose(ours.distribution, ref.bootstrap_distribution, rtol=0, atol=1e-13)
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=1e-12)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=1e-12)
    assert ours.standard_error == pytest.approx(ref.standard_error, abs=1e-13)
    assert ours.estimate == pytest.approx(per_example.mean(), abs=1e-13)
    assert (ours.method, ours.n_resamples, ours.confidence) == (method, 999, 0.9)


def test_ece_bootstrap_recomputes_the_metric_on_each_resample(task):
    probs, labels = task
    res = bootstrap_ci(probs, labels, "ece", n_resamples=40, seed=3, bins=10)
    idx = resample_indices(len(labels), 40, 3)
    want = [ece(probs[r], labels[r], bins=10) for r in idx]
    np.testing.assert_allclose(res.distribution, want, rtol=0, atol=1e-13)
    assert res.estimate == ece(probs, labels, bins=10)
    assert res.estimator == "ece(bins=10,scheme=width,norm=l1,confidence=top-label)"
    assert res.low == pytest.approx(np.quantile(want, 0.025)) and res.high == pytest.approx(np.quantile(want, 0.975))
    # a metric the resample mean cannot express: ECE of a resample is not a mean of per-example terms
    assert res.low < res.estimate < res.high


@pytest.mark.parametrize("key", ["ece", "ece_classwise", "ece_adaptive", "mcc"])
def test_jackknife_values_equal_leave_one_out_loop(task, key):
    probs, labels = task
    probs, labels = probs[:60], labels[:60]
    spec = metric_spec(key)
    want = [spec.fn(np.delete(probs, i, axis=0), np.delete(labels, i)) for i in range(60)]
    np.testing.assert_allclose(jackknife_values(spec, probs, labels), want, rtol=0, atol=1e-13)


def test_bca_reduces_to_percentile_without_bias_or_skew():
    dist = np.linspace(-1, 1, 101)  # symmetric around the estimate: z0 = 0
    jack = np.ones(10)  # no spread: acceleration taken as 0
    assert interval_from_distribution(dist, 0.0, 0.9, "bca", jack) == pytest.approx(
        interval_from_distribution(dist, 0.0, 0.9, "percentile")
    )
    with pytest.warns(RuntimeWarning, match="one side"):
        low, high = interval_from_distribution(dist, 5.0, 0.9, "bca", jack)
    assert np.isnan(low) and np.isnan(high)


def test_percentile_coverage_of_a_known_accuracy():
    """95% intervals for a known true accuracy cover it in ~95% of synthetic test sets."""
    rng = np.random.default_rng(1)
    true_acc, n, draws = 0.8, 200, 300
    covered = 0
    for d in range(draws):
        labels = np.zeros(n, dtype=int)
        correct = rng.random(n) < true_acc
        probs = np.where(correct[:, None], [[0.9, 0.1]], [[0.1, 0.9]])
        res = bootstrap_ci(probs, labels, "accuracy", n_resamples=400, seed=d)
        covered += res.low <= true_acc <= res.high
    lo, hi = stats.binom.ppf([0.0005, 0.9995], draws, 0.95)
    assert lo <= covered <= hi


def test_seed_ci_is_the_student_t_interval():
    values = [0.031, 0.027, 0.035, 0.029, 0.040]
    res = seed_ci(values, confidence=0.9)
    low, high = stats.t.interval(0.9, 4, loc=np.mean(values), scale=stats.sem(values))
    assert (res.low, res.high) == pytest.approx((low, high), abs=1e-15)
    assert res.n == 5 and res.sd == pytest.approx(np.std(values, ddof=1))
    one = seed_ci([0.5])
    assert one.mean == 0.5 and np.isnan(one.half_width) and one.n == 1


def test_bad_arguments():
    probs, labels = np.array([[0.6, 0.4], [0.2, 0.8]]), np.array([0, 1])
    with pytest.raises(ValueError, match="method"):
        bootstrap_ci(probs, labels, "accuracy", method="basic")
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(probs, labels, "accuracy", confidence=95)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci(probs, labels, "accuracy", n_resamples=0)
    with pytest.raises(TypeError, match="unknown parameter"):
        bootstrap_ci(probs, labels, "accuracy", bins=3)
    with pytest.raises(ValueError, match="NaN or inf"):
        seed_ci([0.1, np.nan])
