"""LoRA against full finetuning on this CPU: training throughput, peak memory, and what a
LoRA ensemble's members gain from sharing the frozen encoder.

Both contenders go through calibench's own job path, exactly as ``calibench run`` trains
them: ``build_context`` (data, encoder, head; LoRA trainings take the process's shared
base model), the adapters of :func:`calibench.methods.lora.lora_adapters` for LoRA, and the
one training loop (``train(ctx, recipe)``), on an SST-2 training subsample with the offline
MiniLM encoder:

* ``full`` -- the ``baseline`` recipe: every encoder and head weight trained (lr 2e-5);
* ``lora`` -- the ``lora`` recipe: rank-8 adapters on query and value and the head (lr 5e-4).

Each contender runs in its own subprocess (so its peak memory is its own) and trains
``--members`` members one after the other, with the seeds an ensemble gives them; per
member it reports the setup time (``build_context``: for ``full`` every member loads the
encoder again, for ``lora`` members after the first reuse the loaded base), examples per
second of the training call, the trainable parameter count, and the peak resident memory
during training (``VmHWM`` after a reset just before it) with its increase over the
resident memory just before training (gradients, optimiser state, activations).

Run (the measured figures are in ``benchmarks/README.md``)::

    python benchmarks/bench_lora.py                 # 320 examples, 20 steps of 16, 2 members each
    python benchmarks/bench_lora.py --steps 50 --members 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the memory probes of bench_train_throughput
try:
    import calibench  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_train_throughput import peak_rss_kib, reset_peak_rss, rss_kib

RECIPES = {"full": "baseline", "lora": "lora"}


def member_runs(args) -> list[dict]:
    import contextlib

    import torch

    from calibench import registry
    from calibench.config import DataSpec, Hyper, TrainingSpec
    from calibench.execution.jobs import build_context
    from calibench.methods.ensemble import member_seed
    from calibench.methods.lora import lora_adapters
    from calibench.training.loop import train

    torch.set_num_threads(args.threads)
    name = RECIPES[args.worker]
    recipe = registry.get("recipe", name)()
    hyper = Hyper(batch_size=args.batch_size, epochs=None, max_steps=args.steps, max_length=args.max_length)
    out = []
    for j in range(args.members):
        spec = TrainingSpec(
            data=DataSpec("sst2", train_size=args.train_size, data_dir=args.data_dir),
            recipe=name,
            recipe_options=recipe.options,
            model=args.model,
            seed=member_seed(0, j),
            hyper=hyper,
        )
        t0 = time.perf_counter()
        ctx, _ = build_context(spec)
        setup = time.perf_counter() - t0
        lora = recipe.lora
        with lora_adapters(ctx.model, lora) if lora is not None else contextlib.nullcontext():
            rss0 = rss_kib()
            reset_ok = reset_peak_rss()
            t1 = time.perf_counter()
            log = train(ctx, recipe)
            seconds = time.perf_counter() - t1
            peak = peak_rss_kib(reset_ok)
        out.append(
            {
                "member": j,
                "setup_s": setup,
                "examples": log.examples,
                "train_s": seconds,
                "trainable": log.trainable_params,
                "total": sum(p.numel() for p in ctx.model.parameters()),
                "rss_before_mib": rss0 / 1024,
                "peak_mib": peak / 1024,
                "precision": ctx.state["precision"],
            }
        )
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train-size", type=int, default=320)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--members", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", default="minilm")
    p.add_argument("--data-dir", default=None, help="local GLUE copy (default: as calibench run finds it)")
    p.add_argument("--worker", choices=sorted(RECIPES), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(member_runs(args)))
        return

    results = {}
    for mode in RECIPES:
        flags = [
            x
            for k, v in vars(args).items()
            if k != "worker" and v is not None
            for x in (f"--{k.replace('_', '-')}", str(v))
        ]
        cmd = [sys.executable, __file__, "--worker", mode, *flags]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"{mode} failed:\n{done.stderr[-3000:]}")
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])

    print(
        f"SST-2, {args.train_size} training examples, {args.steps} steps of {args.batch_size}, max length "
        f"{args.max_length}, {args.model}, {args.threads} threads, precision {results['full'][0]['precision']}"
    )
    head = f"{'mode':<6}{'member':>7}{'trainable':>12}{'of':>12}{'ex/s':>8}{'peak MiB':>10}{'+train MiB':>11}{'setup s':>9}"
    print(head)
    for mode, rows in results.items():
        for r in rows:
            print(
                f"{mode:<6}{r['member']:>7}{r['trainable']:>12,}{r['total']:>12,}{r['examples'] / r['train_s']:>8.1f}"
                f"{r['peak_mib']:>10.0f}{r['peak_mib'] - r['rss_before_mib']:>11.0f}{r['setup_s']:>9.2f}"
            )
    f, lo = results["full"], results["lora"]
    speed = (sum(r["examples"] for r in lo) / sum(r["train_s"] for r in lo)) / (
        sum(r["examples"] for r in f) / sum(r["train_s"] for r in f)
    )
    print(
        f"lora / full: throughput x{speed:.2f}, trainable parameters x{lo[0]['trainable'] / f[0]['trainable']:.4f}, "
        f"training memory (+train MiB, member 0) x{(lo[0]['peak_mib'] - lo[0]['rss_before_mib']) / max(1e-9, f[0]['peak_mib'] - f[0]['rss_before_mib']):.2f}"
    )


if __name__ == "__main__":
    main()
