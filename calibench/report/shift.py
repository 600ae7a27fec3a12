"""The board's in-domain vs out-of-domain section and its OOD-detection table.

Built from the results on extra evaluation sets (``eval_set`` other than ``test``) and the
in-domain results they extend; every number is recomputed from the stored per-example
probabilities (shift) or scores (OOD) with the stored estimator, like the main boards.
A store without such results gives no section, so existing boards are unchanged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: OOD metrics on the board: (key, header, higher is better)
OOD_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("auroc", "AUROC", True),
    ("aupr_in", "AUPR-in", True),
    ("aupr_out", "AUPR-out", True),
    ("fpr95", "FPR@95", False),
)
SCORE_NAMES: dict[str, str] = {
    "msp": "max softmax prob.",
    "neg_energy": "logsumexp (−energy)",
    "neg_ebm_energy": "−EBM energy (scalar head)",
}


@dataclass(frozen=True, eq=False)
class ExtraRun:
    """One result on an extra set: its record, its stored arrays, and its in-domain twin's."""

    record: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(repr=False)
    in_domain: dict[str, Any] | None = None
    in_arrays: dict[str, np.ndarray] | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        return str(self.record["eval_kind"])


def load_extra_runs(
    store_dir: str | Path,
    *,
    tasks: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    model: str | None = None,
) -> list[ExtraRun]:
    """Results on extra evaluation sets in the store (none for older stores), with their arrays."""
    from calibench.store.db import Store

    if not (Path(store_dir) / Store.DB_NAME).exists():
        return []
    store = Store(store_dir, read_only=True)  # a reader never changes the store
    try:
        out = []
        for rec in store.results(eval_set="extra"):
            if (
                (tasks and rec["task"] not in tasks)
                or (methods and rec["method"] not in methods)
                or (model and rec["model"] != model)
            ):
                continue
            twin = store.result(rec["in_domain_key"])
            in_arrays = store.artifacts.read("probs", twin["key"]).arrays if twin else None
            out.append(ExtraRun(rec, store.artifacts.read("probs", rec["key"]).arrays, twin, in_arrays))
        return out
    finally:
        store.close()


def _recompute(key: str, record: dict[str, Any], arrays: dict[str, np.ndarray]) -> float:
    from calibench.metrics import spec_from_estimator

    spec = spec_from_estimator(key, record["metrics"][key]["estimator"])
    return float(spec.fn(arrays["test_probs"].astype(np.float64), arrays["test_labels"]))


