"""Comparing many methods across many tasks (Demšar 2006; Benavoli, Corani & Mangili 2016).

Why ranks: metric scales differ between tasks (an ECE of 2% means something else on CoLA
than on QQP), so methods are ranked within each task and the ranks are compared. The
Friedman test asks whether any method differs; the Nemenyi critical difference says which
average-rank gaps are large enough; pairwise Wilcoxon tests with Holm's correction are the
more powerful follow-up recommended by Benavoli et al. (they do not depend on which other
methods are in the comparison).

Score tables are pandas DataFrames with one row per method and one column per task.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from calibench.stats.multiple import holm
from calibench.stats.paired import MIN_WILCOXON_PAIRS, wilcoxon_or_reason


def _check_table(score_table: pd.DataFrame, min_methods: int, min_tasks: int) -> pd.DataFrame:
    if not isinstance(score_table, pd.DataFrame):
        raise TypeError(
            "score_table must be a pandas DataFrame (rows = methods, columns = tasks), "
            f"got {type(score_table).__name__}"
        )
    k, n = score_table.shape
    if k < min_methods or n < min_tasks:
        raise ValueError(f"need at least {min_methods} methods (rows) and {min_tasks} tasks (columns), got {k} x {n}")
    if not score_table.index.is_unique:
        raise ValueError("method names (the index) must be unique")
    values = score_table.astype(np.float64)
    if values.isna().any().any():
        missing = [f"{m}/{t}" for m, t in zip(*np.nonzero(values.isna().to_numpy()))][:5]
        raise ValueError(f"score_table has missing scores (rank tests need every method on every task), e.g. {missing}")
    return values


def average_ranks(score_table: pd.DataFrame, lower_is_better: bool = True) -> pd.Series:
    """Mean over tasks of each method's rank within the task (1 = best; ties share the mean rank).

    Returned sorted from best to worst.
    """
    values = _check_table(score_table, 2, 1)
    ranks = values.rank(axis=0, method="average", ascending=lower_is_better)
    return ranks.mean(axis=1).sort_values(kind="stable").rename("average_rank")


@dataclass(frozen=True)
class FriedmanResult:
    """Friedman test of "all methods are equivalent" over tasks."""

    statistic: float  # chi-square, tie-corrected (scipy.stats.friedmanchisquare)
    pvalue: float
    n_methods: int
    n_tasks: int
    iman_davenport_f: float  # Iman & Davenport's F form of the same statistic (less conservative)
    iman_davenport_pvalue: float


def friedman(score_table: pd.DataFrame) -> FriedmanResult:
    """Friedman test over tasks (blocks) of k >= 3 methods, with the Iman-Davenport F.

    ``F = (N - 1) chi2 / (N (k - 1) - chi2)`` on ``(k - 1, (k - 1)(N - 1))`` degrees of freedom
    (Demšar 2006, eq. 2), computed from scipy's chi-square. The direction of "better" does not
    matter: reversing all ranks leaves the statistic unchanged.
    """
    values = _check_table(score_table, 3, 2)
    k, n = values.shape
    res = stats.friedmanchisquare(*values.to_numpy())
    chi2 = float(res.statistic)
    denom = n * (k - 1) - chi2
    if denom > 0:
        f_stat = (n - 1) * chi2 / denom
        f_p = float(stats.f.sf(f_stat, k - 1, (k - 1) * (n - 1)))
    else:  # every task ranks the methods identically
        f_stat, f_p = float("inf"), 0.0
    return FriedmanResult(chi2, float(res.pvalue), k, n, float(f_stat), f_p)


def pairwise_wilcoxon(
    score_table: pd.DataFrame, *, lower_is_better: bool = True, min_pairs: int = MIN_WILCOXON_PAIRS
) -> pd.DataFrame:
    """Wilcoxon signed-rank test across tasks for every pair of methods, Holm-adjusted.

    One row per pair (``method_a``, ``method_b``) with the number of tasks ``a`` wins / ties /
    loses, the statistic, the p-value and ``pvalue_holm`` (Holm over all pairs that were
    tested). Pairs with fewer than ``min_pairs`` non-zero differences get NaN and a ``note``.
    """
    values = _check_table(score_table, 2, 1)
    rows = []
    for a, b in itertools.combinations(values.index, 2):
        x, y = values.loc[a].to_numpy(), values.loc[b].to_numpy()
        better = x < y if lower_is_better else x > y
        ties = x == y
        res, reason = wilcoxon_or_reason(x, y, min_pairs)
        rows.append(
            {
                "method_a": a,
                "method_b": b,
                "wins": int(better.sum()),
                "ties": int(ties.sum()),
                "losses": int((~better & ~ties).sum()),
                "statistic": res.statistic if res else np.nan,
                "pvalue": res.pvalue if res else np.nan,
                "note": reason or "",
            }
        )
    table = pd.DataFrame(rows)
    table.insert(table.columns.get_loc("pvalue") + 1, "pvalue_holm", holm(table["pvalue"].to_numpy()))
    return table


def nemenyi_cd(n_methods: int, n_tasks: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of average ranks (Demšar 2006, eq. 3).

    ``CD = q_alpha sqrt(k (k + 1) / (6 N))`` with ``q_alpha`` the studentized range quantile
    ``studentized_range.ppf(1 - alpha, k, inf) / sqrt(2)`` (Demšar's table: 2.343 for k = 3
    at alpha = 0.05). Two methods differ significantly iff their average ranks differ by at
    least CD.
    """
    if n_methods < 2 or n_tasks < 1:
        raise ValueError(f"need at least 2 methods and 1 task, got {n_methods} and {n_tasks}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    q_alpha = stats.studentized_range.ppf(1 - alpha, n_methods, np.inf) / np.sqrt(2)
    return float(q_alpha * np.sqrt(n_methods * (n_methods + 1) / (6.0 * n_tasks)))


def nemenyi_groups(avg_ranks: pd.Series, cd: float) -> list[tuple[str, ...]]:
    """Maximal runs of methods (in rank order) whose average ranks all lie within less than ``cd``.

    These are the bars of a critical-difference diagram: methods joined by a bar are not
    significantly different. Singletons are omitted.
    """
    ranks = avg_ranks.sort_values(kind="stable")
    values = ranks.to_numpy()
    names = [str(i) for i in ranks.index]
    groups: list[tuple[str, ...]] = []
    last_end = -1
    for i in range(len(values)):
        end = int(np.flatnonzero(values - values[i] < cd).max())  # last j with r_j - r_i < cd
        if end > i and end > last_end:
            groups.append(tuple(names[i : end + 1]))
            last_end = end
    return groups
