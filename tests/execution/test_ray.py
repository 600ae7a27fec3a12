"""The Ray executor on a real local cluster (2 CPUs, no GPU): same numbers, same failure handling."""

from __future__ import annotations

import os
import sys
import time

import pytest
from _same_numbers import assert_same_numbers_as_in_process
from fake_jobs import FakeJob, Running, fake_plan

from calibench.cli import main
from calibench.execution.driver import run_trainings
from calibench.execution.ray_executor import ClusterTooSmall, RayExecutor, RayNotInstalled
from calibench.store.db import Store


def test_a_grid_on_ray_gives_the_local_executors_numbers(tmp_path, glue_dir, minilm, ray_cluster, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert_same_numbers_as_in_process(tmp_path, glue_dir, ["--executor", "ray", "--cpus-per-job", "1"])


def test_failures_and_dead_workers_are_recorded_and_only_they_are_retried(tmp_path, ray_cluster):
    store, plan = Store(tmp_path), fake_plan(4)
    keys = [s.key for s in plan.trainings]
    running = Running()
    job = FakeJob(sleep=0.3, fail_seeds=frozenset({1}), crash_seeds=frozenset({2}))
    with RayExecutor() as executor:
        summary = run_trainings(plan, store, job, executor=executor, on_event=running)
    assert sorted(summary.trained) == sorted([keys[0], keys[3]])
    assert set(summary.failed) == {keys[1], keys[2]}
    raised = store.training(keys[1])
    assert raised["error"] == "RuntimeError: plugin bug in seed 1"
    assert "fake_jobs.py" in raised["traceback"]  # the worker's own traceback
    died = store.training(keys[2])
    assert died["status"] == "failed" and died["error"].startswith(
        ("WorkerCrashedError", "RayTaskError", "OutOfMemoryError")
    )
    assert running.peak == 2  # as many at once as the cluster runs, no more claimed
    assert all(store.training(k)["record"]["pid"] != os.getpid() for k in (keys[0], keys[3]))  # ran in workers

    running = Running()
    with RayExecutor() as executor:
        summary = run_trainings(plan, store, FakeJob(), executor=executor, on_event=running, retry_failed=True)
    assert sorted(summary.trained) == sorted([keys[1], keys[2]]) and len(summary.skipped) == 2
    assert sorted(seed for e, seed in running.events if e == "start") == [1, 2]
    assert [store.training(k)["attempts"] for k in keys] == [1, 2, 2, 1]
    assert store.integrity_check() == []


def test_a_job_no_node_can_fit_fails_at_once_and_claims_nothing(tmp_path, ray_cluster):
    store = Store(tmp_path)
    started = time.monotonic()
    with RayExecutor(cpus_per_job=3) as executor:
        with pytest.raises(ClusterTooSmall, match=r"asks for 3 CPU.*cluster has 2 CPU.*--cpus-per-job"):
            run_trainings(fake_plan(2), store, FakeJob(), executor=executor)
    assert time.monotonic() - started < 60
    assert store.trainings() == []


def test_without_ray_installed_the_error_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RayNotInstalled, match=r"pip install 'calibench\[ray\]'"):
        RayExecutor()
    code = main(["run", "--methods", "baseline", "--tasks", "rte", "--output-dir", str(tmp_path), "--executor", "ray"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'calibench[ray]'" in err and "Traceback" not in err