def _mean_sd(values: Sequence[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


@dataclass
class ShiftRow:
    pair: str
    method: str
    seeds: list[int]
    n_out: int
    values: dict[str, list[float]]  # acc_in, acc_out, ece_in, ece_out -> per seed


@dataclass
class OodRow:
    pair: str
    method: str
    score: str
    seeds: list[int]
    n: tuple[int, int]
    values: dict[str, list[float]]  # auroc, aupr_in, aupr_out, fpr95 -> per seed


def shift_rows(runs: Iterable[ExtraRun]) -> list[ShiftRow]:
    """Per (pair, method): accuracy and ECE in-domain (test half) and on the shifted set, per seed."""
    groups: dict[tuple[str, str], list[ExtraRun]] = defaultdict(list)
    for r in runs:
        if r.kind == "shift" and r.in_domain is not None and r.in_arrays is not None:
            groups[(r.record["pair"], r.record["method"])].append(r)
    rows = []
    for (pair, method), rs in sorted(groups.items()):
        rs.sort(key=lambda r: r.record["seed"])
        values: dict[str, list[float]] = defaultdict(list)
        for r in rs:
            for key, short in (("accuracy", "acc"), ("ece", "ece")):
                values[f"{short}_in"].append(_recompute(key, r.in_domain, r.in_arrays))  # type: ignore[arg-type]
                values[f"{short}_out"].append(_recompute(key, r.record, r.arrays))
        rows.append(ShiftRow(pair, method, [r.record["seed"] for r in rs], rs[0].record["n_test"], dict(values)))
    return rows


def ood_rows(runs: Iterable[ExtraRun]) -> list[OodRow]:
    """Per (pair, method, score): AUROC, AUPR (in and out as positives) and FPR at 95% TPR, per seed."""
    groups: dict[tuple[str, str], list[ExtraRun]] = defaultdict(list)
    for r in runs:
        if r.kind == "ood":
            groups[(r.record["pair"], r.record["method"])].append(r)
    rows: list[OodRow] = []
    if not groups:
        return rows
    from calibench.metrics.ood import ood_metrics

    for (pair, method), rs in sorted(groups.items()):
        rs.sort(key=lambda r: r.record["seed"])
        scores = [s for s in SCORE_NAMES if all(f"in_{s}" in r.arrays for r in rs)]
        for score in scores:
            values: dict[str, list[float]] = defaultdict(list)
            for r in rs:
                m = ood_metrics(r.arrays[f"in_{score}"].astype(np.float64), r.arrays[f"out_{score}"].astype(np.float64))
                for key, _h, _up in OOD_COLUMNS:
                    values[key].append(float(m[key]))
            n = (len(rs[0].arrays[f"in_{score}"]), len(rs[0].arrays[f"out_{score}"]))
            rows.append(OodRow(pair, method, score, [r.record["seed"] for r in rs], n, dict(values)))
    return rows


def added_with(runs: Sequence[ExtraRun]) -> str:
    """The ``--shift`` / ``--ood`` flags that add these sets to a run (quoted for a shell)."""
    import shlex

    flags = sorted({(r.kind, (r.record.get("eval_set_stats") or {}).get("definition", "")) for r in runs})
    return " ".join(f"--{kind} {shlex.quote(d)}" for kind, d in flags if d)


def markdown_section(runs: Sequence[ExtraRun]) -> list[str]:
    """Markdown lines of the section (empty without extra results)."""
    from calibench.report.markdown import _table, code

    out: list[str] = []
    srows = shift_rows(runs)
    if srows:
        out += [
            "",
            "## In-domain vs out-of-domain",
            "",
            (
                "The same finetuned models scored on their task's test half (in) and on a shifted set (out); "
                "calibrators are fitted on in-domain data only (the dev half unless a method says fit_on=train). Mean ± sd over seeds, recomputed from the "
                "stored per-example probabilities. ΔECE = ECE out − ECE in."
            ),
            "",
        ]
        table = []
        for r in srows:
            d = np.mean(r.values["ece_out"]) - np.mean(r.values["ece_in"])
            table.append(
                [
                    code(r.pair),
                    code(r.method),
                    str(len(r.seeds)),
                    str(r.n_out),
                    _mean_sd(r.values["acc_in"]),
                    _mean_sd(r.values["acc_out"]),
                    _mean_sd(r.values["ece_in"]),
                    _mean_sd(r.values["ece_out"]),
                    f"{d:+.3f}",
                ]
            )
        out += _table(
            ["Pair", "Method", "Seeds", "n out", "Acc in ↑", "Acc out ↑", "ECE in ↓", "ECE out ↓", "ΔECE"],
            ["l", "l", "r", "r", "r", "r", "r", "r", "r"],
            table,
        )
    orows = ood_rows(runs)
    if orows:
        out += [
            "",
            "## OOD detection",
            "",
            (
                "The in-distribution test half (positives) against another set's inputs, its labels unused; each score "
                "is higher for more in-distribution inputs. AUPR-in / AUPR-out take the in- / out-of-distribution "
                "examples as positives; FPR@95: the share of OOD inputs scored above the threshold that keeps 95% "
                "of the in-distribution ones. Mean ± sd over seeds."
            ),
            "",
        ]
        table = [
            [
                code(r.pair),
                code(r.method),
                SCORE_NAMES[r.score],
                str(len(r.seeds)),
                f"{r.n[0]} / {r.n[1]}",
                *(_mean_sd(r.values[k]) for k, _h, _u in OOD_COLUMNS),
            ]
            for r in orows
        ]
        out += _table(
            [
                "Pair",
                "Method",
                "Score",
                "Seeds",
                "n in / out",
                *(f"{h} {'↑' if up else '↓'}" for _k, h, up in OOD_COLUMNS),
            ],
            ["l", "l", "l", "r", "r", "r", "r", "r", "r"],
            table,
        )
    flags = added_with(runs)
    if out and flags:
        out += [
            "",
            (
                f"These sets come from the same trainings as the boards above: add {code(flags)} to their "
                "`calibench run` command (predictions only: the finetuned models are kept)."
            ),
        ]
    return out


def html_section(runs: Sequence[ExtraRun], save: Any) -> str:
    """HTML of the section, with OOD score histograms (in vs out) saved through ``save(name, png)``."""
    from calibench.report.html import _img, esc, image_name

    parts: list[str] = []
    srows = shift_rows(runs)
    if srows:
        head = "".join(
            f"<th>{h}</th>"
            for h in ("Pair", "Method", "Seeds", "n out", "Acc in ↑", "Acc out ↑", "ECE in ↓", "ECE out ↓", "ΔECE")
        )
        body = "".join(
            f"<tr><td><code>{esc(r.pair)}</code></td><td><code>{esc(r.method)}</code></td><td>{len(r.seeds)}</td>"
            f"<td>{r.n_out}</td><td>{_mean_sd(r.values['acc_in'])}</td><td>{_mean_sd(r.values['acc_out'])}</td>"
            f"<td>{_mean_sd(r.values['ece_in'])}</td><td>{_mean_sd(r.values['ece_out'])}</td>"
            f"<td>{np.mean(r.values['ece_out']) - np.mean(r.values['ece_in']):+.3f}</td></tr>"
            for r in srows
        )
        parts.append(
            '<h2 id="shift">In-domain vs out-of-domain</h2><p class="legend">The same finetuned models on '
            "their task's test half (in) and on a shifted set (out); calibrators fitted on in-domain data only"
            f" (the dev half unless a method says fit_on=train). Mean ± sd over seeds.</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )
    orows = ood_rows(runs)
    if orows:
        head = "".join(
            f"<th>{h}</th>"
            for h in (
                "Pair",
                "Method",
                "Score",
                "Seeds",
                "n in / out",
                *(f"{h} {'↑' if up else '↓'}" for _k, h, up in OOD_COLUMNS),
            )
        )
        body = "".join(
            f"<tr><td><code>{esc(r.pair)}</code></td><td><code>{esc(r.method)}</code></td><td>{esc(SCORE_NAMES[r.score])}</td>"
            f"<td>{len(r.seeds)}</td><td>{r.n[0]} / {r.n[1]}</td>"
            + "".join(f"<td>{_mean_sd(r.values[k])}</td>" for k, _h, _u in OOD_COLUMNS)
            + "</tr>"
            for r in orows
        )
        parts.append(
            '<h2 id="ood">OOD detection</h2><p class="legend">In-distribution test half against the OOD '
            "inputs (labels unused); every score is higher for more in-distribution inputs. Mean ± sd over "
            f"seeds.</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )
        parts.append('<h3>Score histograms (in vs out)</h3><div class="grid">')
        groups: dict[tuple[str, str, str], list[ExtraRun]] = defaultdict(list)
        for r in runs:
            if r.kind == "ood":
                for score in SCORE_NAMES:
                    if f"in_{score}" in r.arrays:
                        groups[(r.record["pair"], r.record["method"], score)].append(r)
        for (pair, method, score), rs in sorted(groups.items()):
            ins = np.concatenate([r.arrays[f"in_{score}"] for r in rs])
            outs = np.concatenate([r.arrays[f"out_{score}"] for r in rs])
            png = score_histogram_png(ins, outs, title=f"{pair} / {method}", xlabel=SCORE_NAMES[score])
            src = save(image_name("ood", pair.replace("→", "-to-"), method, score), png)
            caption = (
                f"<code>{esc(method)}</code> on <code>{esc(pair)}</code>: {esc(SCORE_NAMES[score])}, "
                f"{len(rs)} seed(s) pooled, {len(ins)} in / {len(outs)} out"
            )
            parts.append(
                "<figure>"
                + _img(src, f"OOD score histogram of {method} on {pair} ({score})", 380, 300)
                + f"<figcaption>{caption}</figcaption></figure>"
            )
        parts.append("</div>")
    return "".join(parts)


def score_histogram_png(in_scores: np.ndarray, out_scores: np.ndarray, *, title: str, xlabel: str) -> bytes:
    """Overlaid density histograms of in- and out-of-distribution scores, on shared bins."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from calibench.report.figures import _png

    lo = float(min(in_scores.min(), out_scores.min()))
    hi = float(max(in_scores.max(), out_scores.max()))
    bins = np.linspace(lo, hi if hi > lo else lo + 1e-6, 31)
    fig, ax = plt.subplots(figsize=(3.8, 3.0), dpi=100)
    ax.hist(in_scores, bins=bins, density=True, alpha=0.55, color="#1f77b4", label=f"in ({len(in_scores)})")
    ax.hist(out_scores, bins=bins, density=True, alpha=0.55, color="#d62728", label=f"out ({len(out_scores)})")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel("density", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    fig.tight_layout()
    try:
        return _png(fig)
    finally:
        plt.close(fig)


def eval_set_table(records: Sequence[dict[str, Any]]) -> Any:
    """A rich table of the extra-set results of one run (stored values), for the terminal."""
    from rich.table import Table

    t = Table(title="calibench results on extra evaluation sets", header_style="bold")
    for col in ("pair", "kind", "method", "seed", "n", "Acc", "ECE", "AUROC (MSP)", "AUROC (logsumexp)", "AUROC (EBM)"):
        t.add_column(col)
    for r in sorted(records, key=lambda r: (r["pair"], r["method"], r["seed"])):
        m = r["metrics"]
        cells = [
            f"{m[k]['value']:.3f}" if k in m else "–"
            for k in ("accuracy", "ece", "ood_auroc_msp", "ood_auroc_neg_energy", "ood_auroc_neg_ebm_energy")
        ]
        t.add_row(r["pair"], r["eval_kind"], r["method"], str(r["seed"]), str(r["n_test"]), *cells)
    return t
