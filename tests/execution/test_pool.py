"""The local process pool (``--jobs N``): the in-process executor's numbers, failures kept apart."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _tiny_run import tiny_run_args
from fake_jobs import FakeJob, Running, fake_plan

from calibench.cli import main
from calibench.errors import OptionError
from calibench.execution.driver import run_trainings
from calibench.execution.executors import make_executor
from calibench.execution.local import LocalExecutor
from calibench.execution.pool import PoolExecutor
from calibench.store.db import Store


def test_a_grid_with_two_jobs_at_once_gives_the_one_thread_in_process_numbers(tmp_path, glue_dir, minilm, monkeypatch):
    import torch

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    grid = [
        "--methods",
        "baseline,temp-scaling",
        *tiny_run_args(task="rte", train_size=32, steps=3, batch_size=8, max_length=32, seeds=2),
        "--data-dir",
        glue_dir,
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what each pool job gets with --cpus-per-job 1: the same float reduction order
    try:
        assert main(["run", *grid, "-o", str(tmp_path / "local")]) == 0
    finally:
        torch.set_num_threads(threads)
    assert main(["run", *grid, "-o", str(tmp_path / "pool"), "--jobs", "2", "--cpus-per-job", "1"]) == 0

    local, pooled = Store(tmp_path / "local"), Store(tmp_path / "pool")
    keys = local.artifacts.keys("logits")
    assert len(keys) == 2 and pooled.artifacts.keys("logits") == keys
    for key in keys:
        a, b = local.artifacts.read("logits", key).arrays, pooled.artifacts.read("logits", key).arrays
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=f"{key}/{name}")
    metrics = [{(r["method"], r["seed"]): r["metrics"] for r in s.results()} for s in (local, pooled)]
    assert len(metrics[0]) == 4 and metrics[0] == metrics[1]
    records = [t["record"] for t in pooled.trainings()]
    assert len(records) == 2
    assert {r["torch_threads"] for r in records} == {1}


def test_a_dead_worker_fails_only_its_own_job_and_retry_reruns_only_the_failures(tmp_path):
    store, plan = Store(tmp_path), fake_plan(5)
    keys = [s.key for s in plan.trainings]
    running = Running()
    job = FakeJob(sleep=0.5, fail_seeds=frozenset({1}), crash_seeds=frozenset({2}))
    with PoolExecutor(jobs=2, threads=1) as executor:
        summary = run_trainings(plan, store, job, executor=executor, on_event=running)
    assert sorted(summary.trained) == sorted([keys[0], keys[3], keys[4]])
    assert set(summary.failed) == {keys[1], keys[2]}
    assert store.training(keys[1])["error"] == "RuntimeError: plugin bug in seed 1"
    assert "fake_jobs.py" in store.training(keys[1])["traceback"]  # the worker's own traceback
    died = store.training(keys[2])
    assert died["status"] == "failed" and died["error"].startswith("worker process died (exit code 3)")
    assert running.peak == 2  # two at once, and no spec claimed before a worker could start it

    with PoolExecutor(jobs=2, threads=1) as executor:
        summary = run_trainings(plan, store, FakeJob(), executor=executor, retry_failed=True)
    assert sorted(summary.trained) == sorted([keys[1], keys[2]]) and len(summary.skipped) == 3
    assert store.integrity_check() == []


def test_the_local_executor_takes_jobs_and_refuses_what_does_not_apply():
    assert isinstance(make_executor("local"), LocalExecutor)
    pool = make_executor("local", jobs=2)
    assert isinstance(pool, PoolExecutor) and pool.threads == max(1, (os.cpu_count() or 1) // 2)
    assert make_executor("local", jobs=3, cpus_per_job=1).threads == 1
    with pytest.raises(OptionError, match="--jobs must be >= 1"):
        make_executor("local", jobs=0)
    with pytest.raises(OptionError, match="whole number of threads"):
        make_executor("local", jobs=2, cpus_per_job=0.5)
    with pytest.raises(OptionError, match="--jobs applies to --executor local"):
        make_executor("ray", jobs=2)


def test_jobs_auto_is_one_job_per_core_on_a_cpu_and_the_benchmark_presets_choice():
    from calibench.api import resolve_jobs
    from calibench.presets import get_preset

    assert resolve_jobs("auto", "cpu") == (os.cpu_count() or 1)
    assert resolve_jobs("3", None) == 3 and resolve_jobs(2, None) == 2
    with pytest.raises(OptionError, match="--jobs must be a whole number or 'auto'"):
        resolve_jobs("many", None)
    assert get_preset("benchmark").jobs == "auto" and get_preset("cpu").jobs == 1  # cpu: live progress
