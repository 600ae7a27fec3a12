"""The whole pipeline on real GLUE slices with the real offline encoder."""

import json
import sqlite3

import numpy as np
import pytest

from calibench import api
from calibench.cli import main
from calibench.methods.base import LossOutput, Recipe
from calibench.store.db import Store


def run_cli(*args: str) -> int:
    return main(["run", *args])


def flat(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


def test_run_resume_and_shared_training(tmp_path, glue_dir, minilm, capsys, fast):
    out = str(tmp_path / "runs")
    args = ["--methods", "baseline,temp-scaling", *fast, "--data-dir", glue_dir, "--output-dir", out]
    assert run_cli(*args) == 0
    text = flat(capsys.readouterr().out)
    assert "1 distinct training(s), 2 evaluation(s)" in text  # temp-scaling reuses the baseline's training
    assert "calibench results" in text and "temp-scaling" in text
    store = Store(out)
    rows = store.results()
    assert {r["method"] for r in rows} == {"baseline", "temp-scaling"}
    by = {r["method"]: r for r in rows}
    assert by["baseline"]["training_key"] == by["temp-scaling"]["training_key"]
    assert by["temp-scaling"]["calibrator"]["params"]["temperature"] > 0
    for r in rows:  # every stored number names its estimator
        assert all(set(v) == {"value", "estimator"} for v in r["metrics"].values())
        assert r["fingerprint"] == r["training"]["split"]["fingerprint"]
        assert r["n_test"] == 138  # the last half of RTE's 277 dev examples (the middle row unused)
    first_created = {r["key"] for r in rows}
    (trained_before,) = [t["finished_at"] for t in store.trainings()]

    # the same command again trains nothing and recomputes nothing
    assert run_cli(*args) == 0
    text = flat(capsys.readouterr().out)
    assert "trained 0, reused 1" in text and "0 evaluation(s) computed, 2 reused" in text
    assert [t["finished_at"] for t in store.trainings()] == [trained_before]
    assert {r["key"] for r in store.results()} == first_created
    assert store.integrity_check() == []

    # `calibench results` reads the same store
    assert main(["results", "--output-dir", out, "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def _tiny_rte(methods: str, glue_dir: str, output_dir, max_steps: int):
    """One seed of RTE, 32 training examples, batch 8: a run of seconds."""
    return api.resolve_run(
        methods, tasks=["rte"], seeds=1, train_size=32, max_steps=max_steps, batch_size=8,
        data_dir=glue_dir, output_dir=str(output_dir),
    )  # fmt: skip


def test_same_seed_same_numbers(tmp_path, glue_dir, minilm):
    cfgs = [_tiny_rte("baseline", glue_dir, tmp_path / d, max_steps=4) for d in ("a", "b")]
    recs = [api.run(c).records[0] for c in cfgs]
    assert recs[0]["training_key"] == recs[1]["training_key"]
    assert recs[0]["metrics"] == recs[1]["metrics"]
    probs = [Store(c.output_dir).artifacts.read("probs", r["key"]).arrays["test_probs"] for c, r in zip(cfgs, recs)]
    np.testing.assert_array_equal(probs[0], probs[1])


def test_a_method_is_scored_as_soon_as_its_training_is_done(tmp_path, glue_dir, minilm):
    """Results reach the store while later trainings still run (so a stop keeps them and the grid
    driver can land them), with the numbers the end of the run would give."""
    cfg = _tiny_rte("baseline,temp-scaling,label-smoothing", glue_dir, tmp_path / "runs", max_steps=2)
    seen = {}

    def on_event(event, spec, _message):
        if event == "start":
            seen[spec.recipe] = sorted(r["method"] for r in Store(cfg.output_dir).results())

    result = api.run(cfg, on_event=on_event)
    first, second = sorted(seen, key=lambda recipe: len(seen[recipe]))
    methods_of = {"baseline": ["baseline", "temp-scaling"], "label-smoothing": ["label-smoothing"]}
    assert seen[first] == [] and seen[second] == methods_of[first]
    assert result.summary.evaluated == 3 and result.summary.reused_evaluations == 0
    again = api.run(cfg)
    assert again.summary.evaluated == 0 and again.summary.reused_evaluations == 3
    assert [r["metrics"] for r in again.records] == [r["metrics"] for r in result.records]

    # a stop between the trainings and their scoring: a rerun skips the trainings and scores each
    # one's methods as it passes it, not only at the end
    with sqlite3.connect(Store(cfg.output_dir).db_path) as db:
        db.execute("DELETE FROM results")
    skipped = []

    def on_skip(event, spec, _message):
        if event == "skipped":
            skipped.append((spec.recipe, sorted(r["method"] for r in Store(cfg.output_dir).results())))

    rescored = api.run(cfg, on_event=on_skip)
    assert len(skipped) == 2 and skipped[0][1] == []
    assert skipped[1][1] == methods_of[skipped[0][0]]  # the first skipped training's methods, scored
    assert rescored.summary.evaluated == 3
    assert [r["metrics"] for r in rescored.records] == [r["metrics"] for r in result.records]


class NanLoss(Recipe):
    """A recipe whose loss turns NaN at step 2 (tests divergence handling)."""

    def loss(self, model, batch, ctx):
        out = model(**batch).logits.float().sum() * 0.0
        return LossOutput(out + (float("nan") if ctx.step >= 2 else 0.0), {"probe": float(ctx.step)})


def test_nan_loss_is_recorded_and_the_grid_goes_on(tmp_path, glue_dir, minilm, capsys, fast, restore_registry):
    restore_registry.register("recipe", "test-nan-loss", NanLoss, description="test only")
    out = str(tmp_path / "runs")
    args = ["--methods", "baseline,test-nan-loss", *fast, "--data-dir", glue_dir, "--output-dir", out]
    assert run_cli(*args) == 1
    text = flat(capsys.readouterr().out)
    assert "diverged at step 2" in text and "--retry-failed" in text
    store = Store(out)
    failed = store.trainings("failed")
    assert len(failed) == 1 and "non-finite loss" in failed[0]["error"] and "Traceback" in failed[0]["traceback"]
    assert [r["method"] for r in store.results()] == ["baseline"]  # the other job's result is intact
    # a rerun does not retry it unless asked
    assert run_cli(*args) == 1
    assert "failed in an earlier run" in flat(capsys.readouterr().out)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--methods", "baseline", "--tasks", "sst3"], "unknown task 'sst3'. Did you mean 'sst2'"),
        (["--methods", "temp-scalng", "--tasks", "rte"], "Did you mean 'temp-scaling'"),
        (["--methods", "baseline", "--tasks", "stsb"], "regression"),
        (["--methods", "baseline", "--tasks", "rte", "--train-size", "0"], "--train-size must be >= 1"),
        (["--methods", "baseline", "--tasks", "rte", "--lr", "-1"], "learning rate must be > 0"),
    ],
)
def test_bad_input_gets_one_clear_line(tmp_path, glue_dir, capsys, extra, message):
    code = main(["run", *extra, "--data-dir", glue_dir, "--output-dir", str(tmp_path), "--dry-run"])
    err = flat(capsys.readouterr().err)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_missing_data_dir(tmp_path, capsys):
    code = main(
        [
            "run",
            "--methods",
            "baseline",
            "--tasks",
            "rte",
            "--data-dir",
            str(tmp_path / "nope"),
            "--output-dir",
            str(tmp_path),
            "--dry-run",
        ]
    )
    assert code == 2
    assert "nope" in capsys.readouterr().err


def test_model_that_does_not_load(tmp_path, glue_dir, capsys, monkeypatch, fast):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bad = tmp_path / "not-a-model"
    bad.mkdir()
    out = str(tmp_path / "runs")
    code = run_cli("--methods", "baseline", *fast, "--model", str(bad), "--data-dir", glue_dir, "--output-dir", out)
    assert code == 2  # refused before any training starts
    err = flat(capsys.readouterr().err)
    assert "could not load model" in err and "--model minilm" in err and "Traceback" not in err
