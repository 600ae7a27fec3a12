"""SIGKILLed and concurrent sweeps: finished work is kept, nothing runs twice, the store stays whole."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from _tiny_run import tiny_run_args
from fake_jobs import ENV, fake_plan, run_fake_sweep

from calibench.cli import main
from calibench.store.db import Store


def _grid(glue_dir: str, out: Path, seeds: int) -> list[str]:
    return [
        "run",
        "--methods",
        "baseline",
        *tiny_run_args(task="rte", train_size=32, steps=3, batch_size=8, max_length=32, seeds=seeds),
        "--data-dir",
        glue_dir,
        "--output-dir",
        str(out),
    ]


def _cli(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as f:
        return subprocess.Popen(
            [sys.executable, "-m", "calibench.cli", *args],
            stdout=f,
            stderr=subprocess.STDOUT,
            env={**ENV, "COLUMNS": "200"},
        )


def _tmp_dirs(out: Path) -> list[Path]:
    return list((out / "artifacts").glob("*/*/.tmp-*"))


def _wait_for(predicate, proc: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended (rc {proc.returncode}) before the point to kill it:\n{log.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for the sweep:\n{log.read_text()}")
        time.sleep(0.1)


def test_a_sweep_killed_after_its_first_training_resumes_without_redoing_it(tmp_path, glue_dir, minilm, capsys):
    out, log = tmp_path / "runs", tmp_path / "killed.log"
    args = _grid(glue_dir, out, seeds=2)
    proc = _cli(args, log)

    def first_done() -> bool:
        return (out / Store.DB_NAME).exists() and bool(Store(out).trainings("done"))

    _wait_for(first_done, proc, log)
    time.sleep(random.uniform(0.0, 1.0))  # somewhere in the next job: claim, model load, training
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = Store(out)
    before = {r["key"]: r for r in store.trainings()}
    done_before = {k: r for k, r in before.items() if r["status"] == "done"}
    assert done_before and store.integrity_check() == []

    assert main(args) == 0  # the same command again, right away
    text = " ".join(capsys.readouterr().out.split())
    assert f"trained {2 - len(done_before)}, reused {len(done_before)}" in text
    assert "busy elsewhere 0" in text  # the dead sweep's live-leased claim did not block the rerun
    after = {r["key"]: r for r in store.trainings()}
    assert len(after) == 2 and all(r["status"] == "done" for r in after.values())
    for key, row in done_before.items():  # kept, not retrained
        assert (
            (after[key]["finished_at"], after[key]["attempts"])
            == (row["finished_at"], row["attempts"])
            == (row["finished_at"], 1)
        )
    for key, row in before.items():
        if row["status"] == "running":  # the killed job was retaken at once: one more attempt, no wait
            assert after[key]["attempts"] == row["attempts"] + 1
    assert len(store.results()) == 2 and store.integrity_check() == [] and _tmp_dirs(out) == []


def test_random_sigkills_never_lose_or_duplicate_finished_work(tmp_path):
    """Kill fake sweeps at random points (claiming, writing artifacts, committing), then finish."""
    n_jobs, rng = 8, random.Random(7)
    finished_at: dict[str, float] = {}
    done_lines: Counter[str] = Counter()
    for _ in range(4):
        proc = run_fake_sweep(tmp_path, n_jobs, sleep=0.15, size=200_000)  # ~1.6 MB arrays: slow-ish writes
        time.sleep(rng.uniform(1.0, 3.0))
        proc.send_signal(signal.SIGKILL)
        stdout, _ = proc.communicate()
        done_lines.update(line.split()[1] for line in stdout.splitlines() if line.startswith("done "))
        store = Store(tmp_path)
        assert store.integrity_check() == []
        for row in store.trainings("done"):  # whatever was done stays done, untouched
            assert finished_at.setdefault(row["key"], row["finished_at"]) == row["finished_at"]
    proc = run_fake_sweep(tmp_path, n_jobs, sleep=0.0)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    done_lines.update(line.split()[1] for line in stdout.splitlines() if line.startswith("done "))
    store = Store(tmp_path)
    rows = store.trainings()
    assert sorted(r["key"] for r in rows) == sorted(s.key for s in fake_plan(n_jobs).trainings)
    assert all(r["status"] == "done" for r in rows)
    assert all(n == 1 for n in done_lines.values())  # none finished twice
    for row in rows:
        assert finished_at.get(row["key"], row["finished_at"]) == row["finished_at"]
    assert store.integrity_check() == [] and _tmp_dirs(tmp_path) == []


def test_concurrent_fake_sweeps_split_the_work(tmp_path):
    procs = [run_fake_sweep(tmp_path, 12, sleep=0.2) for _ in range(3)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    starts = Counter(line.split()[1] for out, _ in outputs for line in out.splitlines() if line.startswith("start "))
    assert len(starts) == 12 and set(starts.values()) == {1}  # every job started once, in one sweep
    store = Store(tmp_path)
    assert all(r["status"] == "done" and r["attempts"] == 1 for r in store.trainings())
    assert store.integrity_check() == []


@pytest.mark.slow  # two full CLI processes training on shared CPUs; the fake-job test above covers the claims
def test_two_cli_sweeps_on_one_store_run_each_job_once(tmp_path, glue_dir, minilm):
    out = tmp_path / "runs"
    args = _grid(glue_dir, out, seeds=3)
    logs = [tmp_path / f"sweep{i}.log" for i in range(2)]
    procs = [_cli(args, log) for log in logs]
    for p in procs:
        p.wait(timeout=900)
    texts = [log.read_text() for log in logs]
    assert [p.returncode for p in procs] == [0, 0], texts
    starts = Counter(int(m) for text in texts for m in re.findall(r"start rte baseline seed (\d+)", text))
    assert starts == Counter({0: 1, 1: 1, 2: 1}), texts  # each job started by exactly one sweep
    store = Store(out)
    rows = store.trainings()
    assert len(rows) == 3 and all(r["status"] == "done" and r["attempts"] == 1 for r in rows)
    assert len(store.results()) == 3 and store.integrity_check() == []


def test_sigterm_stops_a_sweep_as_ctrl_c_does_claims_given_back_no_traceback(tmp_path, glue_dir, minilm):
    """``kill`` (a scheduler's stop, a grid driver's) is an expected stop: a clear line, exit 143,
    and no claim left running for the next sweep to wait out."""
    out, log = tmp_path / "runs", tmp_path / "terminated.log"
    proc = _cli(_grid(glue_dir, out, seeds=6), log)

    def first_done() -> bool:
        return (out / Store.DB_NAME).exists() and bool(Store(out).trainings("done"))

    _wait_for(first_done, proc, log)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143
    text = log.read_text()
    assert "terminated: finished results are stored; rerun the same command to resume" in text
    assert "Traceback" not in text
    store = Store(out)
    assert store.trainings("running") == [] and store.trainings("done") and store.integrity_check() == []
