"""The HTML report: leaderboard tables, critical-difference diagrams, and per task and method
a reliability diagram with its confidence histogram.

Why separate PNG files (``img/``) rather than data URIs: the page stays small and readable,
and a browser test can tell a missing image from a loaded one. Every string that comes from
runs or plugins (method, task, model names, estimators, options) passes through
:func:`html.escape` exactly once, at the point where it enters the page; the only script is
the page's own image check, which marks ``<body data-images-loaded="k/n">`` and shows a
warning when an image failed to load (e.g. ``index.html`` copied without ``img/``).
"""

from __future__ import annotations

import hashlib
import html
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from calibench.report.figures import (
    cd_png,
    diagram_binning,
    pooled_bins,
    reliability_png,
    risk_coverage_png,
    seed_mean_curve,
)
from calibench.report.leaderboard import Leaderboard, MetricBoard
from calibench.report.runs import Run
from calibench.report.text import (
    cell_text,
    direction,
    fmt,
    fmt_p,
    legend,
    rank_tests_text,
)

IMG_DIR = "img"

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1150px;
       color: #1b1b1b; line-height: 1.45; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.9em; }
pre { background: #f5f5f5; padding: 0.6rem 0.8rem; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #d0d0d0; padding: 0.25rem 0.55rem; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.better { color: #19791e; font-weight: bold; } .worse { color: #b3261e; font-weight: bold; }
.legend, .note { font-size: 0.88rem; color: #444; max-width: 60rem; }
.grid { display: flex; flex-wrap: wrap; gap: 0.8rem; }
figure { margin: 0; } figure img { border: 1px solid #e2e2e2; }
figcaption { font-size: 0.8rem; color: #444; max-width: 380px; }
#image-warning { background: #fff3cd; border: 1px solid #e0c060; padding: 0.5rem; }
"""

SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; } }
  document.body.setAttribute("data-images-loaded", ok + "/" + imgs.length);
  if (ok < imgs.length) { document.getElementById("image-warning").hidden = false; }
});
"""


def esc(value: object) -> str:
    """Escape text (and attribute values) for HTML."""
    return html.escape(str(value), quote=True)


def image_name(kind: str, *parts: str) -> str:
    """A file name for an image of ``parts`` (e.g. task, method) that any name maps to safely."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]
    return f"{kind}-{digest}.png"


def _img(src: str, alt: str, width: int, height: int | None = None) -> str:
    size = f'width="{width}"' + (f' height="{height}"' if height is not None else "")
    return f'<img src="{esc(src)}" alt="{esc(alt)}" {size} loading="eager">'


def board_html(lb: Leaderboard, board: MetricBoard) -> str:
    """One metric's table with its legend and rank tests."""
    head = "".join(f"<th>{esc(t)}</th>" for t in lb.tasks)
    rows = []
    for m in board.methods:
        name = f"<code>{esc(m)}</code>" + (" (reference)" if m == lb.options.reference else "")
        cells = []
        for t in lb.tasks:
            value, mark = cell_text(board, lb, t, m)
            best = m in board.best.get(t, ()) and len(board.methods) > 1
            shown = f"<strong>{esc(value)}</strong>" if best else esc(value)
            if mark:
                cls = "better" if mark == "▲" else "worse"
                title = "significantly better" if cls == "better" else "significantly worse"
                shown += f' <span class="{cls}" title="{title} than the reference">{esc(mark)}</span>'
            cells.append(f'<td class="num">{shown}</td>')
        rank = board.ranks.get(m)
        cells.append(f'<td class="num">{fmt(rank, 2) if rank is not None else "—"}</td>')
        rows.append(f'<tr><th scope="row" style="text-align:left">{name}</th>{"".join(cells)}</tr>')
    arrow = "↓" if board.lower_is_better else "↑"
    parts = [
        f'<h2 id="metric-{esc(board.metric)}">{esc(board.title)} {arrow} ({direction(board)})</h2>',
        f"<p>Estimator: <code>{esc(board.estimator)}</code>"
        + (f" ({esc(board.description)})" if board.description else "")
        + "</p>",
        f"<table><thead><tr><th>Method</th>{head}<th>Avg. rank</th></tr></thead><tbody>{''.join(rows)}</tbody></table>",
        f'<p class="legend">{esc(" ".join(legend(lb, board)))}</p>',
    ]
    rank_lines = rank_tests_text(lb, board)
    if rank_lines:
        parts.append(f'<p class="legend">{esc(" ".join(rank_lines))}</p>')
    return "\n".join(parts)


def comparisons_html(lb: Leaderboard, board: MetricBoard) -> str:
    """The paired comparisons of one metric (difference, interval, p-values, verdict)."""
    o = lb.options
    rows = []
    for (t, m), c in sorted(board.comparisons.items()):
        st = c.seed_tests
        rows.append(
            "<tr>"
            f"<td><code>{esc(t)}</code></td><td><code>{esc(m)}</code></td>"
            f'<td class="num">{c.difference:+.4f}</td>'
            f'<td class="num">[{c.bootstrap.low:+.4f}, {c.bootstrap.high:+.4f}]</td>'
            f'<td class="num">{fmt_p(c.bootstrap.pvalue)}</td>'
            f'<td class="num">{fmt_p(st.t_test.pvalue) if st else "n/a"}</td>'
            f'<td class="num">{fmt_p(c.pvalue_holm)}</td><td>{esc(c.verdict)}</td>'
            "</tr>"
        )
    if not rows:
        return ""
    return (
        f"<details><summary>Paired comparisons with <code>{esc(o.reference)}</code></summary>"
        "<table><thead><tr><th>Task</th><th>Method</th><th>Δ (method − reference)</th>"
        f"<th>{o.confidence:.0%} CI of Δ</th><th>p (bootstrap)</th><th>p (t-test)</th><th>p (Holm)</th>"
        f"<th>Verdict</th></tr></thead><tbody>{''.join(rows)}</tbody></table></details>"
    )


def risk_coverage_html(task: str, by_cell: dict[tuple[str, str], list[Run]], save) -> str:
    """The figure of every method's risk-coverage curve on ``task`` (saved through ``save``)."""
    curves = {}
    for m in sorted({m for (t, m) in by_cell if t == task}):
        rs = by_cell[(task, m)]
        curves[m] = seed_mean_curve([r.probs for r in rs], rs[0].labels)
    n_seeds = max(len(by_cell[(task, m)]) for m in curves)
    summary = f"mean over {n_seeds} seed(s); AURC = mean selective risk"
    src = save(
        image_name("risk-coverage", task),
        risk_coverage_png(curves, title=f"{task}: risk vs coverage", subtitle=summary),
    )
    return (
        "<figure>"
        + _img(src, f"risk-coverage curves on {task}", 380, 460)
        + f"<figcaption>Risk-coverage curves on <code>{esc(task)}</code> ({esc(summary)}).</figcaption></figure>"
    )


def protocol_html(lb: Leaderboard) -> str:
    rows = []
    for t in lb.tasks:
        i = lb.task_info[t]
        train = "full" if i.train_size is None else f"{i.train_size} (data seed {i.data_seed})"
        trainings = "<br>".join(f"<code>{esc(ms)}</code>: {esc(conf)}" for ms, conf in i.trainings)
        rows.append(
            f"<tr><td><code>{esc(t)}</code></td><td><code>{esc(i.model)}</code></td>"
            f"<td><code>{esc(i.fingerprint)}</code></td><td><code>{esc(i.protocol)}</code></td>"
            f'<td class="num">{"?" if i.n_train is None else i.n_train} / {"?" if i.n_dev is None else i.n_dev} / '
            f"{i.n_test}</td><td>{esc(train)}</td>"
            f"<td>{esc(', '.join(map(str, i.seeds)))}</td><td>{trainings}</td></tr>"
        )
    return (
        '<h2 id="protocol">Protocol</h2><table><thead><tr><th>Task</th><th>Encoder</th><th>Data fingerprint</th>'
        "<th>Split protocol</th><th>Train / dev / test</th><th>Train subsample</th><th>Seeds</th><th>Training</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def write_report(
    lb: Leaderboard,
    runs: Sequence[Run],
    out_dir: str | Path,
    *,
    command: str,
    extra_runs: Sequence[Any] = (),
) -> Path:
    """Write ``out_dir/index.html`` and its images under ``out_dir/img``; returns the page's path.

    ``runs`` are the runs ``lb`` was built from (the diagrams need their probabilities).
    PNGs of earlier reports in ``img/`` that this one does not use are removed.
    """
    from calibench import __version__

    out = Path(out_dir)
    img_dir = out / IMG_DIR
    img_dir.mkdir(parents=True, exist_ok=True)
    written: set[str] = set()

    def save(name: str, data: bytes) -> str:
        (img_dir / name).write_bytes(data)
        written.add(name)
        return f"{IMG_DIR}/{name}"

    by_cell: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for r in runs:
        by_cell[(r.task, r.method)].append(r)
    ece_board = next((b for b in lb.boards if b.metric == "ece"), None)
    estimators = [r.result.metrics["ece"]["estimator"] for r in runs if "ece" in r.result.metrics]
    binning = diagram_binning(estimators)

    body = [
        "<h1>calibench report</h1>",
        f'<p class="note">{lb.n_runs} runs, {len(lb.methods)} methods, {len(lb.tasks)} tasks; calibench '
        f"{esc(__version__)}. Every number is recomputed from the stored per-example test probabilities. "
        f"Reproduce with:</p><pre>{esc(command)}</pre>",
        '<p id="image-warning" hidden>Some images did not load: keep <code>index.html</code> next to its '
        "<code>img/</code> folder.</p>",
    ]
    body += [f'<p class="note">Note: {esc(n)}.</p>' for n in lb.notes]
    nav = " · ".join(f'<a href="#metric-{esc(b.metric)}">{esc(b.title)}</a>' for b in lb.boards)
    kinds = {r.kind for r in extra_runs}
    extra_nav = "".join(
        f' · <a href="#{k}">{t}</a>'
        for k, t in (("shift", "in- vs out-of-domain"), ("ood", "OOD detection"))
        if k in kinds
    )
    body.append(
        f'<p>Tables: {nav} · <a href="#reliability">reliability diagrams</a>{extra_nav} · '
        '<a href="#protocol">protocol</a></p>'
    )
    for board in lb.boards:
        body.append(board_html(lb, board))
        body.append(comparisons_html(lb, board))
        png = cd_png(board)
        if png is not None:
            src = save(image_name("cd", board.metric), png)
            body.append(
                "<figure>"
                + _img(src, f"critical-difference diagram of {board.title}", 700)
                + f'<figcaption style="max-width: 700px">Critical-difference diagram of {esc(board.title)}: average ranks over '
                f"{len(lb.tasks)} tasks; methods joined by a bar differ by less than the Nemenyi critical "
                f"difference (alpha = {lb.options.alpha:g}).</figcaption></figure>"
            )

    body.append('<h2 id="reliability">Reliability diagrams and risk-coverage curves</h2>')
    body.append(
        '<p class="legend">Per task and method, the test predictions of every seed pooled (counts are summed over '
        f"seeds), binned by top-label confidence into {esc(binning.source)}. Bars: accuracy per bin, labelled with "
        "the bin's count; hatched red: the gap to the bin's mean confidence; dashed: perfect calibration. Below: "
        "examples per confidence bin, with the overall accuracy and mean confidence. Last per task: the "
        "risk-coverage curves of every method (error rate on the most confident fraction of the test inputs, "
        "averaged over seeds; ties in confidence are averaged over their orderings), with each method's AURC.</p>"
    )
    for t in lb.tasks:
        body.append(f'<h3><code>{esc(t)}</code></h3><div class="grid">')
        for m in sorted({m for (tt, m) in by_cell if tt == t}):
            rs = sorted(by_cell[(t, m)], key=lambda r: r.seed)
            rb = pooled_bins([r.probs for r in rs], rs[0].labels, binning.bins)
            summary = f"{len(rs)} seed(s) pooled, {int(rb.count.sum())} predictions"
            if ece_board is not None and (t, m) in ece_board.cells:
                summary = f"ECE {fmt(ece_board.cells[(t, m)].mean)} (mean over seeds); " + summary
            src = save(image_name("reliability", t, m), reliability_png(rb, title=f"{t} / {m}", subtitle=summary))
            body.append(
                "<figure>"
                + _img(src, f"reliability diagram of {m} on {t}", 380, 460)
                + f"<figcaption><code>{esc(m)}</code> on <code>{esc(t)}</code>: {esc(summary)}</figcaption></figure>"
            )
        body.append(risk_coverage_html(t, by_cell, save))
        body.append("</div>")
    if extra_runs:  # shifted and OOD sets: calibench.report.shift
        from calibench.report.shift import html_section

        body.append(html_section(extra_runs, save))
    body.append(protocol_html(lb))

    for stale in img_dir.glob("*.png"):
        if stale.name not in written:
            stale.unlink()
    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>calibench report</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(p for p in body if p)
        + f"\n<script>{SCRIPT}</script>\n</body></html>\n"
    )
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
