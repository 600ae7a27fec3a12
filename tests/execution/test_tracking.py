"""MLflow tracking: a faithful, idempotent mirror of the store, which never fails a sweep."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from _tiny_run import tiny_run_args
from fake_jobs import FakeJob, fake_plan

from calibench.cli import main
from calibench.execution.driver import run_trainings
from calibench.store.db import Store
from calibench.tracking import SafeTracker, TrackingNotInstalled, TrackingWarning, open_tracker


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _runs(uri: str) -> list[Any]:
    client = _client(uri)
    exp = client.get_experiment_by_name("calibench")
    return client.search_runs([exp.experiment_id], max_results=1000)


def _evaluation(training_key: str, method: str = "temp-scaling") -> dict[str, Any]:
    return {
        "key": f"result-{training_key}-{method}",
        "training_key": training_key,
        "prediction_key": "p",
        "task": "rte",
        "method": method,
        "seed": 0,
        "model": "minilm",
        "fingerprint": "fake-data",
        "recipe": {"name": "baseline", "options": {}},
        "inference": {"name": "deterministic", "options": {}},
        "calibrator": {"name": "temperature", "params": {"temperature": 1.5}},
        "metrics": {
            "ece": {"value": 0.05, "estimator": "ece(bins=15)"},
            "accuracy": {"value": 0.6, "estimator": "accuracy"},
        },
        "n_test": 139,
    }


def test_mlflow_mirrors_trainings_failures_and_evaluations_once(tmp_path):
    pytest.importorskip("mlflow", reason="mlflow is not installed (pip install 'calibench[mlflow]')")
    store, plan = Store(tmp_path), fake_plan(2)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = open_tracker("mlflow", tmp_path, uri)
    run_trainings(plan, store, FakeJob(fail_seeds=frozenset({1})), tracker=tracker)
    good, bad = (s.key for s in plan.trainings)
    tracker.log_evaluation(_evaluation(good))

    runs = {r.data.tags["calibench.id"]: r for r in _runs(uri)}
    assert set(runs) == {f"training/{good}/1", f"training/{bad}/1", f"evaluation/result-{good}-temp-scaling"}
    train = runs[f"training/{good}/1"]
    assert train.info.status == "FINISHED"
    assert train.data.params["hyper.max_steps"] == "2" and train.data.params["data.task"] == "rte"
    history = _client(uri).get_metric_history(train.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.7), (2, 0.6)]  # per-step losses
    assert {"ce", "lr"} <= set(train.data.metrics)  # recipe terms and the schedule too
    failed = runs[f"training/{bad}/1"]
    assert failed.info.status == "FAILED" and "plugin bug" in failed.data.tags["calibench.error"]
    ev = runs[f"evaluation/result-{good}-temp-scaling"]
    assert ev.data.tags["mlflow.parentRunId"] == train.info.run_id
    assert ev.data.metrics["ece"] == 0.05 and ev.data.metrics["calibrator.temperature"] == 1.5
    assert ev.data.tags["estimator.ece"] == "ece(bins=15)" and ev.data.params["method"] == "temp-scaling"

    # a rerun (new tracker, same database) adds nothing; a retried failure is a new attempt
    tracker = open_tracker("mlflow", tmp_path, uri)
    run_trainings(plan, store, FakeJob(), tracker=tracker, retry_failed=True)
    tracker.log_evaluation(_evaluation(good))
    ids = sorted(r.data.tags["calibench.id"] for r in _runs(uri))
    assert ids == sorted([*runs, f"training/{bad}/2"])
    assert not (tmp_path / "mlruns").exists()


class Broken:
    def __init__(self) -> None:
        self.calls = 0

    def log_training(self, row: dict[str, Any]) -> None:
        self.calls += 1
        raise ConnectionError("tracking server unreachable")

    def log_evaluation(self, record: dict[str, Any]) -> None:
        self.calls += 1
        raise ConnectionError("tracking server unreachable")


def test_tracking_failures_warn_and_never_fail_the_sweep(tmp_path):
    broken = Broken()
    with pytest.warns(TrackingWarning, match="unreachable.*store is unaffected") as caught:
        summary = run_trainings(fake_plan(4), Store(tmp_path), FakeJob(), tracker=SafeTracker(broken, max_errors=3))
    assert len(summary.trained) == 4 and not summary.failed
    assert broken.calls == 3  # then it stops trying
    assert "tracking is off for the rest of this run" in str(caught[-1].message)


def test_an_unusable_tracking_backend_warns_and_the_run_goes_on(tmp_path):
    pytest.importorskip("mlflow")
    with pytest.warns(TrackingWarning, match="could not open mlflow"):
        assert open_tracker("mlflow", tmp_path, "notascheme://nowhere") is None


def test_a_missing_mlflow_is_said_before_anything_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(TrackingNotInstalled, match=r"pip install 'calibench\[mlflow\]'"):
        open_tracker("mlflow", tmp_path)
    code = main(["run", "--methods", "baseline", "--tasks", "rte", "--output-dir", str(tmp_path), "--track", "mlflow"])
    assert code == 2 and "pip install 'calibench[mlflow]'" in capsys.readouterr().err
    assert not (tmp_path / Store.DB_NAME).exists()  # refused before the store was touched


def test_run_with_track_mlflow_end_to_end(tmp_path, glue_dir, minilm, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "runs"
    args = [
        "run",
        "--methods",
        "baseline,temp-scaling",
        *tiny_run_args(task="rte", train_size=32, steps=2, batch_size=8, max_length=32, seeds=1),
        "--data-dir",
        glue_dir,
        "--output-dir",
        str(out),
        "--track",
        "mlflow",
    ]
    assert main(args) == 0
    uri = f"sqlite:///{(out / 'mlflow.db').resolve()}"
    runs = _runs(uri)
    kinds = sorted(r.data.tags["calibench.kind"] for r in runs)
    assert kinds == ["evaluation", "evaluation", "training"]
    (train,) = [r for r in runs if r.data.tags["calibench.kind"] == "training"]
    assert [m.step for m in _client(uri).get_metric_history(train.info.run_id, "loss")] == [2]
    stored = {r["method"]: r["metrics"]["ece"]["value"] for r in Store(out).results()}
    logged = {
        r.data.params["method"]: r.data.metrics["ece"] for r in runs if r.data.tags["calibench.kind"] == "evaluation"
    }
    assert logged == pytest.approx(stored)
    assert main(args) == 0  # everything reused: nothing logged twice
    assert len(_runs(uri)) == 3
