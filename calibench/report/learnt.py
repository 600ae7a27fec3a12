"""Has the reference model learnt the task at all? Calibration of a classifier that does not
beat the majority class says little, and ranking methods on such a task ranks noise.

Rule (the benchmark layout, stated on the board): a task is *learnt* when the reference
method's mean over seeds clearly beats the majority class, i.e. when the lower ends of both
its seed interval (Student t over seeds; absent with one seed) and its bootstrap interval
(over test examples) lie above the majority class's score. The score is MCC for tasks whose
own metric is MCC (CoLA; the majority class has MCC 0), accuracy otherwise (the majority
class's accuracy is the share of the most frequent label in the test half, the best any
constant prediction reaches there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from calibench.report.leaderboard import Cell, Leaderboard


@dataclass(frozen=True)
class Learnt:
    """The verdict on one task, with the numbers behind it."""

    task: str
    metric: str  # "accuracy" or "mcc"
    majority: float  # the majority class's score on the test half
    mean: float  # the reference's mean over seeds
    low: float  # the lower of its seed and bootstrap interval's lower ends
    learnt: bool


def majority_score(metric: str, labels: np.ndarray) -> float:
    """The score of always predicting the test half's most frequent class (MCC of a constant is 0)."""
    if metric == "mcc":
        return 0.0
    return float(np.bincount(labels).max() / len(labels))


def judge_learnt(task: str, metric: str, cell: Cell, labels: np.ndarray) -> Learnt:
    """:class:`Learnt` of ``task`` from the reference's ``cell`` of ``metric`` (see the module docstring)."""
    majority = majority_score(metric, labels)
    lows = [cell.bootstrap_low]
    if math.isfinite(cell.seed_interval.half_width):
        lows.append(cell.seed_interval.low)
    low = min(lows)
    return Learnt(task, metric, majority, cell.mean, low, bool(low > majority))


def not_learnt(lb: Leaderboard) -> list[str]:
    """The tasks of ``lb`` judged not learnt, in board order (tasks not judged are not among them)."""
    return [t for t in lb.tasks if t in lb.learnt and not lb.learnt[t].learnt]
