"""Using every core for a grid: one training at a time with all threads, or several at once.

Runs the same sub-grid through ``calibench run`` twice, each into a fresh store, in one
invocation so both see the same machine:

* ``sequential``: the in-process executor, one training after another with ``--threads``
  torch threads (default: every core);
* ``pool``: ``--jobs N --cpus-per-job T`` (default: as many one-thread jobs as cores).

and prints the wall time of each, the speed-up, and how far the two differ in their
results: the thread count changes float reduction order, so the numbers are not
bit-identical across modes (they are at equal thread count: ``tests/execution/test_pool.py``).

``--reference REF`` adds a third run, first: the sequential mode of the code at git commit
``REF`` (checked out into a temporary worktree and imported ahead of the installed package),
so the speed-up is also stated against the grid as it ran before, with the largest
difference between its results and this code's sequential ones (same threads: 0 when the
training path is unchanged).

    python benchmarks/bench_executor.py                     # 8 trainings: sst2 and mrpc x 4 recipes
    python benchmarks/bench_executor.py --reference 6608489  # ... and against the grid before #13
    python benchmarks/bench_executor.py --train-size 200 --methods baseline,mixup   # a smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_METHODS = "baseline,label-smoothing,mixup,focal-loss"
CLI = "import sys; from calibench.cli import main; sys.exit(main())"  # older commits have no __main__
REPO = Path(__file__).resolve().parents[1]


def _run(args: list[str], env: dict[str, str], cwd: Path) -> float:
    """``calibench ARGS`` from ``cwd``: outside any checkout, so ``-c`` imports what ``env`` says."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CLI, *args], env=env, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"calibench {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


@contextlib.contextmanager
def _checkout(ref: str, root: Path):
    """The code at ``ref`` in a throwaway worktree (removed afterwards)."""
    where = root / f"code-{ref}"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(where), ref], check=True, capture_output=True
    )
    try:
        yield where
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(where)], capture_output=True)


def _worst(a: dict, b: dict) -> str:
    worst: dict[str, float] = {}
    for key in a.keys() & b.keys():
        for m in ("accuracy", "ece", "nll"):
            worst[m] = max(worst.get(m, 0.0), abs(a[key][m] - b[key][m]))
    missing = len(a.keys() ^ b.keys())
    return ", ".join(f"{m} {v:.4f}" for m, v in worst.items()) + (
        f" ({missing} results in one only)" if missing else ""
    )


def _metrics(store: Path) -> dict[tuple[str, str, int], dict[str, float]]:
    from calibench.store.db import Store

    return {
        (r["task"], r["method"], r["seed"]): {k: v["value"] for k, v in r["metrics"].items()}
        for r in Store(store).results()
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cores = os.cpu_count() or 1
    p.add_argument("--tasks", default="sst2,mrpc")
    p.add_argument("--methods", default=DEFAULT_METHODS)
    p.add_argument("--train-size", type=int, default=1000)
    p.add_argument("--seeds", default="1")
    p.add_argument("--threads", type=int, default=cores, help="torch threads of the sequential mode")
    p.add_argument("--jobs", type=int, default=cores, help="trainings at once in the pool mode")
    p.add_argument("--cpus-per-job", type=int, default=1)
    p.add_argument("--keep", help="keep the two stores under this folder")
    p.add_argument("--reference", metavar="REF", help="also run the sequential mode of the code at this git commit")
    args = p.parse_args()

    grid = ["run", "--methods", args.methods, "--tasks", args.tasks, "--seeds", args.seeds]
    grid += ["--train-size", str(args.train_size), "--no-keep-models"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-executor-"))
    root.mkdir(parents=True, exist_ok=True)
    shared = Path.cwd().parent / "shared" / "glue"  # the runs start in root: keep the data this one would use
    if "CALIBENCH_DATA_DIR" not in env and shared.is_dir():
        env["CALIBENCH_DATA_DIR"] = str(shared.resolve())
    # warm the page cache (model and data files) so neither mode pays the first read
    _run([*grid, "--dry-run", "-o", str(root / "warm")], env, root)

    seq_env = {**env, "OMP_NUM_THREADS": str(args.threads)}
    t_ref = None
    if args.reference:
        with _checkout(args.reference, root) as code:
            ref_env = {**seq_env, "PYTHONPATH": os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))}
            t_ref = _run([*grid, "-o", str(root / "reference")], ref_env, root)
    t_seq = _run([*grid, "-o", str(root / "sequential")], seq_env, root)
    t_pool = _run(
        [*grid, "-o", str(root / "pool"), "--jobs", str(args.jobs), "--cpus-per-job", str(args.cpus_per_job)], env, root
    )
    a, b = _metrics(root / "sequential"), _metrics(root / "pool")
    n = len(a)
    print(f"sub-grid: {args.methods} on {args.tasks}, train size {args.train_size}, seeds {args.seeds}: {n} results")
    print(f"load average before the run: {os.getloadavg()[0]:.2f} (cores: {cores})")
    print()
    if t_ref is None:
        print("| mode | setting | wall s | speed-up |")
        print("| --- | --- | --- | --- |")
        print(f"| sequential | 1 job x {args.threads} threads | {t_seq:.0f} | 1.00x |")
        print(f"| pool | {args.jobs} jobs x {args.cpus_per_job} thread(s) | {t_pool:.0f} | {t_seq / t_pool:.2f}x |")
    else:
        print("| mode | setting | wall s | speed-up | speed-up against the reference |")
        print("| --- | --- | --- | --- | --- |")
        print(f"| sequential @ {args.reference} | 1 job x {args.threads} threads | {t_ref:.0f} | | 1.00x |")
        print(f"| sequential | 1 job x {args.threads} threads | {t_seq:.0f} | 1.00x | {t_ref / t_seq:.2f}x |")
        pool = f"{args.jobs} jobs x {args.cpus_per_job} thread(s)"
        print(f"| pool | {pool} | {t_pool:.0f} | {t_seq / t_pool:.2f}x | {t_ref / t_pool:.2f}x |")
        print(
            f"\nlargest difference, reference against sequential (same threads): {_worst(_metrics(root / 'reference'), a)}"
        )
    print(f"largest difference between the modes' results (thread count changes float order): {_worst(a, b)}")


if __name__ == "__main__":
    main()
