"""The shared driver (skip / claim / lease / store / fail) with fake jobs on the local executor."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
from fake_jobs import FakeJob, fake_output, fake_plan

from calibench.execution.driver import run_trainings, store_output
from calibench.execution.executor import JobFailed
from calibench.execution.executors import make_executor
from calibench.execution.local import LocalExecutor
from calibench.store.db import Store


class Events:
    """Collects the driver's events as ``(event, seed, message)``."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, str]] = []

    def __call__(self, event: str, spec: Any, msg: str) -> None:
        self.seen.append((event, spec.seed, msg))

    def of(self, event: str) -> list[int]:
        return sorted(seed for e, seed, _ in self.seen if e == event)


class CountingJob(FakeJob):
    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.calls: list[int] = []

    def __call__(self, spec):
        self.calls.append(spec.seed)
        return super().__call__(spec)


def test_a_failing_job_is_recorded_the_sweep_goes_on_and_only_failures_are_retried(tmp_path):
    store, plan = Store(tmp_path), fake_plan(3)
    events = Events()
    summary = run_trainings(plan, store, FakeJob(fail_seeds=frozenset({1})), on_event=events)
    bad = plan.trainings[1].key
    assert sorted(summary.trained) == sorted([plan.trainings[0].key, plan.trainings[2].key])
    assert summary.failed == {bad: "RuntimeError: plugin bug in seed 1"}
    row = store.training(bad)
    assert row["status"] == "failed" and "Traceback" in row["traceback"] and "fake_jobs.py" in row["traceback"]
    assert events.of("start") == [0, 1, 2] and events.of("done") == [0, 2] and events.of("failed") == [1]

    again = CountingJob()
    summary = run_trainings(plan, store, again)  # not retried unless asked
    assert again.calls == [] and list(summary.failed) == [bad] and len(summary.skipped) == 2

    summary = run_trainings(plan, store, again, retry_failed=True)
    assert again.calls == [1] and summary.trained == [bad] and not summary.failed
    assert store.training(bad)["attempts"] == 2 and store.integrity_check() == []


def test_a_job_finished_by_another_sweep_meanwhile_is_not_run_again(tmp_path):
    """The driver decides from a read; another sweep may finish the job before the claim."""
    store, plan = Store(tmp_path), fake_plan(2)
    other = Store(tmp_path)
    second = plan.trainings[1]

    class FinishesTheOtherJob(CountingJob):
        def __call__(self, spec):
            if spec.seed == 0:  # while job 0 runs here, a concurrent sweep does job 1
                assert other.claim(second.key, second.to_json(), "other-sweep")
                assert store_output(other, "other-sweep", fake_output(second))
            return super().__call__(spec)

    job, events = FinishesTheOtherJob(), Events()
    summary = run_trainings(plan, store, job, on_event=events)
    assert job.calls == [0] and events.of("skipped") == [1] and summary.skipped == [second.key]
    assert store.training(second.key)["attempts"] == 1


def test_a_job_another_sweep_finishes_right_after_the_driver_looked_is_not_run_again(tmp_path, monkeypatch):
    """The race of three concurrent sweeps: the driver read the job running elsewhere, the
    other sweep finished it, and a second read must not make the claim take it as unfinished."""
    store, plan = Store(tmp_path), fake_plan(1)
    spec, other = plan.trainings[0], Store(tmp_path)
    assert other.claim(spec.key, spec.to_json(), "other-sweep")  # running elsewhere when we look
    read, store_output_done = store.training, []

    def finished_after_the_first_look(key):
        row = read(key)
        if not store_output_done:
            store_output_done.append(store_output(other, "other-sweep", fake_output(spec)))
        return row

    monkeypatch.setattr(store, "training", finished_after_the_first_look)
    job, events = CountingJob(), Events()
    summary = run_trainings(plan, store, job, on_event=events)
    assert store_output_done == [True]
    assert job.calls == [] and summary.skipped == [spec.key] and events.of("start") == []
    assert read(spec.key)["attempts"] == 1 and read(spec.key)["status"] == "done"


def test_leases_are_renewed_while_a_job_runs(tmp_path):
    store, plan = Store(tmp_path), fake_plan(1)
    key = plan.trainings[0].key
    rival = Store(tmp_path)
    verdicts: list[bool] = []

    class Slow(FakeJob):
        def __call__(self, spec):
            time.sleep(1.0)  # more than twice the lease: only renewals keep the claim
            verdicts.append(rival.claim(key, {}, "rival", lease_s=0.4))
            return super().__call__(spec)

    summary = run_trainings(plan, store, Slow(), lease_s=0.4)
    assert verdicts == [False] and summary.trained == [key]
    assert store.training(key)["owner"] != "rival"


