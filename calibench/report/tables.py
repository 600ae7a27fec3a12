"""Result records to tables: a tidy pandas frame, and rich tables of mean +- spread over seeds.

Only comparable numbers are averaged: results of one task and method are pooled over seeds
only when they share the data fingerprint (the same rows, texts and labels) and the
estimator of every metric (e.g. the ECE's bin count). Otherwise they are shown as separate
rows, each labelled with what sets it apart (:func:`comparable_groups`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

#: (column key, header, lower is better) shown in the results table
SUMMARY_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("accuracy", "Acc", False),
    ("task_metric", "Task", False),
    ("ece", "ECE", True),
    ("nll", "NLL", True),
    ("brier", "Brier", True),
)


def task_metric_key(metrics: dict[str, Any]) -> str:
    """The task's own metric among the stored ones (mcc for CoLA, f1 for MRPC/QQP)."""
    for k in ("mcc", "f1"):
        if k in metrics:
            return k
    return "accuracy"


def _estimators(record: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v["estimator"]) for k, v in record["metrics"].items()))


def comparable_groups(records: Iterable[dict[str, Any]]) -> tuple[dict[int, str], list[str]]:
    """A label per record (index -> "" or what sets its group apart) and one note per task that
    had to be split: records of a task are comparable when fingerprint and estimators agree."""
    records = list(records)
    by_task: dict[str, dict[tuple[Any, ...], list[int]]] = {}
    for i, r in enumerate(records):
        by_task.setdefault(r["task"], {}).setdefault((r["model"], r["fingerprint"], _estimators(r)), []).append(i)
    labels: dict[int, str] = {i: "" for i in range(len(records))}
    notes = []
    for task, groups in by_task.items():
        if len(groups) < 2:
            continue
        models = {m for m, _, _ in groups}
        fingerprints = {fp for _, fp, _ in groups}
        estimators = [dict(est) for _, _, est in groups]
        differing = sorted(k for k in set().union(*estimators) if len({e.get(k) for e in estimators}) > 1)
        for (model, fp, est), idx in groups.items():
            parts = [f"model {model}"] if len(models) > 1 else []
            parts += [f"data {fp[:10]}"] if len(fingerprints) > 1 else []
            parts += [dict(est).get(k, f"no {k}") for k in differing]
            for i in idx:
                labels[i] = "; ".join(parts)
        why = (
            (["different encoders"] if len(models) > 1 else [])
            + (["different data fingerprints"] if len(fingerprints) > 1 else [])
            + ([f"different estimators of {', '.join(differing)}"] if differing else [])
        )
        notes.append(
            f"{task}: {len(groups)} groups of results are shown apart ({' and '.join(why)}); "
            "their numbers cannot be averaged or compared"
        )
    return labels, notes


def to_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per (task, method, seed); metric values as columns, estimators kept in attrs.

    ``group`` is "" where a task's results are comparable, else what sets the row's group apart."""
    records = list(records)
    labels, notes = comparable_groups(records)
    rows, estimators, ece_estimators = [], {}, set()
    for i, r in enumerate(records):
        m = r["metrics"]
        row = {
            "task": r["task"],
            "method": r["method"],
            "group": labels[i],
            "seed": r["seed"],
            "model": r["model"],
            "fingerprint": r["fingerprint"],
        }
        for k, v in m.items():
            row[k] = v["value"]
            estimators[k] = v["estimator"]
            if k == "ece":
                ece_estimators.add(v["estimator"])
        tk = task_metric_key(m)
        row["task_metric"] = m[tk]["value"]
        row["task_metric_name"] = tk
        rows.append(row)
    df = pd.DataFrame(rows)
    df.attrs["estimators"] = estimators
    df.attrs["group_notes"] = notes
    df.attrs["ece_estimators"] = sorted(ece_estimators)
    return df


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and seed count per (task, method)."""
    cols = [c for c, _, _ in SUMMARY_COLUMNS if c in df]
    g = df.groupby(["task", "method", "group"], sort=False)
    out = g[cols].agg(["mean", "std"])
    out[("n_seeds", "")] = g.size()
    out[("task_metric_name", "")] = g["task_metric_name"].first()
    return out


def results_table(records: list[dict[str, Any]], title: str = "Results"):
    """A rich Table: per task and method, mean +- std over seeds; best per task in bold."""
    from rich.markup import escape
    from rich.table import Table

    df = to_frame(records)
    table = Table(title=title, show_lines=False, header_style="bold")
    table.add_column("Task (metric)", no_wrap=True)
    table.add_column("Method", no_wrap=True, overflow="fold")
    table.add_column("n", justify="right")
    for _, header, lower in SUMMARY_COLUMNS:
        table.add_column(header + (" ↓" if lower else " ↑"), justify="right")
    if df.empty:
        return table
    summ = summarise(df)
    for task, block in summ.groupby(level=0, sort=False):
        best = {}
        for col, _, lower in SUMMARY_COLUMNS:
            means = block[(col, "mean")]
            best[col] = means.min() if lower else means.max()
        for i, ((_, method, group), row) in enumerate(block.iterrows()):
            cells = []
            for col, _, _ in SUMMARY_COLUMNS:
                mean, std = row[(col, "mean")], row[(col, "std")]
                text = f"{mean:.3f}" + (f"±{std:.3f}" if pd.notna(std) else "")
                cells.append(f"[bold]{text}[/bold]" if mean == best[col] and len(block) > 1 else text)
            label = f"{task} ({row[('task_metric_name', '')]})"
            name = escape(f"{method} [{group}]" if group else method)
            table.add_row(label if i == 0 else "", name, str(int(row[("n_seeds", "")])), *cells)
        table.add_section()
    ece_ests = sorted({e for e in df.attrs["ece_estimators"]})
    ece_est = ece_ests[0] if len(ece_ests) == 1 else "per row, see the brackets"
    table.caption = f"mean ± std over seeds; ECE = {ece_est}; bold = best per task"
    return table
