"""Fake training jobs for the executor tests: real TrainingSpecs and TrainingOutputs, no model.

They exercise everything around a job -- claims, leases, artifacts, records, failures,
crashes -- in milliseconds. Run as a script it is a sweep of fake jobs on a store (the
crash and concurrency tests start several and kill some):

    python fake_jobs.py STORE N_JOBS SLEEP_S [ARRAY_SIZE [POOL_JOBS]]

printing one ``EVENT KEY`` line per driver event.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calibench.config import DataSpec, Hyper, TrainingSpec, inference_key
from calibench.execution.jobs import TrainingOutput
from calibench.execution.planner import Plan

HERE = Path(__file__).resolve().parent
#: the environment of driver subprocesses: offline, and able to import this module
ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "PYTHONPATH": os.pathsep.join([str(HERE)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])),
}


def fake_spec(seed: int) -> TrainingSpec:
    return TrainingSpec(
        data=DataSpec(task="rte", train_size=8, fingerprint="fake-data"),
        recipe="baseline",
        seed=seed,
        hyper=Hyper(max_steps=2, epochs=None, precision="fp32"),
    )


def fake_plan(n: int) -> Plan:
    return Plan(trainings=[fake_spec(seed) for seed in range(n)])


def fake_output(spec: TrainingSpec, size: int = 16) -> TrainingOutput:
    """Seed-determined logits for dev and test, and a train log with a two-step history."""
    rng = np.random.default_rng(spec.seed)
    arrays = {
        f"{split}_{kind}": (
            rng.normal(size=(size, 2)).astype("float32") if kind == "logits" else rng.integers(0, 2, size=size)
        )
        for split in ("dev", "test")
        for kind in ("logits", "labels")
    }
    pkey = inference_key(spec.key, "deterministic", {})
    history = [{"step": 1, "lr": 1e-5, "loss": 0.7, "ce": 0.7}, {"step": 2, "lr": 5e-6, "loss": 0.6, "ce": 0.6}]
    return TrainingOutput(
        key=spec.key,
        predictions={pkey: {"inference": "deterministic", "options": {}, "arrays": arrays, "splits": ["dev", "test"]}},
        record={
            "training_key": spec.key,
            "train_log": {"steps": 2, "seconds": 0.1, "history": history},
            "pid": os.getpid(),
        },
    )


@dataclass
class FakeJob:
    """A job that sleeps, then returns :func:`fake_output`; some seeds raise or kill their process."""

    sleep: float = 0.0
    fail_seeds: frozenset[int] = field(default_factory=frozenset)
    crash_seeds: frozenset[int] = field(default_factory=frozenset)  # os._exit: a worker that dies
    crash_after: float = 0.0  # extra seconds a crashing seed runs before it dies
    size: int = 16

    def __call__(self, spec: TrainingSpec) -> TrainingOutput:
        time.sleep(self.sleep)
        if spec.seed in self.crash_seeds:
            time.sleep(self.crash_after)
            os._exit(3)
        if spec.seed in self.fail_seeds:
            raise RuntimeError(f"plugin bug in seed {spec.seed}")
        return fake_output(spec, self.size)


class Running:
    """Tracks how many jobs the driver had started and not yet settled, at most."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.events: list[tuple[str, int]] = []

    def __call__(self, event: str, spec: Any, msg: str) -> None:
        self.events.append((event, spec.seed))
        self.now += {"start": 1, "done": -1, "failed": -1}.get(event, 0)
        self.peak = max(self.peak, self.now)


def run_fake_sweep(store: Path, n: int, sleep: float, size: int = 16, jobs: int = 1) -> subprocess.Popen[str]:
    """Start this module as its own driver process on ``store`` (see the module docstring)."""
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), str(store), str(n), str(sleep), str(size), str(jobs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def main(argv: list[str]) -> int:
    from calibench.execution.driver import run_trainings
    from calibench.store.db import Store

    store_dir, n, sleep = argv[0], int(argv[1]), float(argv[2])
    size = int(argv[3]) if len(argv) > 3 else 16
    jobs = int(argv[4]) if len(argv) > 4 else 1

    def on_event(event: str, spec: TrainingSpec, msg: str) -> None:
        print(event, spec.key, flush=True)

    executor = None
    if jobs > 1:
        from calibench.execution.pool import PoolExecutor

        executor = PoolExecutor(jobs=jobs, threads=1)
    job = FakeJob(sleep=sleep, size=size)
    run_trainings(fake_plan(n), Store(store_dir), job, executor=executor, on_event=on_event)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
