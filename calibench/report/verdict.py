"""The one line a run ends with: which method calibrated best, and whether that is significant.

Why: a table of means invites reading noise as a ranking. The line uses the leaderboard's
own statistics (the paired bootstrap against the reference, Holm-corrected over every
comparison), recomputed from the stored probabilities of this run's results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from calibench.report.leaderboard import Leaderboard, LeaderboardOptions, build_leaderboard
from calibench.report.runs import LeaderboardError, Run
from calibench.report.text import fmt, p_clause


def verdict_line(lb: Leaderboard, metric: str = "ece") -> str:
    """Per task: the best method by ``metric`` and the Holm-corrected test against the reference."""
    board = lb.board(metric)
    ref = lb.options.reference
    word = "lower" if board.lower_is_better else "higher"
    parts = []
    for task in lb.tasks:
        best = board.best.get(task, ())
        if not best:
            continue
        method = best[0]
        mean = board.cells[(task, method)].mean
        if method == ref:
            others = [m for (t, m) in board.comparisons if t == task]
            tested = [board.comparisons[(task, m)] for m in others]
            if any(c.verdict == "worse" for c in tested) and all(c.verdict == "worse" for c in tested):
                sig = "every other method is significantly worse after Holm"
            else:
                sig = "no other method did better"
            parts.append(f"{task}: {method} {fmt(mean)} ({sig})")
            continue
        comp = board.comparisons.get((task, method))
        ref_cell = board.cells.get((task, ref))
        if comp is None or ref_cell is None:
            parts.append(f"{task}: {method} {fmt(mean)} (no {ref} to test against)")
            continue
        if comp.verdict == "better":
            sig = f"significantly {word} than {ref} {fmt(ref_cell.mean)} after Holm, {p_clause(comp.pvalue_holm)}"
        elif comp.verdict == "untested":
            sig = f"vs {ref} {fmt(ref_cell.mean)}, untested"
        else:
            sig = f"vs {ref} {fmt(ref_cell.mean)}, not significant after Holm, {p_clause(comp.pvalue_holm)}"
        parts.append(f"{task}: {method} {fmt(mean)}, {sig}")
    return f"Best calibrated by {board.title} ({word} is better): " + "; ".join(parts)


def run_verdict(runs: Sequence[Run], methods: Sequence[str], options: Mapping[str, Any] | None = None) -> str:
    """:func:`verdict_line` for one run's results; the reference is ``baseline`` when it ran, else the
    first method. Results that cannot share a leaderboard give the reason instead of a verdict."""
    if len({r.method for r in runs}) < 2:
        return ""
    reference = "baseline" if "baseline" in methods else methods[0]
    try:
        lb = build_leaderboard(runs, LeaderboardOptions(reference=reference, **dict(options or {})))
    except LeaderboardError as exc:
        return f"no verdict on the best calibration: {exc}"
    return verdict_line(lb)
