"""How many training seeds a paired comparison needs, and what it can detect.

Why exact: with the handful of seeds fine-tuning budgets allow, the normal approximation
n = ((z_{1-a/2} + z_power) sd / delta)^2 is optimistic (it ignores that sd is estimated).
The power of the two-sided paired t-test with n pairs is computed exactly from the
noncentral t distribution: with df = n - 1, ncp = delta sqrt(n) / sd and t* the
1 - alpha/2 quantile of t(df), power = P(T > t*) + P(T < -t*) for T ~ nct(df, ncp).
"""

from __future__ import annotations

import math

from scipy import optimize, stats


def _check(sd: float, alpha: float, power: float | None = None) -> None:
    if not (sd > 0 and math.isfinite(sd)):
        raise ValueError(f"the standard deviation of the differences must be positive and finite, got {sd}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if power is not None and not alpha < power < 1:
        raise ValueError(f"power must lie in (alpha, 1), got {power}")


def paired_t_power(n_seeds: int, sd: float, difference: float, alpha: float = 0.05) -> float:
    """Exact power of the two-sided paired t-test with ``n_seeds`` pairs.

    ``sd`` is the standard deviation of the per-seed differences, ``difference`` the true
    mean difference to detect.
    """
    _check(sd, alpha)
    if n_seeds < 2:
        raise ValueError(f"a paired t-test needs at least 2 seeds, got {n_seeds}")
    df = n_seeds - 1
    ncp = abs(difference) * math.sqrt(n_seeds) / sd
    t_crit = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(t_crit, df, ncp) + stats.nct.cdf(-t_crit, df, ncp))


def seeds_needed(
    observed_sd_of_differences: float,
    detect_difference: float,
    alpha: float = 0.05,
    power: float = 0.8,
    max_seeds: int = 100_000,
) -> int:
    """Smallest number of seeds n >= 2 whose paired t-test has at least ``power`` to detect
    ``detect_difference`` at two-sided level ``alpha``.

    Starts at the normal-approximation n (a lower bound up to rounding) and steps n exactly
    with the noncentral t; raises if more than ``max_seeds`` would be needed.
    """
    sd = observed_sd_of_differences
    _check(sd, alpha, power)
    if detect_difference == 0 or not math.isfinite(detect_difference):
        raise ValueError(f"detect_difference must be non-zero and finite, got {detect_difference}")
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    n = max(2, math.floor((z * sd / abs(detect_difference)) ** 2))
    n = min(n, max_seeds)
    while n > 2 and paired_t_power(n - 1, sd, detect_difference, alpha) >= power:
        n -= 1
    while paired_t_power(n, sd, detect_difference, alpha) < power:
        n += 1
        if n > max_seeds:
            raise ValueError(f"more than {max_seeds} seeds would be needed to detect {detect_difference} with sd {sd}")
    return n


def detectable_difference(sd: float, n_seeds: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true mean difference the paired t-test with ``n_seeds`` seeds detects
    with probability ``power`` (the inverse of :func:`seeds_needed`), by root-finding on
    :func:`paired_t_power`."""
    _check(sd, alpha, power)
    if n_seeds < 2:
        raise ValueError(f"a paired t-test needs at least 2 seeds, got {n_seeds}")
    upper = sd
    while paired_t_power(n_seeds, sd, upper, alpha) < power:
        upper *= 2

    def shortfall(d: float) -> float:
        return paired_t_power(n_seeds, sd, d, alpha) - power

    return float(optimize.brentq(shortfall, 0.0, upper, xtol=1e-14 * sd, rtol=1e-12))
