"""A metric registered by a plugin is computed by a run, bootstrapped and placed on the board."""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path

import numpy as np
from fake_jobs import fake_output, fake_spec

from calibench.config import inference_key
from calibench.execution.driver import run_trainings
from calibench.execution.evaluate import run_evaluations
from calibench.execution.planner import EvalJob, Plan
from calibench.methods.compose import parse_method
from calibench.metrics import evaluation_specs, metric_spec
from calibench.report.leaderboard import LeaderboardOptions, build_leaderboard
from calibench.report.runs import load_store_runs
from calibench.stats import bootstrap_ci
from calibench.store.db import Store

PLUGIN = """
    import numpy as np
    from calibench.metrics import Metric

    def confidence_gap(probs, labels, *, power=1):
        # |mean top-label confidence - accuracy| ** power; no batched form: calibench loops over resamples
        gap = abs(float(probs.max(axis=1).mean()) - float((probs.argmax(axis=1) == labels).mean()))
        return gap ** power

    CONFIDENCE_GAP = Metric("confidence_gap", confidence_gap, lower_is_better=True, title="Conf. gap",
                            description="absolute gap between mean confidence and accuracy")
"""


def _install_plugin(root: Path) -> None:
    (root / "gapmetric_impl.py").write_text(textwrap.dedent(PLUGIN))
    (root / "gapmetric_register.py").write_text(
        "from calibench.registry import register\n"
        "register('metric', 'confidence_gap', 'gapmetric_impl:CONFIDENCE_GAP', description='confidence gap')\n"
    )
    info = root / "gapmetric-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gapmetric\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[calibench.metrics]\ngapmetric = gapmetric_register\n")


def _job(spec):
    """A fake training whose seeds share one test set (as real seeds of one task do)."""
    out = fake_output(spec, 60)
    for p in out.predictions.values():
        p["arrays"]["test_labels"] = np.arange(60) % 2
    return out


def test_a_plugin_metric_is_computed_by_run_bootstrapped_and_ranked(tmp_path, monkeypatch, restore_registry):
    plugin_dir = tmp_path / "site"
    plugin_dir.mkdir()
    _install_plugin(plugin_dir)
    monkeypatch.syspath_prepend(str(plugin_dir))
    importlib.invalidate_caches()
    restore_registry.load_plugins(force=True)
    entry = restore_registry.get_entry("metric", "confidence_gap")
    assert entry.source == "gapmetric"
    assert "confidence_gap" in evaluation_specs("accuracy")  # every run computes it

    specs = [fake_spec(seed) for seed in (0, 1)]
    method = parse_method("baseline")
    plan = Plan(
        trainings=specs,
        evaluations=[EvalJob(method, "rte", s.seed, s.key, inference_key(s.key, "deterministic", {})) for s in specs],
    )
    store = Store(tmp_path / "store")
    summary = run_trainings(plan, store, _job)
    run_evaluations(plan, store, summary, {})
    assert summary.evaluated == 2

    gap = metric_spec("confidence_gap")
    runs = load_store_runs(tmp_path / "store")
    for run in runs:
        stored = run.record["metrics"]["confidence_gap"]
        assert stored["estimator"] == "confidence_gap(power=1)"
        assert stored["value"] == gap.fn(run.probs.astype(np.float64), run.labels)
        assert stored["value"] > 0

    ci = bootstrap_ci(runs[0].probs, runs[0].labels, "confidence_gap", n_resamples=200, seed=0)
    assert ci.estimator == "confidence_gap(power=1)" and ci.low < ci.estimate < ci.high

    lb = build_leaderboard(runs, LeaderboardOptions(metrics=("confidence_gap",), ci="bootstrap", n_resamples=200))
    (board,) = lb.boards
    assert board.title == "Conf. gap" and board.lower_is_better
    cell = board.cells[("rte", "baseline")]
    assert cell.values == tuple(
        r.record["metrics"]["confidence_gap"]["value"] for r in sorted(runs, key=lambda r: r.seed)
    )
    assert cell.bootstrap_low < cell.mean < cell.bootstrap_high
