"""Critical-difference diagram (Demšar 2006, fig. 1): average ranks on an axis, with bars
joining methods that are not significantly different under the Nemenyi test.

Drawn on a bare matplotlib ``Figure`` with the Agg canvas, so it never touches pyplot's
global state or needs a display.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from calibench.stats.ranks import nemenyi_groups

#: matplotlib settings that make an SVG the same bytes on every run: element ids from a fixed
#: salt instead of a random one; text kept as text (small, diffable files, no glyph outlines)
SVG_RC: dict[str, object] = {"svg.hashsalt": "calibench", "svg.fonttype": "none"}


def cd_diagram(
    avg_ranks: pd.Series,
    cd: float,
    path: str | Path | None = None,
    *,
    title: str | None = None,
    dpi: int = 150,
    image_format: str = "png",
) -> bytes:
    """Draw the diagram for ``avg_ranks`` (method -> average rank, 1 = best) and critical difference ``cd``.

    Returns the image bytes (PNG, or with ``image_format="svg"`` a byte-deterministic SVG:
    fixed id salt, no date); also writes them to ``path`` when given. The better half of the
    methods is labelled on the left, the rest on the right; a bar of length ``cd`` is drawn
    above the axis and each group from :func:`nemenyi_groups` is a thick line under it.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # imported here: only plotting needs it
    from matplotlib.figure import Figure

    ranks = avg_ranks.sort_values(kind="stable")
    k = len(ranks)
    if k < 2:
        raise ValueError("a critical-difference diagram needs at least 2 methods")
    names = [str(i) for i in ranks.index]
    values = ranks.to_numpy(dtype=float)
    groups = nemenyi_groups(ranks, cd)

    left_n = (k + 1) // 2
    rows = max(left_n, k - left_n)
    height = 1.2 + 0.3 * rows + 0.15 * len(groups)
    fig = Figure(figsize=(7.0, height))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    lo, hi = 1.0, float(max(k, values.max()))
    margin = 0.45 * (hi - lo) + 0.5
    ax.set_xlim(lo - margin, hi + margin)
    axis_y = 0.0
    bottom = -(0.35 + 0.15 * len(groups) + 0.3 * rows)
    ax.set_ylim(bottom - 0.2, 0.9)

    ax.plot([lo, hi], [axis_y, axis_y], color="black", lw=1)
    for r in range(1, k + 1):
        ax.plot([r, r], [axis_y, axis_y + 0.06], color="black", lw=1)
        ax.text(r, axis_y + 0.1, str(r), ha="center", va="bottom", fontsize=9)
    ax.plot([lo, lo + cd], [0.55, 0.55], color="black", lw=1.5)
    for x in (lo, lo + cd):
        ax.plot([x, x], [0.5, 0.6], color="black", lw=1.5)
    ax.text(lo + cd / 2, 0.62, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=9)

    for g, group in enumerate(groups):
        y = axis_y - 0.15 - 0.15 * g
        r0, r1 = values[names.index(group[0])], values[names.index(group[-1])]
        ax.plot([r0 - 0.03, r1 + 0.03], [y, y], color="black", lw=3, solid_capstyle="round")

    label_top = axis_y - 0.25 - 0.15 * len(groups)
    for i, (name, r) in enumerate(zip(names, values)):
        left = i < left_n
        row = i if left else k - 1 - i
        y = label_top - 0.3 * row
        x_text = lo - 0.3 if left else hi + 0.3
        ax.plot([r, r, x_text], [axis_y, y, y], color="0.35", lw=0.8)
        ax.text(
            x_text + (-0.05 if left else 0.05),
            y,
            f"{name} ({r:.2f})",
            ha="right" if left else "left",
            va="center",
            fontsize=9,
        )
    if title:
        ax.set_title(title, fontsize=10)

    buf = io.BytesIO()
    if image_format == "svg":
        import matplotlib

        with matplotlib.rc_context(SVG_RC):
            fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    else:
        fig.savefig(buf, format=image_format, dpi=dpi, bbox_inches="tight")
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data
