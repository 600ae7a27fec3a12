"""Figures of the report: reliability diagrams with confidence histograms, risk-coverage
curves, and the critical-difference diagram (drawn by :func:`calibench.stats.cd_diagram`).

Drawn on bare matplotlib ``Figure`` objects with the Agg canvas: no pyplot global state, no
display needed, and nothing left open once the PNG bytes are returned. Text that comes from
runs (method and task names) is drawn with mathtext off, so a ``$`` in a name prints as is.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from calibench.metrics import ReliabilityBins, parse_estimator, reliability_bins
from calibench.metrics.selective import RiskCoverage, risk_coverage_curve
from calibench.report.leaderboard import MetricBoard

#: Binning of the diagrams when the leaderboard's ECE estimator is not a top-label
#: equal-width one (the diagram needs fixed bin edges): the default ``ece`` estimator's.
DEFAULT_BINS = 15


@dataclass(frozen=True)
class Binning:
    """Top-label equal-width bins of a reliability diagram, and the estimator they come from."""

    bins: int
    source: str  # e.g. "the bins of ece(bins=15,scheme=width,norm=l1,confidence=top-label)"


def diagram_binning(estimators: Sequence[str]) -> Binning:
    """Use the ECE estimator's bins when it is top-label with equal-width bins, so the diagram
    shows exactly the bins behind the reported ECE; else ``DEFAULT_BINS`` equal-width bins."""
    for est in sorted(set(estimators)):
        name, params = parse_estimator(est)
        if name == "ece" and params.get("scheme") == "width" and params.get("confidence") == "top-label":
            return Binning(int(params["bins"]), f"the bins of {est}")
    return Binning(DEFAULT_BINS, f"{DEFAULT_BINS} equal-width bins of the top-label confidence")


def pooled_bins(probs: Sequence[np.ndarray], labels: np.ndarray, bins: int) -> ReliabilityBins:
    """Reliability bins of all seeds' test predictions pooled (labels repeated per seed)."""
    return reliability_bins(
        np.concatenate(list(probs)), np.tile(labels, len(probs)), bins=bins, scheme="width", confidence="top-label"
    )


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def reliability_png(rb: ReliabilityBins, *, title: str, subtitle: str) -> bytes:
    """Reliability diagram (top) over a confidence histogram (bottom), as PNG bytes.

    Top: accuracy per bin as bars, each labelled with its example count; the gap to the bin's
    mean confidence drawn as a hatched red bar; the diagonal of perfect calibration. Bottom:
    examples per confidence bin, with the overall accuracy and mean confidence marked.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    count, conf, acc = rb.count[0], rb.confidence[0], rb.accuracy[0]
    n_bins = count.size
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    width = 1.0 / n_bins
    full = count > 0

    fig = Figure(figsize=(3.8, 4.6))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.3], "hspace": 0.08})
    top.bar(
        edges[:-1][full],
        acc[full],
        width=width,
        align="edge",
        color="#4c78a8",
        edgecolor="#1f3b57",
        linewidth=0.6,
        label="accuracy",
    )
    gap_low = np.minimum(acc[full], conf[full])
    top.bar(
        edges[:-1][full],
        np.abs(conf[full] - acc[full]),
        bottom=gap_low,
        width=width,
        align="edge",
        color="#e45756",
        alpha=0.35,
        edgecolor="#b22222",
        linewidth=0.6,
        hatch="//",
        label="gap to confidence",
    )
    top.plot([0, 1], [0, 1], linestyle="--", color="0.3", linewidth=1, label="perfect calibration")
    for x, a, c, n in zip(edges[:-1][full], acc[full], conf[full], count[full], strict=True):
        top.text(
            x + width / 2,
            max(a, c) + 0.02,
            str(int(n)),
            ha="center",
            va="bottom",
            fontsize=6,
            rotation=90,
            parse_math=False,
        )
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.12)
    top.set_ylabel("accuracy")
    top.legend(loc="upper left", fontsize=6.5, frameon=False)
    fig.text(0.02, 0.985, title, fontsize=9, fontweight="bold", va="top", ha="left", parse_math=False)
    fig.text(0.02, 0.948, subtitle, fontsize=7, va="top", ha="left", color="0.25", parse_math=False)

    bottom.bar(edges[:-1], count, width=width, align="edge", color="0.6", edgecolor="0.3", linewidth=0.6)
    total = count.sum()
    mean_conf = float(np.nansum(conf * count) / total)
    accuracy = float(np.nansum(acc * count) / total)
    bottom.axvline(accuracy, color="#4c78a8", linewidth=1.2, label=f"accuracy {accuracy:.3f}")
    bottom.axvline(mean_conf, color="#e45756", linestyle="--", linewidth=1.2, label=f"mean confidence {mean_conf:.3f}")
    bottom.set_xlabel("confidence (top-label probability)")
    bottom.set_ylabel("examples")
    bottom.legend(loc="upper left", fontsize=6.5, frameon=False)
    fig.subplots_adjust(left=0.16, right=0.97, top=0.91, bottom=0.1)
    return _png(fig)


def seed_mean_curve(probs: Sequence[np.ndarray], labels: np.ndarray) -> RiskCoverage:
    """The risk-coverage curve averaged over seeds (every seed has the same test set, so the same
    coverage grid); its mean risk is the seeds' mean AURC."""
    curves = [risk_coverage_curve(p, labels) for p in probs]
    return RiskCoverage(
        coverage=curves[0].coverage,
        risk=np.mean([c.risk for c in curves], axis=0),
        oracle_risk=np.mean([c.oracle_risk for c in curves], axis=0),
    )


