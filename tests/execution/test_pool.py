"""The local process pool (``--jobs N``): the in-process executor's numbers, failures kept apart."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from _same_numbers import assert_same_numbers_as_in_process
from fake_jobs import FakeJob, Running, fake_plan, run_fake_sweep

from calibench.errors import OptionError
from calibench.execution.driver import run_trainings
from calibench.execution.executors import make_executor
from calibench.execution.local import LocalExecutor
from calibench.execution.pool import PoolExecutor
from calibench.store.db import Store


def test_a_grid_with_two_jobs_at_once_gives_the_one_thread_in_process_numbers(tmp_path, glue_dir, minilm, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pooled = assert_same_numbers_as_in_process(tmp_path, glue_dir, ["--jobs", "2", "--cpus-per-job", "1"])
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


def test_a_worker_that_dies_while_the_driver_settles_another_job_still_reports_its_failure(tmp_path):
    """The death lands between ``wait`` returning for the other worker and the next look: not lost."""
    store, plan = Store(tmp_path), fake_plan(2)
    keys = [s.key for s in plan.trainings]

    def slow_settle(event: str, spec, msg: str) -> None:
        if event == "done":  # seed 1 dies while the driver is busy with seed 0's result
            time.sleep(3.0)

    job = FakeJob(sleep=0.2, crash_seeds=frozenset({1}), crash_after=0.5)
    with PoolExecutor(jobs=2, threads=1) as executor:
        summary = run_trainings(plan, store, job, executor=executor, on_event=slow_settle)
    assert summary.trained == [keys[0]]
    assert list(summary.failed) == [keys[1]] and summary.failed[keys[1]].startswith("worker process died")
    assert store.training(keys[1])["status"] == "failed"


def _workers_of(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads a process's children from /proc")
def test_workers_end_with_their_driver_however_it_is_killed(tmp_path):
    """A killed ``calibench run`` leaves no worker training on, holding a core, for nothing."""
    driver = run_fake_sweep(tmp_path, n=2, sleep=120, jobs=2)
    try:
        for _ in range(2):
            assert driver.stdout.readline().startswith("start")
        deadline = time.monotonic() + 30
        while len(workers := _workers_of(driver.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # "start" is told when a job is claimed, before its worker exists
        assert len(workers) == 2
    finally:
        driver.kill()
        driver.wait()
    deadline = time.monotonic() + 20
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


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
