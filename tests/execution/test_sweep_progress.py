"""Sweep-level progress: counts per state and a throughput-based ETA; silent without a display."""

from __future__ import annotations

import io

from fake_jobs import FakeJob, fake_plan
from rich.console import Console

from calibench.execution.driver import run_trainings
from calibench.execution.sweep import SweepProgress, make_sweep_progress
from calibench.store.db import Store


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_counts_and_eta_follow_the_events():
    clock = Clock()
    sweep = SweepProgress(6, clock=clock)
    sweep.update("skipped", "a")  # done earlier: no time spent here, so not in the rate
    sweep.update("busy", "b")
    assert (sweep.reused, sweep.elsewhere, sweep.left) == (1, 1, 4)
    sweep.update("start", "c")
    sweep.update("start", "d")  # two at once (e.g. a 2-slot Ray cluster)
    assert sweep.eta_s() is None  # nothing finished yet: no estimate rather than a wrong one
    clock.t += 10
    sweep.update("done", "c")
    sweep.update("failed", "d")
    # 2 finished in 10 s; 2 left -> 10 s
    assert sweep.eta_s() == 10.0 and sweep.left == 2 and not sweep.running
    sweep.update("start", "e")
    clock.t += 10
    sweep.update("lost", "e")
    assert sweep.describe() == "sweep: 2 done (1 reused), 0 running, 1 failed, 1 left, 2 in another sweep"
    assert sweep.eta_s() == 10.0  # 2 finished here in 20 s, 1 left


def test_the_display_shows_the_sweep_and_its_eta(tmp_path):
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=150)
    progress = make_sweep_progress(console)
    with progress:
        sweep = SweepProgress(3, progress)
        sweep.update("start", "a")
        sweep.update("done", "a")
        progress.refresh()
        (task,) = progress.tasks
        assert task.completed == 1 and task.total == 3 and task.fields["eta"] is not None
        assert "sweep: 1 done, 0 running, 0 failed, 2 left" in task.description
        rendered = out.getvalue()
        sweep.close()
    assert "ETA 0:00:0" in rendered and not progress.tasks


def test_library_code_stays_silent_without_a_display(tmp_path, capsys):
    run_trainings(fake_plan(2), Store(tmp_path), FakeJob(fail_seeds=frozenset({1})))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
