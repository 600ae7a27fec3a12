"""The leaderboard in the terminal (rich): one table per metric, methods x tasks.

Why Text objects and not markup strings: method and task names come from runs and plugins,
and a name such as ``[red]x`` must print as itself, not restyle the table.
"""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from calibench.report.leaderboard import Leaderboard, MetricBoard
from calibench.report.text import (
    cell_text,
    direction,
    fmt,
    rank_tests_text,
)

MARK_STYLES = {"▲": "bold green", "▼": "bold red"}


def caption(lb: Leaderboard, board: MetricBoard) -> str:
    """The table's definitions in a few lines: estimator, interval, test and correction, marks."""
    o = lb.options
    parts = [
        f"{board.title} = {board.estimator}",
        lb.ci_description(),
        f"▲/▼ = better/worse than {o.reference}: {lb.test_description()}",
        "bold = best mean per task",
        "rank = mean rank over tasks",
    ]
    if board.rank_note:
        parts.append(board.rank_note)
    parts += [line[0].lower() + line[1:].rstrip(".") for line in rank_tests_text(lb, board)]
    return "; ".join(parts) + "."


def board_table(lb: Leaderboard, board: MetricBoard) -> Table:
    """One metric's rich table; the caption defines every number and mark in it."""
    arrow = "↓" if board.lower_is_better else "↑"
    table = Table(
        title=Text(f"{board.title} {arrow} ({direction(board)}), reference {lb.options.reference}", style="bold"),
        header_style="bold",
        caption=Text(caption(lb, board)),
        caption_justify="left",
    )
    table.add_column("Method", overflow="fold")
    for t in lb.tasks:
        table.add_column(Text(t), justify="right", overflow="fold")
    table.add_column("Avg. rank", justify="right", no_wrap=True)
    for m in board.methods:
        name = Text(m)
        if m == lb.options.reference:
            name.append(" (ref)", style="dim")
        row: list[RenderableType] = [name]
        for t in lb.tasks:
            value, mark = cell_text(board, lb, t, m)
            best = m in board.best.get(t, ()) and len(board.methods) > 1
            cell = Text(value, style="bold" if best else "")
            cell.append(" " + (mark or " "), style=MARK_STYLES.get(mark, ""))
            row.append(cell)
        rank = board.ranks.get(m)
        row.append(Text(fmt(rank, 2) if rank is not None else "—"))
        table.add_row(*row)
    return table


def render_terminal(lb: Leaderboard) -> RenderableType:
    """Every metric's table, then the notes and the data identity per task."""
    parts: list[RenderableType] = [board_table(lb, b) for b in lb.boards]
    info = Text()
    for t in lb.tasks:
        i = lb.task_info[t]
        info.append(
            f"{t}: {i.model}, fingerprint {i.fingerprint}, {i.protocol}, seeds {', '.join(map(str, i.seeds))}, "
            f"n_test {i.n_test}\n",
            style="dim",
        )
    for note in lb.notes:
        info.append(f"note: {note}\n", style="yellow")
    parts.append(info)
    return Group(*parts)


def print_leaderboard(lb: Leaderboard, console: Console) -> None:
    console.print(render_terminal(lb))
