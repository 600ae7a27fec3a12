"""Time bootstrap CIs of top-label ECE: calibench's vectorised bootstrap vs a netcal loop.

Both sides use the same resample indices (``calibench.stats.resample_indices``). The
reference is the obvious loop: one ``netcal.metrics.ECE(bins).measure(probs[i], labels[i])``
call per resample (netcal's multiclass path; the data have 3 classes), then the same
percentile interval. Reports wall-clock and process CPU times (both single-threaded; CPU
time is the steadier figure on a shared machine), the speedups, and the largest absolute
differences of the per-resample ECE values and of the interval endpoints.

    python benchmarks/bench_bootstrap.py --n 10000 --resamples 1000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

try:
    import calibench  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netcal.metrics import ECE

from calibench.stats import bootstrap_ci, interval_from_distribution, resample_indices


def synthetic(n: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Over-confident softmax predictions (logits sharpened x2) with labels drawn from the truth."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, n_classes)) * 1.5
    true = np.exp(logits - logits.max(axis=1, keepdims=True))
    true /= true.sum(axis=1, keepdims=True)
    labels = (rng.random((n, 1)) > np.cumsum(true, axis=1)).sum(axis=1)
    sharp = np.exp(2 * (logits - logits.max(axis=1, keepdims=True)))
    return sharp / sharp.sum(axis=1, keepdims=True), labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="test examples")
    parser.add_argument("--resamples", type=int, default=1_000, help="bootstrap resamples")
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--bins", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3, help="timings are the best of this many runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    probs, labels = synthetic(args.n, args.classes, args.seed)
    idx = resample_indices(args.n, args.resamples, args.seed)

    ours_wall, ours_cpu = [], []
    for _ in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        ours = bootstrap_ci(probs, labels, "ece", n_resamples=args.resamples, seed=args.seed, bins=args.bins)
        ours_wall.append(time.perf_counter() - wall)
        ours_cpu.append(time.process_time() - cpu)

    metric = ECE(bins=args.bins)
    ref_wall, ref_cpu = [], []
    for _ in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        ref_dist = np.array([metric.measure(probs[i], labels[i]) for i in idx])
        ref_estimate = metric.measure(probs, labels)
        ref_low, ref_high = interval_from_distribution(ref_dist, ref_estimate, 0.95, "percentile")
        ref_wall.append(time.perf_counter() - wall)
        ref_cpu.append(time.process_time() - cpu)

    print(f"top-label ECE ({ours.estimator}), n={args.n}, classes={args.classes}, resamples={args.resamples}")
    print(f"best of {args.repeats} runs                     wall s     CPU s")
    print(f"calibench bootstrap_ci (vectorised): {min(ours_wall):8.3f}  {min(ours_cpu):8.3f}")
    print(f"netcal ECE.measure loop            : {min(ref_wall):8.3f}  {min(ref_cpu):8.3f}")
    wall_x, cpu_x = min(ref_wall) / min(ours_wall), min(ref_cpu) / min(ours_cpu)
    print(f"speedup                            : {wall_x:8.1f}x {cpu_x:8.1f}x")
    print(f"max |ECE difference| per resample  : {np.abs(ours.distribution - ref_dist).max():.3g}")
    print(f"|difference| of the point estimate : {abs(ours.estimate - ref_estimate):.3g}")
    print(f"max |CI endpoint difference|       : {max(abs(ours.low - ref_low), abs(ours.high - ref_high)):.3g}")
    print(f"ECE = {ours.estimate:.5f}, 95% CI [{ours.low:.5f}, {ours.high:.5f}]")


if __name__ == "__main__":
    main()
