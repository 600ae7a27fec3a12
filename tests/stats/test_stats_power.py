"""Power of the paired t-test over seeds: published sample sizes, simulation, inversion."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from calibench.stats import detectable_difference, paired_t_power, seeds_needed


@pytest.mark.parametrize(("effect", "n"), [(0.2, 199), (0.5, 34), (0.8, 15), (1.0, 10)])
def test_seeds_needed_matches_published_sample_sizes(effect, n):
    # one-sample / paired t-test, two-sided alpha 0.05, power 0.8 (G*Power; Cohen 1988 tables)
    assert seeds_needed(1.0, effect) == n
    assert seeds_needed(0.01, effect * 0.01) == n  # only the ratio difference / sd matters
    assert paired_t_power(n, 1.0, effect) >= 0.8 > paired_t_power(n - 1, 1.0, effect)


def test_exact_power_is_below_the_normal_approximation():
    n_normal = ((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / 1.0) ** 2  # 7.85 for d = 1
    assert seeds_needed(1.0, 1.0) > n_normal


def test_power_agrees_with_simulation():
    rng = np.random.default_rng(0)
    n, sd, diff, reps = 6, 0.01, 0.012, 20_000
    d = rng.normal(diff, sd, size=(reps, n))
    t = d.mean(axis=1) / (d.std(axis=1, ddof=1) / np.sqrt(n))
    rejected = np.count_nonzero(2 * stats.t.sf(np.abs(t), n - 1) < 0.05)
    power = paired_t_power(n, sd, diff)
    lo, hi = stats.binom.ppf([0.0005, 0.9995], reps, power)
    assert lo <= rejected <= hi
    assert paired_t_power(n, sd, 0.0) == pytest.approx(0.05, abs=1e-12)  # size under the null


@pytest.mark.parametrize("n_seeds", [3, 5, 10, 40])
def test_detectable_difference_inverts_seeds_needed(n_seeds):
    sd = 0.004
    dd = detectable_difference(sd, n_seeds)
    assert paired_t_power(n_seeds, sd, dd) == pytest.approx(0.8, abs=1e-9)
    assert seeds_needed(sd, dd * (1 + 1e-6)) == n_seeds
    assert seeds_needed(sd, dd * (1 - 1e-6)) == n_seeds + 1
    assert detectable_difference(sd, n_seeds, power=0.9) > dd > detectable_difference(sd, n_seeds, alpha=0.1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="positive"):
        seeds_needed(0.0, 0.01)
    with pytest.raises(ValueError, match="non-zero"):
        seeds_needed(0.01, 0.0)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        detectable_difference(0.01, 1)
    with pytest.raises(ValueError, match="more than 50 seeds"):
        seeds_needed(1.0, 0.1, max_seeds=50)
