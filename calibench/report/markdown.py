"""The leaderboard as a self-describing markdown file (``leaderboard/README.md``).

Why deterministic: CI regenerates the file from the committed results and fails on any
difference, so the output depends only on the results and the options -- no timestamps,
no machine paths, tasks and methods in a fixed order, every float in a fixed format.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from calibench.report.leaderboard import Leaderboard, MetricBoard
from calibench.report.text import (
    cell_text,
    direction,
    fmt,
    fmt_p,
    legend,
    rank_tests_text,
)

#: What the split protocols named in results mean (printed with the protocol table).
PROTOCOL_TEXT = {
    "dev-halves-v1": (
        "each official GLUE dev set is split in file order into a *dev* half (calibrator fitting) and a "
        "*test* half (every number here); the training set is optionally subsampled by a hash of "
        "(data seed, row index), the same rows for every method and seed"
    ),
    "dev-halves-v2": (
        "each official GLUE dev set is split in file order into a *dev* half (calibrator fitting: the first "
        "n//2 rows) and a *test* half (every number here: the last n//2 rows; for odd n the middle row is "
        "unused, as in the paper's code); MRPC's text is normalised as the paper's code does; the training "
        "set is optionally subsampled by a hash of (data seed, row index), the same rows for every method and seed"
    ),
}


def code(text: str) -> str:
    """``text`` as an inline code span that is safe inside a table cell.

    The fence is one backtick longer than the longest backtick run in ``text``, and ``|`` is
    written ``\\|`` (GitHub's table syntax unescapes it before parsing the span), so a method
    or task name can neither end the span nor split the table row.
    """
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    body = text.replace("|", "\\|")
    return f"{fence}{pad}{body}{pad}{fence}"


def text(s: str) -> str:
    """Plain text from runs (e.g. in a sentence) with markdown and HTML specials escaped."""
    out = []
    for ch in s:
        if ch in "\\`*_[]<>|~":
            out.append("\\" + ch)
        elif ch == "&":
            out.append("&amp;")
        else:
            out.append(ch)
    return "".join(out)


def _table(header: Sequence[str], align: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    marks = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def board_table(lb: Leaderboard, board: MetricBoard) -> list[str]:
    """The main table of one metric: methods x tasks, ± interval, marks, bold best, average rank."""
    rows = []
    for m in board.methods:
        name = code(m) + (" (reference)" if m == lb.options.reference else "")
        cells = []
        for t in lb.tasks:
            value, mark = cell_text(board, lb, t, m)
            if m in board.best.get(t, ()) and len(board.methods) > 1:
                head, _, rest = value.partition(" ")
                value = f"**{head}**" + (f" {rest}" if rest else "")
            cells.append(value + (f" {mark}" if mark else ""))
        rank = board.ranks.get(m)
        rows.append([name, *cells, fmt(rank, 2) if rank is not None else "—"])
    header = [code(t) + (" (not learnt)" if t in lb.learnt and not lb.learnt[t].learnt else "") for t in lb.tasks]
    return _table(["Method", *header, "Avg. rank"], ["l", *"r" * len(lb.tasks), "r"], rows)


def details_table(lb: Leaderboard, board: MetricBoard) -> list[str]:
    """Every number behind one metric's table, per task and method."""
    o = lb.options
    level = f"{o.confidence:.0%}"
    rows = []
    for t in lb.tasks:
        for m in sorted(board.methods):
            cell = board.cells.get((t, m))
            if cell is None:
                continue
            sc = cell.seed_interval
            seed_int = f"[{fmt(sc.low, 4)}, {fmt(sc.high, 4)}]" if math.isfinite(sc.half_width) else "n/a"
            comp = board.comparisons.get((t, m))
            if comp is None:
                comp_cells = ["—"] * 6
            else:
                b = comp.bootstrap
                st = comp.seed_tests
                comp_cells = [
                    f"{comp.difference:+.4f}",
                    f"[{b.low:+.4f}, {b.high:+.4f}]",
                    fmt_p(b.pvalue),
                    fmt_p(st.t_test.pvalue) if st else "n/a",
                    fmt_p(comp.pvalue_holm),
                    comp.verdict,
                ]
            rows.append(
                [
                    code(t),
                    code(m),
                    ", ".join(fmt(v, 4) for v in cell.values),
                    fmt(cell.mean, 4),
                    seed_int,
                    f"[{fmt(cell.bootstrap_low, 4)}, {fmt(cell.bootstrap_high, 4)}]",
                    *comp_cells,
                ]
            )
    header = [
        "Task",
        "Method",
        "Per seed",
        "Mean",
        f"{level} seed CI",
        f"{level} bootstrap CI",
        f"Δ vs {code(o.reference)}",
        f"{level} CI of Δ",
        "p (bootstrap)",
        "p (t-test)",
        "p (Holm)",
        "Verdict",
    ]
    return _table(header, ["l", "l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "l"], rows)


def protocol_lines(lb: Leaderboard) -> list[str]:
    """The protocol section: data identity, splits, seeds and training configuration per task."""
    rows = []
    for t in lb.tasks:
        i = lb.task_info[t]
        sizes = (
            f"{i.n_train if i.n_train is not None else '?'} / {i.n_dev if i.n_dev is not None else '?'} / {i.n_test}"
        )
        subsample = "full" if i.train_size is None else f"{i.train_size} (data seed {i.data_seed})"
        rows.append(
            [
                code(t),
                code(i.model),
                code(i.fingerprint),
                code(i.protocol),
                sizes,
                subsample,
                ", ".join(map(str, i.seeds)),
                str(i.n_classes),
            ]
        )
    out = ["## Protocol", ""]
    out += _table(
        [
            "Task",
            "Encoder",
            "Data fingerprint",
            "Split protocol",
            "Train / dev / test",
            "Train subsample",
            "Seeds",
            "Classes",
        ],
        ["l", "l", "l", "l", "r", "r", "r", "r"],
        rows,
    )
    for proto in sorted({i.protocol for i in lb.task_info.values()}):
        if proto in PROTOCOL_TEXT:
            out += ["", f"Split protocol {code(proto)}: {PROTOCOL_TEXT[proto]}."]
    out += ["", "Training configurations:", ""]
    trows = [
        [code(t), ", ".join(code(m) for m in methods.split(", ")), text(conf)]
        for t in lb.tasks
        for methods, conf in lb.task_info[t].trainings
    ]
    out += _table(["Task", "Methods", "Training"], ["l", "l", "l"], trows)
    return out


def render_markdown(
    lb: Leaderboard,
    *,
    command: str,
    run_commands: Sequence[str] = (),
    run_command_problems: Sequence[str] = (),
    export_command: str | None = None,
    source_note: str = "",
    sections: Sequence[str] = (),
    preamble: Sequence[str] = (),
) -> str:
    """The whole file. ``command`` regenerates it; ``run_commands`` recreate the results and
    ``export_command`` writes them where ``command`` reads them (None when it reads a store)."""
    from calibench import __version__

    o = lb.options
    n_seeds = sorted({len(i.seeds) for i in lb.task_info.values()})
    seeds = "/".join(map(str, n_seeds))
    out = [
        "<!-- Generated by calibench; do not edit by hand: CI regenerates this file from the results and "
        "fails on any difference. -->",
        "",
        "# calibench leaderboard",
        "",
        f"{lb.n_runs} runs: {len(lb.methods)} methods × {len(lb.tasks)} tasks × {seeds} seeds, generated by "
        f"calibench {__version__}. Every number is recomputed from the stored per-example test probabilities"
        + (f" {source_note}" if source_note else "")
        + "; reference method "
        + code(o.reference)
        + ".",
        "",
        "Regenerate this file with:",
        "",
        "```sh",
        command,
        "```",
    ]
    for note in lb.notes:
        out += ["", f"Note: {text(note)}."]
    if preamble:  # e.g. the benchmark layout's task verdicts (calibench.report.benchmark)
        out += ["", *preamble]
    for board in lb.boards:
        arrow = "↓" if board.lower_is_better else "↑"
        out += [
            "",
            f"## {text(board.title)} {arrow} ({direction(board)})",
            "",
            f"Estimator: {code(board.estimator)}" + (f" ({text(board.description)})." if board.description else "."),
            "",
        ]
        out += board_table(lb, board)
        out += [""] + [" ".join(legend(lb, board))]
        rank_lines = rank_tests_text(lb, board)
        if rank_lines:
            out += ["", " ".join(rank_lines)]
        out += ["", "<details><summary>Every number behind this table</summary>", ""]
        out += details_table(lb, board)
        out += [
            "",
            "Δ: mean over seeds of (method − reference) on the full test half; its interval and p (bootstrap) come "
            f"from the paired bootstrap over seeds and test examples ({o.n_resamples} resamples), p (t-test) from the "
            "paired t-test over seeds; p (Holm) is the primary test's p-value after Holm's correction over "
            + (
                f"the {lb.n_family} comparisons of this metric's table."
                if o.holm_per_metric
                else f"all {lb.n_comparisons} comparisons of this leaderboard."
            ),
            "",
            "</details>",
        ]
    out += list(sections)  # e.g. in- vs out-of-domain (calibench.report.shift)
    out += [""] + protocol_lines(lb)
    out += ["", "## Reproduce", ""]
    if run_commands:
        out += [
            "The results (add `--data-dir` for a local GLUE copy; the data fingerprints above must match):",
            "",
            "```sh",
            *run_commands,
            "```",
        ]
    for why in run_command_problems:
        out += ["", f"No single `calibench run` command line recreates {text(why)}; see the configurations above."]
    then = [export_command, command] if export_command else [command]
    out += [
        "",
        "Then " + ("export the results and " if export_command else "") + "regenerate this file:",
        "",
        "```sh",
        *then,
        "```",
        "",
    ]
    return "\n".join(out)
