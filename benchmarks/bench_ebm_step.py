"""EBM training step time against a baseline step at the same batch size.

An EBM step runs the CE batch, one NCE data batch and K noise batches of NCE-batch size
through the model (forward and backward). If only those extra passes cost anything, the
ratio of step times is bounded by

    bound = 1 + (1 + K) * nce_batch / ce_batch

This script times both recipes on the same model, data and batch size through the one
training loop, prints the measured ratio next to that bound, and the overhead beyond it
(target: measured / bound <= 1.2).

The noise corpus is replaced by real SST-2 training sentences (the timing depends on
their lengths, not on where they came from), so no noise LM is trained here; the noise
model's own cost is measured by ``bench_noise_sampling.py``.

    python benchmarks/bench_ebm_step.py --steps 30 --k 1 8
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import torch

from calibench import registry
from calibench.config import DataSpec, Hyper, TrainingSpec
from calibench.execution.jobs import build_context
from calibench.tasks import prepare_splits
from calibench.training.loop import train


def stand_in_corpus(texts):
    def get_noise_corpus(task, train_texts, dev_texts, cfg, n_samples, seed, artifacts, progress=None):
        stats = SimpleNamespace(to_dict=lambda: {"count": len(texts), "stand_in": True})
        return SimpleNamespace(texts=texts, key="stand-in", from_cache=True, stats=stats)

    return get_noise_corpus


def time_steps(recipe_name: str, opts: dict, args, cache: str) -> float:
    """Seconds per optimisation step, setup excluded (best of ``--repeats``)."""
    spec = TrainingSpec(
        data=DataSpec("sst2", args.train_size, 0, data_dir=args.data_dir),
        recipe=recipe_name,
        recipe_options=opts,
        model=args.model,
        seed=0,
        hyper=Hyper(lr=5e-5, batch_size=args.batch_size, epochs=None, max_steps=args.steps),
    )
    best = float("inf")
    for _ in range(args.repeats):
        ctx, _ = build_context(spec, cache_dir=cache)
        recipe = registry.create("recipe", recipe_name, **opts)
        log = train(ctx, recipe)
        best = min(best, log.seconds / log.steps)  # log.seconds covers the steps only
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="minilm")
    p.add_argument(
        "--data-dir",
        default=None,
        help="default: calibench's search order ($CALIBENCH_DATA_DIR, ./glue, ../shared/glue, hub)",
    )
    p.add_argument("--train-size", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--nce-batch-size", type=int, default=None, help="default: the CE batch size")
    p.add_argument("--k", type=int, nargs="+", default=[1, 8])
    p.add_argument("--energy", default="hidden", choices=["scalar", "hidden", "sharp-hidden"])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import calibench.ebm.corpus as corpus

    splits = prepare_splits("sst2", data_dir=args.data_dir)
    corpus.get_noise_corpus = stand_in_corpus([(s,) for s in splits.train["sentence"][-20000:]])
    cache = "/tmp/calibench-bench-ebm-step"
    nce_bs = args.nce_batch_size or args.batch_size

    base = time_steps("baseline", {}, args, cache)
    print(
        f"model {args.model}, batch {args.batch_size}, NCE batch {nce_bs}, {args.steps} steps, "
        f"best of {args.repeats}, torch threads {torch.get_num_threads()}"
    )
    print(f"{'recipe':<22}{'s/step':>9}{'ratio':>8}{'bound':>8}{'ratio/bound':>13}")
    print(f"{'baseline':<22}{base:>9.3f}{1.0:>8.2f}{1.0:>8.2f}{1.0:>13.2f}")
    for k in args.k:
        opts = {"k": k, "nce_batch_size": nce_bs}
        t = time_steps(f"ebm-{args.energy}", opts, args, cache)
        bound = 1 + (1 + k) * nce_bs / args.batch_size
        ratio = t / base
        print(f"{f'ebm-{args.energy} K={k}':<22}{t:>9.3f}{ratio:>8.2f}{bound:>8.2f}{ratio / bound:>13.2f}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(total {time.perf_counter() - t0:.0f} s)")
