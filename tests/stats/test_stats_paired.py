"""Paired seed tests and the paired bootstrap: scipy agreement, known answers, null rates."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from calibench.metrics import ece, metric_fn
from calibench.stats import bootstrap_pvalue, paired_bootstrap, paired_seed_tests, resample_indices

A = [0.052, 0.047, 0.061, 0.044, 0.058, 0.050, 0.049]
B = [0.041, 0.045, 0.047, 0.040, 0.049, 0.046, 0.043]


def test_paired_seed_tests_match_scipy():
    res = paired_seed_tests(A, B, confidence=0.9)
    t = stats.ttest_rel(A, B)
    w = stats.wilcoxon(A, B)
    d = np.subtract(A, B)
    assert (res.t_test.statistic, res.t_test.pvalue) == pytest.approx((t.statistic, t.pvalue), abs=1e-12)
    assert (res.wilcoxon.statistic, res.wilcoxon.pvalue) == pytest.approx((w.statistic, w.pvalue), abs=1e-12)
    assert res.wilcoxon_reason is None
    assert res.mean_difference == pytest.approx(d.mean(), abs=1e-15)
    assert res.cohens_dz == pytest.approx(d.mean() / d.std(ddof=1))
    assert (res.ci_low, res.ci_high) == pytest.approx(stats.t.interval(0.9, 6, d.mean(), stats.sem(d)), abs=1e-15)
    assert res.n == 7


def test_wilcoxon_needs_six_non_zero_pairs():
    res = paired_seed_tests(A[:5], B[:5])
    assert res.wilcoxon is None and "only 5 non-zero" in res.wilcoxon_reason
    assert res.t_test.pvalue == pytest.approx(stats.ttest_rel(A[:5], B[:5]).pvalue)
    ties = paired_seed_tests(A[:6], [*A[:5], B[5]])  # five zero differences, one non-zero
    assert ties.wilcoxon is None and "only 1 non-zero" in ties.wilcoxon_reason
    with pytest.raises(ValueError, match="at least 2 seeds"):
        paired_seed_tests([0.1], [0.2])
    with pytest.raises(ValueError, match="equal length"):
        paired_seed_tests([0.1, 0.2], [0.2])


def test_bootstrap_pvalue_construction():
    dist = np.arange(-10, 90, dtype=float)  # 100 values: 11 <= 0, 90 >= 0
    assert bootstrap_pvalue(dist) == pytest.approx(2 * (1 + 11) / 101)
    assert bootstrap_pvalue(-dist) == pytest.approx(2 * (1 + 11) / 101)
    assert bootstrap_pvalue(np.full(50, 0.3)) == pytest.approx(2 / 51)
    assert bootstrap_pvalue(np.zeros(50)) == 1.0


def test_calibrated_vs_miscalibrated_is_significant(make_task, make_model):
    rng = np.random.default_rng(0)
    logits, labels = make_task(rng, 1000)
    over = [make_model(rng, logits, temperature=0.4) for _ in range(3)]
    calibrated = [make_model(rng, logits, temperature=1.0, seed_noise=0.05) for _ in range(3)]
    res = paired_bootstrap(over, calibrated, labels, "ece", n_resamples=500, seed=1)
    assert res.difference == pytest.approx(np.mean([ece(a, labels) - ece(b, labels) for a, b in zip(over, calibrated)]))
    assert res.difference > 0.05 and res.low > 0 and res.pvalue < 0.01
    assert (res.n_seeds, res.n_examples, res.n_resamples) == (3, 1000, 500)
    assert res.estimator == "ece(bins=15,scheme=width,norm=l1,confidence=top-label)"


def test_paired_bootstrap_distribution_is_the_documented_two_level_resample(make_task, make_model):
    rng = np.random.default_rng(2)
    logits, labels = make_task(rng, 120, 3)
    a = [make_model(rng, logits) for _ in range(3)]
    b = [make_model(rng, logits) for _ in range(3)]
    res = paired_bootstrap(a, b, labels, "nll", n_resamples=25, seed=5)
    gen = np.random.default_rng(5)
    idx = resample_indices(120, 25, gen)
    seed_idx = gen.integers(0, 3, (25, 3))
    nll = metric_fn("nll")
    want = [
        np.mean([nll(a[s][r], labels[r]) - nll(b[s][r], labels[r]) for s in seed_idx[k]]) for k, r in enumerate(idx)
    ]
    np.testing.assert_allclose(res.distribution, want, rtol=0, atol=1e-12)
    same = paired_bootstrap(a, a, labels, "ece", n_resamples=50)
    assert same.difference == 0 and same.low == same.high == 0 and same.pvalue == 1.0
    with pytest.raises(ValueError, match="same non-zero number of seeds"):
        paired_bootstrap(a, b[:2], labels, "ece")


def _null_rejections(draws, n_seeds, temperature_sd, rng, make_task, make_model):
    """p < 0.05 counts for two methods drawn from the same distribution (the null is true).

    ``temperature_sd`` > 0 gives each training run its own temperature: a seed effect that
    only a comparison over several seeds can see.
    """
    boot = t = 0
    nll = metric_fn("nll")
    for d in range(draws):
        logits, labels = make_task(rng, 150)
        a = [make_model(rng, logits, temperature=1 + rng.normal(scale=temperature_sd)) for _ in range(n_seeds)]
        b = [make_model(rng, logits, temperature=1 + rng.normal(scale=temperature_sd)) for _ in range(n_seeds)]
        boot += paired_bootstrap(a, b, labels, "nll", n_resamples=200, seed=d).pvalue < 0.05
        if n_seeds > 1:
            t += paired_seed_tests([nll(x, labels) for x in a], [nll(x, labels) for x in b]).t_test.pvalue < 0.05
    return boot, t


@pytest.mark.parametrize(("n_seeds", "temperature_sd"), [(1, 0.0), (4, 0.2)])
def test_identical_methods_are_flagged_at_no_more_than_the_nominal_rate(make_task, make_model, n_seeds, temperature_sd):
    draws = 150
    rng = np.random.default_rng(10 + n_seeds)
    boot, t = _null_rejections(draws, n_seeds, temperature_sd, rng, make_task, make_model)
    upper = stats.binom.ppf(0.999, draws, 0.05)  # fails by chance with probability ~0.001
    assert boot <= upper
    assert t <= upper


def test_seed_t_test_rejects_at_the_nominal_rate_under_the_null():
    rng = np.random.default_rng(4)
    draws = 400
    a = rng.normal(size=(draws, 5))
    b = a + rng.normal(scale=0.5, size=(draws, 5))
    pvalues = [paired_seed_tests(x, y).t_test.pvalue for x, y in zip(a, b)]
    lo, hi = stats.binom.ppf([0.0005, 0.9995], draws, 0.05)
    assert lo <= np.sum(np.less(pvalues, 0.05)) <= hi