def risk_coverage_png(curves: Mapping[str, RiskCoverage], *, title: str, subtitle: str) -> bytes:
    """Risk-coverage curves of several methods on one task, as PNG bytes.

    One line per method (selective risk on the most confident fraction of the test inputs,
    by maximum softmax probability), its AURC in the legend; dotted: the oracle ranking of the
    first method (errors last), the lower bound at its accuracy.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.8, 4.6))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    top = 0.0
    for i, (method, c) in enumerate(curves.items()):
        ax.plot(c.coverage, c.risk, linewidth=1.3, color=f"C{i % 10}", label=f"{method} (AURC {c.risk.mean():.3f})")
        top = max(top, float(c.risk[len(c.risk) // 20 :].max()))  # ignore the noisy first 5%
    first = next(iter(curves.values()))
    ax.plot(first.coverage, first.oracle_risk, linestyle=":", color="0.4", linewidth=1.1, label="oracle ranking")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, min(1.0, max(0.05, 1.15 * top)))
    ax.set_xlabel("coverage (most confident kept)")
    ax.set_ylabel("selective risk (error rate)")
    legend = ax.legend(loc="upper left", fontsize=6.5, frameon=False)
    for text in legend.get_texts():
        text.set_parse_math(False)
    fig.text(0.02, 0.985, title, fontsize=9, fontweight="bold", va="top", ha="left", parse_math=False)
    fig.text(0.02, 0.948, subtitle, fontsize=7, va="top", ha="left", color="0.25", parse_math=False)
    fig.subplots_adjust(left=0.19, right=0.96, top=0.91, bottom=0.1)
    return _png(fig)


def _mathtext_safe(name: str) -> str:
    """``cd_diagram`` draws names with mathtext on: escape ``$`` so a name prints as is."""
    return name.replace("$", r"\$")


def cd_png(board: MetricBoard, image_format: str = "png") -> bytes | None:
    """The critical-difference diagram of ``board`` (None when it has no CD or fewer than 2 ranked methods);
    ``image_format="svg"`` gives byte-deterministic SVG (the benchmark board commits it)."""
    from calibench.stats import cd_diagram

    if board.cd is None or len(board.ranks) < 2:
        return None
    ranks = pd.Series({_mathtext_safe(m): r for m, r in board.ranks.items()})
    return cd_diagram(
        ranks,
        board.cd,
        title=_mathtext_safe(f"{board.title}: average rank (1 = best), Nemenyi CD"),
        image_format=image_format,
    )


def _svg(fig) -> bytes:
    """``fig`` as SVG bytes that depend only on what was drawn (see ``calibench.stats.cd_diagram.SVG_RC``)."""
    import matplotlib

    from calibench.stats.cd_diagram import SVG_RC

    buf = io.BytesIO()
    with matplotlib.rc_context(SVG_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


@dataclass(frozen=True)
class TradeoffPoint:
    method: str
    ece: float
    accuracy: float


def tradeoff_svg(
    points: Mapping[str, Sequence[TradeoffPoint]], *, reference: str, ece_title: str, flagged: Sequence[str] = ()
) -> bytes:
    """Accuracy against ECE, one panel per task (``points``: task -> one point per method), as SVG.

    Each method keeps its colour and marker in every panel; the reference's ECE and accuracy
    are dashed lines, so a point left of and above both improves both, left and below buys
    calibration with accuracy. Tasks in ``flagged`` (not learnt) say so in their title.
    """
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    tasks = list(points)
    methods = sorted({p.method for ps in points.values() for p in ps})
    markers = "osD^vP*Xh<>p"
    style = {m: (f"C{i % 10}", markers[(i // 10 + i) % len(markers)]) for i, m in enumerate(methods)}
    cols = min(3, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig = Figure(figsize=(3.3 * cols + 2.8, 3.0 * rows))
    FigureCanvasSVG(fig)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, task in zip(axes, tasks):
        for p in points[task]:
            colour, marker = style[p.method]
            ax.scatter([p.ece], [p.accuracy], color=colour, marker=marker, s=28, zorder=3, label=p.method)
            if p.method == reference:
                ax.axvline(p.ece, color="0.5", linestyle="--", linewidth=0.8, zorder=1)
                ax.axhline(p.accuracy, color="0.5", linestyle="--", linewidth=0.8, zorder=1)
        title = task + (" (not learnt)" if task in flagged else "")
        ax.set_title(title, fontsize=9)
        ax.title.set_parse_math(False)
        ax.set_xlabel(f"{ece_title} (lower is better)", fontsize=7)
        ax.set_ylabel("accuracy", fontsize=7)
        ax.tick_params(labelsize=6.5)
        ax.grid(True, linewidth=0.3, color="0.85")
    for ax in axes[len(tasks) :]:
        ax.set_axis_off()
    handles = [axes[0].scatter([], [], color=style[m][0], marker=style[m][1], s=28, label=m) for m in methods]
    legend = fig.legend(handles=handles, loc="center right", fontsize=7, frameon=False)
    for text in legend.get_texts():
        text.set_parse_math(False)
    fig.subplots_adjust(left=0.06, right=1 - 2.6 / (3.3 * cols + 2.8), top=0.93, bottom=0.1, wspace=0.32, hspace=0.45)
    return _svg(fig)
