"""Effects pooled over tasks: the mean over tasks of a paired difference, with its interval.

Why pooled this way: a claim such as "EBM lowers ECE" is about the method, not one task.
Each task's paired bootstrap (over its seeds and test examples) is independent of every
other task's, so the mean over tasks of one draw from each is a draw of the mean
difference; its percentile interval is the pooled interval. Tasks weigh equally (a small
task is not drowned by a large one), as the benchmark's per-task tables do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from calibench.report.leaderboard import Leaderboard


@dataclass(frozen=True)
class Pooled:
    """``method`` - ``other`` on ``metric``, averaged over ``tasks``."""

    metric: str
    method: str
    other: str
    tasks: tuple[str, ...]
    difference: float  # mean over tasks of the mean over seeds of the difference
    low: float
    high: float
    confidence: float
    seed_differences: tuple[float, ...]  # per seed: the difference averaged over tasks
    distribution: np.ndarray = field(repr=False, compare=False)

    @property
    def seed_sd(self) -> float:
        """Standard deviation over seeds of the task-averaged difference (NaN with one seed)."""
        d = np.asarray(self.seed_differences)
        return float(np.std(d, ddof=1)) if d.size > 1 else math.nan


def pooled(lb: Leaderboard, metric: str, method: str, other: str, tasks: Sequence[str]) -> Pooled | None:
    """The pooled effect, or None where a task lacks either method or the metric is not on the board."""
    if not tasks:
        return None
    dists, diffs, seeds = [], [], []
    for t in tasks:
        res = lb.resamples.get((metric, t))
        if res is None or method not in res.by_method or other not in res.by_method:
            return None
        boot = res.compare(method, other)
        dists.append(boot.distribution)
        diffs.append(boot.difference)
        seeds.append(res.points(method) - res.points(other))
    distribution = np.mean(dists, axis=0)
    alpha = (1 - lb.options.confidence) / 2
    low, high = np.quantile(distribution, [alpha, 1 - alpha])
    n_seeds = min(len(s) for s in seeds)
    per_seed = np.mean([s[:n_seeds] for s in seeds], axis=0)
    return Pooled(
        metric=metric,
        method=method,
        other=other,
        tasks=tuple(tasks),
        difference=float(np.mean(diffs)),
        low=float(low),
        high=float(high),
        confidence=lb.options.confidence,
        seed_differences=tuple(float(v) for v in per_seed),
        distribution=distribution,
    )


def interval(d: float, low: float, high: float, digits: int = 3) -> str:
    """A signed difference with its interval, e.g. ``-0.071 [-0.090, -0.052]``."""
    return f"{d:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def reading(ece: Pooled, acc: Pooled) -> str:
    """What a method does to calibration and accuracy, from the two pooled intervals."""
    ece_better, ece_worse = ece.high < 0, ece.low > 0
    acc_better, acc_worse = acc.low > 0, acc.high < 0
    if ece_better and acc_worse:
        return "buys calibration with accuracy"
    if ece_better:
        return "better calibrated and more accurate" if acc_better else "better calibrated, no clear accuracy change"
    if ece_worse:
        return "worse calibrated" + (", less accurate" if acc_worse else ", more accurate" if acc_better else "")
    return "no clear ECE change" + (", less accurate" if acc_worse else ", more accurate" if acc_better else "")
