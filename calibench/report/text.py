"""The text every rendering shares (terminal, markdown, HTML): number formats, cells,
the legend and the rank tests' sentences, so the three say the same thing the same way."""

from __future__ import annotations

import math
from collections.abc import Mapping

from calibench.report.leaderboard import Leaderboard, MetricBoard


def fmt(x: float, digits: int = 3) -> str:
    """Fixed-point number, ``n/a`` for NaN, ``inf`` for infinity (one rule for every rendering)."""
    if math.isnan(x):
        return "n/a"
    return f"{x:.{digits}f}" if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def fmt_p(p: float) -> str:
    """A p-value to 3 decimals, ``<0.001`` below that, ``n/a`` when the test did not run."""
    if not math.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def p_clause(p: float) -> str:
    """``p = 0.029``, ``p < 0.001`` or ``p n/a``, for sentences."""
    text = fmt_p(p)
    return "p < 0.001" if text == "<0.001" else ("p n/a" if text == "n/a" else f"p = {text}")


MARKERS: Mapping[str, str] = {"better": "▲", "worse": "▼"}


def cell_text(board: MetricBoard, lb: Leaderboard, task: str, method: str, digits: int = 3) -> tuple[str, str]:
    """``("0.123 ±0.045", mark)`` (seed interval) or ``("0.123 [0.101, 0.150]", mark)`` (bootstrap
    interval, not symmetric) for one cell; ``("—", "")`` where the method was not run."""
    cell = board.cells.get((task, method))
    if cell is None:
        return "—", ""
    text = fmt(cell.mean, digits)
    if lb.ci == "seed":
        hw = cell.seed_interval.half_width
        text += f" ±{fmt(hw, digits)}" if math.isfinite(hw) else ""
    else:
        text += f" [{fmt(cell.bootstrap_low, digits)}, {fmt(cell.bootstrap_high, digits)}]"
    comp = board.comparisons.get((task, method))
    return text, MARKERS.get(comp.verdict, "") if comp else ""


def direction(board: MetricBoard) -> str:
    return "lower is better" if board.lower_is_better else "higher is better"


def legend(lb: Leaderboard, board: MetricBoard) -> list[str]:
    """The plain-text sentences that define one table's numbers and marks (every rendering prints them)."""
    o = lb.options
    out = [
        f"Cells: mean over seeds of {board.title} on the test half, {lb.ci_description()}.",
        "Bold: the best mean per task.",
        f"{MARKERS['better']} / {MARKERS['worse']}: significantly better / worse than {o.reference} "
        f"({lb.test_description()}); no mark: not significant.",
        "Avg. rank: mean over tasks of the method's rank by mean (1 = best; ties share the mean rank).",
    ]
    if board.rank_note:
        out.append(board.rank_note[0].upper() + board.rank_note[1:] + ".")
    return out


def rank_tests_text(lb: Leaderboard, board: MetricBoard) -> list[str]:
    """Plain-text Friedman / Nemenyi summary lines of one table."""
    out = []
    fr = board.friedman
    if fr is not None:
        out.append(
            f"Friedman test over {fr.n_tasks} tasks and {fr.n_methods} methods: chi2 = {fmt(fr.statistic, 3)}, "
            f"{p_clause(fr.pvalue)} (Iman-Davenport F = {fmt(fr.iman_davenport_f, 3)}, "
            f"{p_clause(fr.iman_davenport_pvalue)})."
        )
    elif board.friedman_note:
        out.append(board.friedman_note[0].upper() + board.friedman_note[1:] + ".")
    if board.cd is not None:
        out.append(
            f"Nemenyi critical difference at alpha = {lb.options.alpha:g}: {fmt(board.cd, 3)} "
            "(average ranks closer than this are not significantly different)."
        )
    return out