def test_a_claim_taken_over_while_the_job_ran_discards_its_result(tmp_path):
    store, plan = Store(tmp_path), fake_plan(1)
    key = plan.trainings[0].key

    class Overtaken(FakeJob):
        def __call__(self, spec):
            with store._conn() as c:  # what an expired lease (a suspended driver) allows another sweep
                c.execute(
                    "UPDATE trainings SET owner='other-sweep', lease_until=? WHERE key=?", (time.time() + 60, key)
                )
            return super().__call__(spec)

    events = Events()
    summary = run_trainings(plan, store, Overtaken(), on_event=events)
    assert summary.lost == [key] and not summary.trained and events.of("lost") == [0]
    row = store.training(key)
    assert row["owner"] == "other-sweep" and row["status"] == "running" and row["record"] is None


def test_an_interrupt_gives_the_claim_back(tmp_path):
    store, plan = Store(tmp_path), fake_plan(2)

    class Interrupted(FakeJob):
        def __call__(self, spec):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_trainings(plan, store, Interrupted())
    assert store.trainings() == []  # nothing claimed is left behind


def test_a_store_write_failure_is_a_job_failure(tmp_path, monkeypatch):
    store, plan = Store(tmp_path), fake_plan(2)
    real_write = store.artifacts.write
    calls = []

    def full_disk_once(kind, key, **kw):
        calls.append(key)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real_write(kind, key, **kw)

    monkeypatch.setattr(store.artifacts, "write", full_disk_once)
    summary = run_trainings(plan, store, FakeJob())
    first, second = (s.key for s in plan.trainings)
    assert summary.failed == {first: "OSError: [Errno 28] No space left on device"} and summary.trained == [second]
    assert store.training(first)["status"] == "failed" and store.integrity_check() == []


def _logits(out: Any) -> np.ndarray:
    (pred,) = out.predictions.values()
    return pred["arrays"]["dev_logits"]


def test_the_local_executor_yields_failures_in_order_and_refuses_ray_options():
    specs = fake_plan(3).trainings
    outcomes = list(LocalExecutor().map(FakeJob(fail_seeds=frozenset({0})), iter(specs)))
    assert [s.seed for s, _ in outcomes] == [0, 1, 2]
    assert isinstance(outcomes[0][1], JobFailed) and "plugin bug" in outcomes[0][1].error
    np.testing.assert_array_equal(_logits(outcomes[1][1]), _logits(fake_output(specs[1])))
    with pytest.raises(ValueError, match="--address only apply to --executor ray"):
        make_executor("local", address="ray://x:10001")


def test_the_lease_keeper_thread_stops_with_the_sweep(tmp_path):
    before = {t.name for t in threading.enumerate()}
    run_trainings(fake_plan(1), Store(tmp_path), FakeJob())
    assert "calibench-lease-keeper" not in {t.name for t in threading.enumerate()} - before


class _Elsewhere(LocalExecutor):
    """An executor that says it runs jobs in other processes (runs them here, in order)."""

    in_process = False


def _ebm_plan():
    from dataclasses import replace

    from calibench.execution.planner import Plan

    base = fake_plan(1).trainings[0]
    noise = {"noise_lm": "minilm", "k": 1}
    recipes = [
        ("baseline", {}),
        ("ebm-scalar", noise),
        ("ebm-hidden", noise),
        ("ebm-hidden", {**noise, "noise_lr": 1e-4}),  # another noise LM: its own group
        ("label-smoothing", {}),
        ("ebm-sharp-hidden", noise),
        ("mixup", {}),
    ]
    return Plan(trainings=[replace(base, recipe=r, recipe_options=o) for r, o in recipes])


def test_trainings_sharing_a_noise_lm_are_started_apart_where_jobs_run_at_once(tmp_path):
    """Started together, the second would wait for the first's noise LM with a core idle."""
    plan = _ebm_plan()

    def started(executor):
        order: list[tuple[str, dict]] = []
        run_trainings(
            plan,
            Store(tmp_path / executor.__class__.__name__),
            FakeJob(),
            executor=executor,
            on_event=lambda e, spec, m: order.append((spec.recipe, spec.recipe_options)) if e == "start" else None,
        )
        return [(r, o.get("noise_lr")) for r, o in order]

    assert started(_Elsewhere()) == [
        ("baseline", None),
        ("ebm-scalar", None),
        ("ebm-hidden", 1e-4),
        ("label-smoothing", None),
        ("mixup", None),
        ("ebm-hidden", None),
        ("ebm-sharp-hidden", None),
    ]
    in_order = [(s.recipe, s.recipe_options.get("noise_lr")) for s in plan.trainings]
    assert started(LocalExecutor()) == in_order  # one at a time: nothing waits, the plan's order stays
