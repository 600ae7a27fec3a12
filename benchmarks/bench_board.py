"""Time the full benchmark board: `calibench leaderboard` build and `--check` on a synthetic
results directory the size of the benchmark grid (issue 13, item 5: at most 2 minutes).

The store is written with calibench's own export (``calibench.report.export.export_runs``,
the files ``calibench export`` writes), from a fixed seed: 16 methods x 5 tasks (CoLA,
SST-2, MRPC, RTE, WNLI with their test-half sizes and class counts) x 3 seeds. Each
method is a temperature and an accuracy shift applied to per-task true logits, with
per-seed noise shared by every method of the seed (as methods sharing one finetuning);
WNLI's logits carry no signal, as a model that has not learnt it. Both commands run in
their own process, as CI runs them, so imports and loading count.

    python benchmarks/bench_board.py            # build + check, prints the figures
    python benchmarks/bench_board.py --keep DIR # also leave the results and the board in DIR
    python benchmarks/bench_board.py --profile  # cProfile of the in-process build (top 25)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: task -> (test-half rows, classes, task metric, signal): the benchmark's GLUE test halves
TASKS: dict[str, tuple[int, int, str, float]] = {
    "cola": (521, 2, "mcc", 1.0),
    "sst2": (436, 2, "accuracy", 2.0),
    "mrpc": (204, 2, "f1", 1.2),
    "rte": (138, 2, "accuracy", 0.6),
    "wnli": (35, 2, "accuracy", 0.0),
}

#: method -> (temperature of the logits, extra signal): baseline over-confident; the names are
#: the benchmark preset's (calibench.presets.BENCHMARK_METHODS, checked in main)
METHODS: dict[str, tuple[float, float]] = {
    "baseline": (0.45, 0.0),
    "temp-scaling": (1.0, 0.0),
    "temp-scaling(fit_on=train)": (0.6, 0.0),
    "label-smoothing": (0.8, 0.0),
    "mixup": (0.7, -0.05),
    "mc-dropout": (0.55, 0.02),
    "ebm-scalar": (0.7, 0.0),
    "ebm-hidden": (0.85, 0.02),
    "ebm-sharp-hidden": (0.6, 0.05),
    "ebm-hidden+temp-scaling": (1.0, 0.02),
    "label-smoothing+temp-scaling": (1.0, 0.0),
    "mc-dropout+temp-scaling": (1.0, 0.02),
    "ensemble(members=3)": (0.6, 0.08),
    "focal-loss": (0.9, -0.02),
    "lora": (0.5, -0.1),
    "last-layer-laplace": (0.75, 0.0),
}
SEEDS = (0, 1, 2)


def _key(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:20]


def _record(task: str, method: str, seed: int, probs: np.ndarray, labels: np.ndarray, metric: str) -> dict:
    from calibench.methods.compose import parse_method
    from calibench.metrics import evaluate

    spec = parse_method(method)
    fingerprint = _key("fp", task)[:16]
    recipe = spec.recipe.name
    hyper = {
        "epochs": 3.0,
        "max_steps": None,
        "batch_size": 16,
        "lr": 5e-5,
        "warmup_ratio": 0.1,
        "warmup_steps": 0,
        "weight_decay": 0.01,
        "max_length": 128,
        "precision": "fp32",
    }
    training_key = _key("training", task, recipe, seed)
    n = len(labels)
    return {
        "key": _key("result", task, method, seed),
        "method": method,
        "task": task,
        "seed": seed,
        "model": "minilm",
        "fingerprint": fingerprint,
        "training_key": training_key,
        "prediction_key": _key("prediction", training_key, spec.inference.name),
        "recipe": {"name": recipe, "options": {}},
        "inference": {"name": spec.inference.name, "options": dict(spec.inference.options)},
        "calibrator": None if spec.calibrator is None else {"name": spec.calibrator.name, "options": {}},
        "metrics": evaluate(probs, labels, metric, ece_bins=15),
        "n_test": n,
        "config": {
            "data": {"task": task, "train_size": None, "data_seed": 0, "fingerprint": fingerprint},
            "hyper": hyper,
            "model": "minilm",
            "protocol": "calibench-train-v1",
            "recipe": recipe,
            "recipe_options": {},
            "seed": seed,
        },
        "training": {
            "split": {
                "fingerprint": fingerprint,
                "protocol": "dev-halves-v2",
                "n_train": 2000,
                "n_dev": n,
                "n_test": n,
                "train_size": None,
                "data_seed": 0,
            },
            "precision": "fp32",
            "versions": {"calibench": "0.1.0"},
        },
    }


def synthetic_runs(seed: int = 0, methods: dict[str, tuple[float, float]] = METHODS) -> list:
    """The benchmark-sized runs (see the module docstring), deterministic in ``seed``."""
    from calibench.report.runs import Run

    runs = []
    for ti, (task, (n, c, metric, signal)) in enumerate(TASKS.items()):
        rng = np.random.default_rng([seed, ti])
        labels = rng.integers(0, c, n)
        direction = rng.normal(size=(n, c))
        for s in SEEDS:
            noise = np.random.default_rng([seed, ti, s]).normal(scale=0.8, size=(n, c))
            for mi, (method, (temp, extra)) in enumerate(methods.items()):
                jitter = np.random.default_rng([seed, ti, s, mi]).normal(scale=0.3, size=(n, c))
                z = direction + noise + jitter
                z[np.arange(n), labels] += signal + extra if signal else 0.0
                z = z / temp
                p = np.exp(z - z.max(axis=1, keepdims=True))
                p /= p.sum(axis=1, keepdims=True)
                p32 = p.astype(np.float32)
                p32 /= p32.sum(axis=1, keepdims=True, dtype=np.float32)
                record = _record(task, method, s, p32.astype(np.float64), labels, metric)
                runs.append(Run(record, p32, labels, f"synthetic {task}/{method}/{s}"))
    return runs


def write_results(out: Path, seed: int = 0) -> int:
    """Export the synthetic runs under ``out`` as `calibench export` would; returns the file count."""
    from calibench.report.export import export_runs

    summary = export_runs(synthetic_runs(seed), out)
    return len(summary.written) + len(summary.unchanged)


def _timed(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall and CPU seconds (user + system, all threads) of ``cmd`` run in its own process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", metavar="DIR", help="write the results and the board under DIR and keep them")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic results (0)")
    ap.add_argument("--extra", default="", help="extra leaderboard flags, e.g. '--resamples 2000'")
    ap.add_argument("--profile", action="store_true", help="profile the in-process build instead")
    args = ap.parse_args()
    from calibench.presets import BENCHMARK_METHODS

    if set(METHODS) != set(BENCHMARK_METHODS):
        ap.error(
            f"the synthetic methods differ from the benchmark preset's: {sorted(set(METHODS) ^ set(BENCHMARK_METHODS))}"
        )
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-board-"))
    results = root / "results"
    board = root / "README.md"
    t0 = time.perf_counter()
    n_files = write_results(results, args.seed)
    print(f"synthetic results: {n_files} files under {results} ({time.perf_counter() - t0:.1f} s to write)")
    base = ["calibench", "leaderboard", "--from", str(results), "--layout", "benchmark", *shlex.split(args.extra)]
    print("command:", " ".join(base))
    if args.profile:
        import cProfile
        import pstats

        from calibench.cli import main as cli_main

        prof = cProfile.Profile()
        prof.enable()
        cli_main([*base[1:], "--format", "markdown", "--output", str(board)])
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        return 0
    build_s, build_cpu, done = _timed([*base, "--format", "markdown", "--output", str(board)])
    if done.returncode:
        print(done.stdout, done.stderr, file=sys.stderr)
        return 1
    check_s, check_cpu, done = _timed([*base, "--check", str(board)])
    print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr)
    print(f"load average before the check: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"leaderboard build:   {build_s:6.1f} s wall, {build_cpu:6.1f} s CPU")
    status = "" if done.returncode == 0 else " FAILED"
    print(f"leaderboard --check: {check_s:6.1f} s wall, {check_cpu:6.1f} s CPU (target <= 120 s wall){status}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
