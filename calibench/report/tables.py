"""Result records to tables: a tidy pandas frame, and rich tables of mean +- spread over seeds."""

from __future__ import annotations

from typing import Any, Iterable

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


def to_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per (task, method, seed); metric values as columns, estimators kept in attrs."""
    rows, estimators = [], {}
    for r in records:
        m = r["metrics"]
        row = {"task": r["task"], "method": r["method"], "seed": r["seed"], "model": r["model"]}
        for k, v in m.items():
            row[k] = v["value"]
            estimators[k] = v["estimator"]
        tk = task_metric_key(m)
        row["task_metric"] = m[tk]["value"]
        row["task_metric_name"] = tk
        rows.append(row)
    df = pd.DataFrame(rows)
    df.attrs["estimators"] = estimators
    return df


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and seed count per (task, method)."""
    cols = [c for c, _, _ in SUMMARY_COLUMNS if c in df]
    g = df.groupby(["task", "method"], sort=False)
    out = g[cols].agg(["mean", "std"])
    out[("n_seeds", "")] = g.size()
    out[("task_metric_name", "")] = g["task_metric_name"].first()
    return out


def results_table(records: list[dict[str, Any]], title: str = "Results"):
    """A rich Table: per task and method, mean +- std over seeds; best per task in bold."""
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
        for i, ((_, method), row) in enumerate(block.iterrows()):
            cells = []
            for col, _, _ in SUMMARY_COLUMNS:
                mean, std = row[(col, "mean")], row[(col, "std")]
                text = f"{mean:.3f}" + (f"±{std:.3f}" if pd.notna(std) else "")
                cells.append(f"[bold]{text}[/bold]" if mean == best[col] and len(block) > 1 else text)
            label = f"{task} ({row[('task_metric_name', '')]})"
            table.add_row(label if i == 0 else "", method, str(int(row[("n_seeds", "")])), *cells)
        table.add_section()
    ece_est = df.attrs["estimators"].get("ece", "")
    table.caption = f"mean ± std over seeds; ECE = {ece_est}; bold = best per task"
    return table
