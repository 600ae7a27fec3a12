"""The benchmark layout's sections (``calibench leaderboard --layout benchmark``): the answer
in a few lines, which tasks were learnt, ranks across tasks with their critical-difference
diagrams, each EBM energy head to head with its competitors, the accuracy / ECE trade-off,
and the paper's claims tested -- every one generated from the board model, none written by hand.

The figures are SVG files that depend only on the numbers drawn (fixed id salt, no date),
so CI can regenerate them and compare bytes like the markdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from calibench.report.answer import answer_section
from calibench.report.claims import ENERGIES, Claim, claim_metrics, paper_claims
from calibench.report.leaderboard import Leaderboard
from calibench.report.learnt import not_learnt
from calibench.report.markdown import _table, code, text
from calibench.report.pooled import interval, pooled, reading
from calibench.report.text import MARKERS, fmt, fmt_p
from calibench.stats import holm

#: The competitors every energy meets head to head: the paper's real competitor, and the
#: other training-time calibration method.
COMPETITORS: tuple[str, ...] = ("temp-scaling", "label-smoothing")
#: Head-to-head tables shown open (the others fold into a details block).
OPEN_METRICS: tuple[str, ...] = ("ece", "ece_paper", "accuracy")
FIGURES_DIR = "figures"


@dataclass
class BenchmarkSections:
    """Markdown lines before the metric tables, after them, and the figures they link."""

    preamble: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)  # path relative to the markdown file -> bytes


def task_section(lb: Leaderboard) -> list[str]:
    """Which tasks the reference learnt (the rule of :mod:`calibench.report.learnt`)."""
    ref = lb.options.reference
    out = [
        "## Tasks: did the reference learn them?",
        "",
        f"Reference of every ▲/▼, head-to-head comparison and claim below: {code(ref)} (its training "
        "configuration per task is in the protocol table). A task counts as *learnt* when the lower ends of both "
        f"the seed interval and the bootstrap interval of {code(ref)}'s mean lie above the majority class's "
        "score: MCC 0 where the task's own metric is MCC (CoLA), else the accuracy of always predicting the test "
        "half's most frequent label.",
        "",
    ]
    rows = []
    for t in lb.tasks:
        info = lb.task_info[t]
        j = lb.learnt.get(t)
        if j is None:
            rows.append([code(t), str(info.n_test), "—", "—", "—", "—", f"not judged ({code(ref)} not run)"])
            continue
        verdict = "learnt" if j.learnt else "**not learnt: ranks here are noise**"
        rows.append([code(t), str(info.n_test), j.metric, fmt(j.majority), fmt(j.mean), fmt(j.low), verdict])
    out += _table(
        ["Task", "Test rows", "Score", "Majority class", f"{code(ref)} mean", "Lower end", "Verdict"],
        ["l", "r", "l", "r", "r", "r", "l"],
        rows,
    )
    gone = not_learnt(lb)
    if gone:
        out += [
            "",
            f"Left out of the average ranks, the Friedman tests, the trade-off summary and the claims: "
            f"{', '.join(code(t) for t in gone)} (not learnt). Their columns in the tables stay, marked.",
        ]
    return out


def ranks_section(lb: Leaderboard, figures: dict[str, bytes]) -> list[str]:
    """Average ranks per metric over the ranked tasks, Friedman / Iman-Davenport, CD diagrams."""
    from calibench.report.figures import cd_png

    tasks = ", ".join(code(t) for t in lb.rank_tasks) or "none"
    out = ["", "## Across tasks", "", f"Ranks over the {len(lb.rank_tasks)} learnt task(s): {tasks}.", ""]
    ranked = [b for b in lb.boards if b.ranks]
    if not ranked:
        return [*out, "No ranks: fewer than 2 methods run on every learnt task."]
    first = ranked[0]
    methods = sorted(first.ranks, key=lambda m: (first.ranks[m], m))
    methods += sorted({m for b in ranked for m in b.ranks} - set(methods))
    rows = [[code(m), *(fmt(b.ranks[m], 2) if m in b.ranks else "—" for b in ranked)] for m in methods]
    out += _table(["Method", *(text(b.title) for b in ranked)], ["l", *"r" * len(ranked)], rows)
    out += ["", "Average rank: mean over the learnt tasks of the method's rank by mean (1 = best).", ""]
    frows = []
    for b in ranked:
        fr = b.friedman
        if fr is None:
            frows.append([text(b.title), "—", "—", "—", "—", fmt(b.cd, 3) if b.cd is not None else "—"])
            continue
        frows.append(
            [
                text(b.title),
                fmt(fr.statistic, 2),
                fmt_p(fr.pvalue),
                fmt(fr.iman_davenport_f, 2),
                fmt_p(fr.iman_davenport_pvalue),
                fmt(b.cd, 3) if b.cd is not None else "—",
            ]
        )
    out += _table(
        ["Metric", "Friedman χ²", "p", "Iman–Davenport F", "p", f"Nemenyi CD (α = {lb.options.alpha:g})"],
        ["l", "r", "r", "r", "r", "r"],
        frows,
    )
    notes = sorted({b.friedman_note for b in ranked if b.friedman is None and b.friedman_note})
    out += [""] + [n[0].upper() + n[1:] + "." for n in notes] if notes else []
    out += [
        "",
        "Critical-difference diagrams (Demšar 2006): methods joined by a bar do not differ significantly "
        "under the Nemenyi test.",
    ]
    for b in ranked:
        image = cd_png(b, image_format="svg")
        if image is None:
            continue
        name = f"{FIGURES_DIR}/cd-{b.metric}.svg"
        figures[name] = image
        out += ["", f"![Critical-difference diagram of {text(b.title)}]({name})"]
    return out


def head_to_head_section(lb: Leaderboard) -> list[str]:
    """Each EBM energy against each competitor, per task and metric, paired bootstrap, Holm per metric."""
    energies = [e for e in ENERGIES if e in lb.methods]
    rivals = [c for c in COMPETITORS if c in lb.methods]
    out = ["", "## Head to head: EBM against its competitors", ""]
    if not energies or not rivals:
        absent = [m for m in (*ENERGIES, *COMPETITORS) if m not in lb.methods]
        return [*out, f"Not run: {', '.join(code(m) for m in absent)} absent from the results."]
    o = lb.options
    out += [
        f"Each cell: Δ = energy − competitor, mean over seeds, with the {o.confidence:.0%} interval of the paired "
        f"bootstrap over seeds and test examples ({o.n_resamples} resamples). {MARKERS['better']} / "
        f"{MARKERS['worse']}: the energy is significantly better / worse (bootstrap p after Holm's correction within "
        f"each metric's table, alpha = {o.alpha:g}). Pooled: the mean over the learnt tasks, with its interval.",
    ]
    for board in lb.boards:
        pairs = [(e, c) for e in energies for c in rivals]
        comps = {}
        for e, c in pairs:
            for t in lb.tasks:
                res = lb.resamples[(board.metric, t)]
                if {e, c} <= set(res.by_method):
                    comps[(e, c, t)] = res.compare(e, c)
        keys = list(comps)
        adjusted = dict(zip(keys, holm(np.array([comps[k].pvalue for k in keys])), strict=True))
        rows = []
        for e, c in pairs:
            cells = []
            for t in lb.tasks:
                b = comps.get((e, c, t))
                if b is None:
                    cells.append("—")
                    continue
                mark = ""
                if adjusted[(e, c, t)] <= o.alpha:
                    mark = " " + MARKERS["better" if (b.difference < 0) == board.lower_is_better else "worse"]
                cells.append(interval(b.difference, b.low, b.high) + mark)
            pool = pooled(lb, board.metric, e, c, [t for t in lb.rank_tasks if (e, c, t) in comps])
            cells.append(interval(pool.difference, pool.low, pool.high) if pool else "—")
            rows.append([f"{code(e)} vs {code(c)}", *cells])
        arrow = "↓" if board.lower_is_better else "↑"
        table = _table(
            ["Energy vs competitor", *(code(t) for t in lb.tasks), "Pooled (learnt tasks)"],
            ["l", *"r" * (len(lb.tasks) + 1)],
            rows,
        )
        title = f"{text(board.title)} {arrow} ({len(keys)} comparisons in the Holm family)"
        if board.metric in OPEN_METRICS:
            out += ["", f"### {title}", "", *table]
        else:
            out += ["", f"<details><summary>{title}</summary>", "", *table, "", "</details>"]
    return out


def tradeoff_section(lb: Leaderboard, figures: dict[str, bytes]) -> list[str]:
    """The accuracy / ECE picture per task, and per method the pooled changes against the reference."""
    from calibench.report.figures import TradeoffPoint, tradeoff_svg

    ece, acc = claim_metrics(lb)
    out = ["", "## The trade-off: accuracy against ECE", ""]
    if ece is None or acc is None:
        return [*out, "Not drawn: the board needs an ECE and accuracy among its metrics."]
    ref = lb.options.reference
    eb, ab = lb.board(ece), lb.board(acc)
    points = {
        t: [
            TradeoffPoint(m, eb.cells[(t, m)].mean, ab.cells[(t, m)].mean)
            for m in lb.methods
            if (t, m) in eb.cells and (t, m) in ab.cells
        ]
        for t in lb.tasks
    }
    name = f"{FIGURES_DIR}/tradeoff.svg"
    figures[name] = tradeoff_svg(points, reference=ref, ece_title=eb.title, flagged=not_learnt(lb))
    out += [
        f"Each point: one method's mean over seeds on one task ({text(eb.title)} across, accuracy up); dashed: "
        f"{code(ref)}. Left of and above the cross improves both; left and below buys calibration with accuracy.",
        "",
        f"![Accuracy against {text(eb.title)} per method and task]({name})",
        "",
        f"Pooled over the learnt tasks, against {code(ref)} ({lb.options.confidence:.0%} intervals of the pooled "
        "paired bootstrap):",
        "",
    ]
    rows = []
    for m in lb.methods:
        if m == ref:
            continue
        pe = pooled(lb, ece, m, ref, [t for t in lb.rank_tasks if (t, m) in eb.cells and (t, ref) in eb.cells])
        pa = pooled(lb, acc, m, ref, [t for t in lb.rank_tasks if (t, m) in ab.cells and (t, ref) in ab.cells])
        if pe is None or pa is None:
            rows.append([code(m), "—", "—", "not on every learnt task"])
            continue
        rows.append(
            [
                code(m),
                interval(pe.difference, pe.low, pe.high),
                interval(pa.difference, pa.low, pa.high),
                reading(pe, pa),
            ]
        )
    out += _table(["Method", f"Δ {text(eb.title)}", "Δ accuracy", "Reading"], ["l", "r", "r", "l"], rows)
    return out


def _claim_lines(claim: Claim, lb: Leaderboard) -> list[str]:
    out = ["", f"### Claim {claim.number}: {text(claim.text)}", "", f"Test: {text(claim.test_text)}."]
    ran = [t for t in claim.tests if t.effect is not None]
    if claim.verdict == "not run":
        why = ", ".join(code(m) for m in claim.missing) or "no test could run"
        return [*out, "", f"**Not run**: {why} absent from the results."]
    tasks = sorted({t for test in ran for t in test.effect.tasks})
    out += [f"Tasks pooled: {', '.join(code(t) for t in tasks)}."]
    rows = []
    for test in claim.tests:
        if test.effect is None:
            rows.append([text(test.statement), "—", "not run", ""])
            continue
        e = test.effect
        plan = test.plan.note if test.plan else ""
        rows.append([text(test.statement), interval(e.difference, e.low, e.high, 4), test.verdict, plan])
    out += [""]
    out += _table(
        ["Test", f"Effect [{lb.options.confidence:.0%} CI]", "Verdict", "Seeds that would settle it"],
        ["l", "r", "l", "l"],
        rows,
    )
    verdict = "inconclusive at this power" if claim.verdict == "inconclusive" else claim.verdict
    out += ["", f"**Verdict: {verdict}.**"]
    if claim.missing:
        out += ["", f"Not on the board: {', '.join(code(m) for m in claim.missing)}."]
    return out


def claims_section(lb: Leaderboard) -> list[str]:
    from calibench.report.claims import ACCURACY_MARGIN, ECE_MARGIN

    o = lb.options
    out = [
        "",
        "## The paper's claims, tested",
        "",
        "Generated from the results. Each test compares one difference, averaged over the learnt tasks (each task "
        f"weighs the same), with a bound: its {o.confidence:.0%} interval (pooled paired bootstrap over seeds and "
        "test examples) wholly on the claimed side: *holds*; wholly on the other side: *does not hold*; across "
        "the bound: *inconclusive*. A claim holds when all its tests hold and does not hold when any does not. "
        f"Margins: 'little or no loss of accuracy' is a loss below {ACCURACY_MARGIN:g}; 'competitive' is an ECE at "
        f"most {ECE_MARGIN:g} above the competitor's. For an inconclusive test, the seeds a paired t-test over "
        f"seeds would need to settle it at power 0.8 and alpha = {o.alpha:g}, if the observed difference and its "
        "spread over seeds were the truth (calibench.stats.seeds_needed).",
    ]
    for claim in paper_claims(lb):
        out += _claim_lines(claim, lb)
    return out


def benchmark_sections(lb: Leaderboard) -> BenchmarkSections:
    """Every section of the benchmark layout, with its figures."""
    out = BenchmarkSections()
    out.preamble = [*answer_section(lb), *task_section(lb)]
    out.sections = [
        *ranks_section(lb, out.figures),
        *head_to_head_section(lb),
        *tradeoff_section(lb, out.figures),
        *claims_section(lb),
    ]
    return out
