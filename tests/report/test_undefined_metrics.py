"""A metric that is undefined on a sample (NaN: misclassification AUROC without an error, the
debiased L2 CE below 15 examples) survives the store -> export -> leaderboard round trip:
NaN stored and NaN recomputed agree; NaN against a number does not."""

from __future__ import annotations

import math

import numpy as np

from calibench.metrics import evaluate
from calibench.report.export import export_runs, load_result_runs
from calibench.report.runs import Run, metric_disagreements


def _perfect_runs(make_runs) -> list[Run]:
    """12 test examples, every prediction right (the synthetic runs' records, metrics recomputed)."""
    out = []
    for r in make_runs(tasks=("rte",), methods=("baseline", "temp-scaling"), seeds=(0,), n=12):
        probs = np.where(np.eye(2)[r.labels] == 1, 0.8, 0.2).astype(np.float32)
        record = {**r.record, "metrics": evaluate(probs.astype(np.float64), r.labels, "accuracy")}
        out.append(Run(record, probs, r.labels, r.source))
    return out


def test_nan_metrics_round_trip(tmp_path, make_runs):
    runs = _perfect_runs(make_runs)
    metrics = runs[0].record["metrics"]
    assert math.isnan(metrics["misclassification_auroc"]["value"]) and math.isnan(metrics["debiased_l2_ce"]["value"])
    assert metric_disagreements(runs, 1e-6) == []
    export_runs(runs, tmp_path / "results")
    back = load_result_runs(tmp_path / "results")  # verifies every metric against its recomputation
    assert math.isnan(back[0].record["metrics"]["misclassification_auroc"]["value"])
    wrong = Run(
        {
            **runs[0].record,
            "metrics": {
                **metrics,
                "misclassification_auroc": {"value": 0.5, "estimator": metrics["misclassification_auroc"]["estimator"]},
            },
        },
        runs[0].probs,
        runs[0].labels,
    )
    (d,) = metric_disagreements([wrong], 1e-6)
    assert d.metric == "misclassification_auroc"
