"""Where a benchmark grid's wall time goes: every method of the benchmark on SST-2 and MRPC,
one seed, through calibench's own path (``calibench.api.resolve_run`` + ``api.run``, the
local executor, exactly what ``calibench run`` does), timed per stage.

Stages (exclusive wall time: a stage nested in another is counted once, in the inner one):

* ``process start + imports`` -- from before this script spawns the grid's process to the
  end of its imports (python, torch, transformers, calibench and its plugins);
* ``data preparation`` -- ``prepare_splits`` (reading, normalising, subsampling the GLUE
  tables; the planner calls it too) and the extra evaluation sets;
* ``tokenisation`` -- ``encode_texts`` (the task's splits, and the EBM noise corpus);
* ``model load`` -- ``load_encoder_and_tokenizer`` (the pretrained encoder + tokenizer);
* ``training`` -- the training loop, ``calibench.training.loop.train``, less the stages
  below that run inside it;
* ``noise-LM training`` / ``noise sampling`` -- an EBM recipe's noise LM
  (``train_noise_model``) and its corpus (``generate_samples``), inside the first EBM
  training of a task (later ones read both from the cache);
* ``prediction`` -- every inference procedure's ``fit`` and ``predict`` (deterministic,
  10 MC-dropout passes, the ensemble, last-layer Laplace's Hessian and predictive);
* ``store writes`` -- the driver writing each training's outputs to the results store;
* ``evaluation`` -- scoring every method on the stored logits (calibrators, all metrics);
* ``board statistics`` -- ``load_runs`` + ``leaderboard`` over the grid's results with 7
  metrics (bootstrap intervals and paired tests against ``baseline``), then its markdown;
* ``other`` -- the rest of the wall time (planning, scheduling, seeding, bookkeeping).

The defaults stay close to the benchmark (the ``benchmark`` preset's 16 methods and
hyper-parameters: MiniLM, 3 epochs, the MiniLM noise LM; SST-2 and MRPC, seed 0) except the
training size: 1,000 examples per task, to keep one default run affordable (the benchmark
trains on 4,000 SST-2 sentences and all 3,668 MRPC pairs: ``--train-size preset``;
``--train-size full`` for full sets). Smoke run (the ``cpu`` preset's small scratch noise LM;
a few minutes on a loaded 2-core machine)::

    python benchmarks/bench_grid.py --preset cpu --train-size 64 --max-steps 4 --noise-epochs 1 \
        --methods baseline,temp-scaling,mc-dropout,ebm-hidden

The figures are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

BOARD_METRICS = ("ece", "ece_adaptive", "smece", "nll", "brier", "accuracy", "aurc")
STAGES = (
    "process start + imports",
    "data preparation",
    "tokenisation",
    "model load",
    "training",
    "noise-LM training",
    "noise sampling",
    "prediction",
    "store writes",
    "evaluation",
    "board statistics",
)


class StageClock:
    """Exclusive wall time per stage: time spent in a nested timed call goes to that call's stage."""

    def __init__(self) -> None:
        self.durations: dict[str, list[float]] = defaultdict(list)
        self._stack: list[list[float]] = []  # per open call: [time of its timed children]

    def add(self, stage: str, seconds: float) -> None:
        self.durations[stage].append(seconds)

    def wrap(self, stage: str, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            self._stack.append([0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                (children,) = self._stack.pop()
                dt = time.perf_counter() - t0
                self.add(stage, dt - children)
                if self._stack:
                    self._stack[-1][0] += dt

        timed.__wrapped_stage__ = stage
        return timed


def patch_function(clock: StageClock, module: str, name: str, stage: str) -> int:
    """Time ``module.name`` under ``stage`` wherever calibench bound it (``from m import f``
    copies included); returns how many bindings were replaced."""
    import importlib

    orig = getattr(importlib.import_module(module), name)
    timed = clock.wrap(stage, orig)
    n = 0
    for mod_name, mod in list(sys.modules.items()):
        if mod is None or not mod_name.startswith(("calibench", "baselines")):
            continue
        for attr, value in list(vars(mod).items()):
            if value is orig:
                setattr(mod, attr, timed)
                n += 1
    return n


def patch_inference_classes(clock: StageClock) -> list[str]:
    """Time ``fit`` and ``predict`` of every registered inference procedure as ``prediction``."""
    from calibench import registry
    from calibench.methods.base import Inference

    for entry in registry.entries("inference"):  # imports every one, plugins included
        entry.load()
    seen, todo = [], list(Inference.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        for meth in ("fit", "predict"):
            fn = cls.__dict__.get(meth)
            if fn is not None and not hasattr(fn, "__wrapped_stage__"):
                setattr(cls, meth, clock.wrap("prediction", fn))
        seen.append(cls.__name__)
    return seen


def instrument(clock: StageClock) -> None:
    import calibench.api  # noqa: F401
    import calibench.ebm.corpus  # noqa: F401
    import calibench.ebm.recipe  # noqa: F401
    import calibench.execution.driver  # noqa: F401
    import calibench.execution.evalsets  # noqa: F401
    import calibench.execution.evaluate  # noqa: F401
    import calibench.execution.jobs  # noqa: F401
    import calibench.execution.outputs  # noqa: F401
    import calibench.execution.planner  # noqa: F401
    import calibench.training.loop  # noqa: F401
    from calibench import registry

    registry.load_plugins()
    for module, name, stage in (
        ("calibench.tasks.splits", "prepare_splits", "data preparation"),
        ("calibench.execution.outputs", "load_eval_sets", "data preparation"),
        ("calibench.training.batching", "encode_texts", "tokenisation"),
        ("calibench.models.encoders", "load_encoder_and_tokenizer", "model load"),
        ("calibench.training.loop", "train", "training"),
        ("calibench.ebm.noise_model", "train_noise_model", "noise-LM training"),
        ("calibench.ebm.corpus", "generate_samples", "noise sampling"),
        ("calibench.execution.driver", "store_output", "store writes"),
        ("calibench.execution.evaluate", "run_evaluations", "evaluation"),
        ("calibench.execution.evalsets", "run_eval_set_evaluations", "evaluation"),
    ):
        if patch_function(clock, module, name, stage) == 0:
            raise SystemExit(f"bench_grid: could not instrument {module}.{name}; the script needs updating")
    patch_inference_classes(clock)


def bench_preset(base: str, noise_epochs: int | None) -> str:
    """``base``, or a copy of it with the EBM noise LM's epochs overridden (smoke runs)."""
    from dataclasses import replace

    from calibench import presets

    if noise_epochs is None:
        return base
    p = presets.get_preset(base)
    opts = {k: dict(v) for k, v in p.recipe_options.items()}
    opts.setdefault("ebm", {})["noise_epochs"] = noise_epochs
    presets.PRESETS["bench-grid"] = replace(p, name="bench-grid", recipe_options=opts)
    return "bench-grid"


def worker(args) -> None:
    """The grid, in this (fresh) process; writes the stage table as JSON."""
    import torch
    import transformers  # noqa: F401
    from transformers import AutoModel, AutoTokenizer  # noqa: F401  (resolves the lazy modules)

    import calibench.cli  # noqa: F401  (what `calibench run` imports)

    torch.set_num_threads(args.threads)
    clock = StageClock()
    instrument(clock)
    clock.add("process start + imports", time.perf_counter() - args.t_spawn)

    from calibench import api
    from calibench.presets import get_preset

    methods = [m.strip() for m in args.methods.split(",")] if args.methods else list(get_preset("benchmark").methods)
    full = args.train_size == "full"
    own = args.train_size == "preset"
    preset = bench_preset(args.preset, args.noise_epochs)
    t_grid = time.perf_counter()
    n_trainings = 0
    for task in args.tasks.split(","):
        cfg = api.resolve_run(
            methods,
            tasks=[task],
            seeds=[args.seed],
            preset=preset,
            train_size=None if full or own else int(args.train_size),
            full_train=full,
            max_steps=args.max_steps,
            output_dir=args.output,
        )
        res = api.run(cfg, executor="local")
        n_trainings += len(res.plan.trainings)
        print(f"  {task}: {len(res.plan.trainings)} trainings, {len(res.records)} results", file=sys.stderr)
    t_board = time.perf_counter()
    runs = api.load_runs(store=args.output)
    labels = {r.method for r in runs}
    reference = "baseline" if "baseline" in labels else sorted(labels)[0]
    lb = api.leaderboard(runs, metrics=BOARD_METRICS, reference=reference)
    api.leaderboard_markdown(lb, runs, command="bench_grid")
    clock.add("board statistics", time.perf_counter() - t_board)
    t_end = time.perf_counter()
    Path(args.result).write_text(
        json.dumps(
            {
                "durations": clock.durations,
                "wall": t_end - args.t_spawn,
                "grid_wall": t_end - t_grid,
                "trainings": n_trainings,
                "results": len(runs),
                "methods": methods,
                "threads": torch.get_num_threads(),
            }
        )
    )


def report(res: dict, args) -> None:
    d = res["durations"]
    total = {s: sum(d.get(s, [])) for s in STAGES}
    other = res["wall"] - sum(total.values())
    print(
        f"\n{len(res['methods'])} methods x {args.tasks} (seed {args.seed}, train size {args.train_size}, "
        f"max steps {args.max_steps or 'preset'}, preset {args.preset}"
        + (f", noise epochs {args.noise_epochs}" if args.noise_epochs else "")
        + f"): {res['trainings']} trainings, {res['results']} results, torch threads {res['threads']}"
    )
    print(f"{'stage':<26} {'seconds':>9} {'share':>7} {'calls':>6} {'first':>8} {'mean rest':>10}")
    for s in (*STAGES, "other"):
        secs = other if s == "other" else total[s]
        calls = d.get(s, [])
        first = f"{calls[0]:.2f}" if calls else "-"
        rest = f"{sum(calls[1:]) / (len(calls) - 1):.3f}" if len(calls) > 1 else "-"
        n = str(len(calls)) if s != "other" else "-"
        print(f"{s:<26} {secs:>9.1f} {secs / res['wall']:>6.1%} {n:>6} {first:>8} {rest:>10}")
    print(f"{'total wall':<26} {res['wall']:>9.1f}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--methods", help="comma list of method strings (default: every method of the benchmark)")
    p.add_argument("--tasks", default="sst2,mrpc")
    p.add_argument(
        "--train-size",
        default="1000",
        help="training examples per task, 'full', or 'preset' (the preset's own sizes; default 1000, see above)",
    )
    p.add_argument("--max-steps", type=int, default=None, help="cap every training at this many steps")
    p.add_argument("--noise-epochs", type=int, default=None, help="override the EBM noise LM's epochs (smoke runs)")
    p.add_argument("--preset", default="benchmark", help="hyper-parameters and EBM noise LM (default: the benchmark's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads in the grid's process")
    p.add_argument("--keep", help="keep the results store here (default: a temporary folder)")
    p.add_argument("--json", help="also write the stage durations here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--t-spawn", type=float, help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--output", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.train_size not in ("full", "preset") and not (args.train_size.isdigit() and int(args.train_size) > 0):
        p.error(f"--train-size takes a positive number or 'full' (got {args.train_size!r})")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return
    raw = sys.argv[1:] if argv is None else list(argv)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or str(Path(tmp) / "store")
        result = Path(tmp) / "stages.json"
        cmd = [sys.executable, os.path.abspath(__file__), *raw, "--worker", "--result", str(result), "--output", out]
        t_spawn = time.perf_counter()  # CLOCK_MONOTONIC: the same clock in the child
        if subprocess.run([*cmd, "--t-spawn", repr(t_spawn)], env=env).returncode != 0:
            sys.exit("bench_grid: the grid's process failed (its error is above)")
        res = json.loads(result.read_text())
    report(res, args)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
