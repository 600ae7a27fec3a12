"""Training throughput of calibench's loop next to Hugging Face ``Trainer``, in one run.

The contenders train the *same* model (the offline MiniLM encoder + calibench's
classification head, same seeded initialisation), on the *same* tokenised data (the same
``encode_texts`` output), with the same hyper-parameters (calibench's ``Hyper`` defaults:
lr 2e-5, batch 32, 3 epochs, 6% linear warm-up then linear decay, weight decay 0.1 off
biases/LayerNorm, grad-norm clip 1.0, max_length 128):

* ``calibench``       -- ``calibench.training.loop.train(ctx, CrossEntropy())``, precision
                         ``auto`` (bf16 autocast on a CPU with native bf16);
* ``trainer-default`` -- ``transformers.Trainer`` with its defaults (fp32, random batches;
                         its default optimiser is already fused AdamW in transformers 5);
* ``trainer-best``    -- ``Trainer`` with its best flags: ``bf16=True``,
                         ``train_sampling_strategy="group_by_length"`` (``group_by_length``
                         in transformers 4), ``optim="adamw_torch_fused"``;
* ``bound``           -- the machine's bound: a bare forward + backward + fused AdamW step
                         of the same model on calibench's own token batches (same order,
                         collated before the clock starts), no data handling, scheduler,
                         clipping or logging;
* ``bound-fast``      -- ``bound`` with the loop's CPU fast path kernels installed (NumPy
                         dropout masks, sparse word-embedding gradient): what calibench's
                         loop would reach with zero overhead of its own;
* ``bound-compiled``  -- ``bound`` with the model under ``torch.compile(dynamic=True)``, its
                         compile time included (not in ``all``): whether other kernels than
                         eager's lift the bound.
* ``trainer-compiled`` -- ``trainer-best`` with ``torch_compile=True`` (not in ``all``): the
                         fair reference for a loop that compiles.

The data are SST-2 (single sentences, ``--task sst2``) or MRPC (sentence pairs, longer and
more varied, ``--task mrpc``), calibench's training subsample of ``--n-train`` rows (0: all).

For the Trainer, the classifier is wrapped in a small module that returns the same
cross-entropy loss, so the only difference is the loop. tqdm bars are off on both sides.

Each contender runs in a fresh subprocess (so peak memory is its own) with
``torch.set_num_threads(--threads)``. Measured per contender:

* ``ex/s``: examples trained / wall time of the training call only (``train(ctx, recipe)``
  or ``trainer.train()``; both build their optimiser inside; model loading, tokenisation and
  evaluation are excluded);
* ``of bound``: ratio to ``bound``;
* ``dev acc``: accuracy on the task's validation set (all of it by default: 872 SST-2 rows,
  408 MRPC pairs; less noisy than the dev half; ``--eval dev-half`` for calibench's protocol), predicted the
  same way for everyone (``calibench.methods.inference.predict_logits``, bf16 where native);
* ``peak MiB``: the process's peak resident memory *during training* (``VmHWM`` after the
  kernel's peak counter is reset through ``/proc/self/clear_refs`` just before training;
  falls back to ``ru_maxrss`` where that is unavailable), and ``+train MiB``: that peak minus
  the resident memory just before training (model, data and libraries already loaded), i.e.
  what the loop itself costs: gradients, optimiser state, activations, allocator slack.

Run (2 CPU cores here; the machine is shared, so compare ratios from one run)::

    python benchmarks/bench_train_throughput.py                       # all five, 2000 x 3 epochs
    python benchmarks/bench_train_throughput.py --task mrpc --n-train 0   # all 3,668 MRPC pairs
    python benchmarks/bench_train_throughput.py --repeats 2           # interleaved A B C A B C
    python benchmarks/bench_train_throughput.py --which calibench --profile 40
    python benchmarks/bench_train_throughput.py --quick               # smoke run, ~1 min

The measured figures are in ``benchmarks/README.md``; ``--profile`` shows where the loop's
time goes, ``--which calibench,calibench-std`` what its CPU fast path buys.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

try:
    import calibench  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CONTENDERS = ("calibench", "trainer-default", "trainer-best", "bound", "bound-fast")
# calibench's loop with its CPU fast path off (train(..., fast_path=False)); the bare step with
# the model under torch.compile (dynamic shapes), compile time included: can cheaper kernels
# than eager's lift the bound? And the Trainer's best flags with torch_compile=True, the fair
# reference for a compiled loop
EXTRA = ("calibench-std", "bound-compiled", "trainer-compiled")


# --------------------------------------------------------------------------- memory


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) to the current RSS; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_kib() -> int:
    v = _status_kib("VmRSS")
    return v if v is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_rss_kib(reset_ok: bool) -> int:
    v = _status_kib("VmHWM") if reset_ok else None
    return v if v is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# --------------------------------------------------------------------------- data + model


def load_data(task_name: str, n_train: int | None, data_seed: int, eval_split: str):
    """``(train_texts, train_labels, eval_texts, eval_labels, description)``.

    Data are found as ``calibench run`` finds them (``$CALIBENCH_DATA_DIR``,
    ``./glue``, ``../shared/glue``, the hub); training rows are calibench's split protocol
    (``prepare_splits(train_size=n, data_seed)``; ``n`` None: the whole training set). Rows
    are tuples of the task's text fields (one for SST-2, a pair for MRPC)."""
    import numpy as np

    from calibench.tasks import get_task, load_task, prepare_splits
    from calibench.tasks.splits import normalize_texts

    task = get_task(task_name)
    splits = prepare_splits(task, train_size=n_train, data_seed=data_seed)
    if eval_split == "dev-half":
        val = splits.dev
    else:  # the whole official dev set, normalised as the protocol's splits are
        from calibench.tasks.loading import table_of, to_dataset

        val = to_dataset(task, normalize_texts(task, table_of(load_task(task).dev)), "validation")
    fields = task.text_fields
    eval_texts = list(zip(*[val[f] for f in fields]))
    eval_labels = np.asarray(val["label"])
    train_texts = list(zip(*[splits.train[f] for f in fields]))
    train_labels = np.asarray(splits.train["label"])
    return (
        train_texts,
        train_labels,
        eval_texts,
        eval_labels,
        f"prepare_splits(train_size={n_train}, data_seed={data_seed})",
    )


def build(args):
    """Seeded model + tokenised data, identical for every contender."""
    import torch

    from calibench.execution.jobs import seed_everything
    from calibench.models.classifier import Classifier
    from calibench.models.encoders import load_encoder_and_tokenizer
    from calibench.training.batching import encode_texts

    torch.set_num_threads(args.threads)
    train_texts, train_labels, eval_texts, eval_labels, how = load_data(
        args.task, args.n_train, args.data_seed, args.eval
    )
    seed_everything(args.seed)
    encoder, tokenizer = load_encoder_and_tokenizer(args.model)
    model = Classifier(encoder, 2)
    train_enc = encode_texts(tokenizer, train_texts, train_labels, args.max_length)
    eval_enc = encode_texts(tokenizer, eval_texts, eval_labels, args.max_length)
    return model, tokenizer, train_enc, eval_enc, train_texts, eval_texts, how


def make_spec(args):
    from calibench.config import DataSpec, Hyper, TrainingSpec

    hyper = Hyper(
        lr=args.lr,
        batch_size=args.batch_size,
        epochs=args.epochs,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        max_length=args.max_length,
        grad_clip=args.grad_clip,
        precision=args.precision,
    )
    return TrainingSpec(
        data=DataSpec(args.task, train_size=args.n_train, data_seed=args.data_seed),
        recipe="baseline",
        model=args.model,
        seed=args.seed,
        hyper=hyper,
    )


def make_ctx(args, model, tokenizer, train_enc, train_texts, eval_texts):
    import numpy as np

    from calibench.training.context import TrainContext
    from calibench.training.precision import autocast_factory, resolve_device, resolve_precision

    spec = make_spec(args)
    dev = resolve_device("cpu")
    precision = resolve_precision(spec.hyper.precision, dev)
    ctx = TrainContext(
        spec=spec,
        task=None,
        model=model,
        tokenizer=tokenizer,
        train=train_enc,
        train_texts=train_texts,
        dev_texts=eval_texts,
        device=dev,
        autocast=autocast_factory(precision, dev),
        rng=np.random.default_rng(args.seed),
    )
    return ctx, precision


def accuracy(model, eval_enc, ctx) -> float:
    from calibench.methods.inference import predict_logits

    logits = predict_logits(model, eval_enc, ctx)
    return float((logits.argmax(1) == eval_enc.labels).mean())


# --------------------------------------------------------------------------- contenders


def run_calibench(args, built, fast_path: bool | None = None) -> dict:
    from calibench.methods.cross_entropy import CrossEntropy
    from calibench.training.loop import train

    model, tokenizer, train_enc, eval_enc, train_texts, eval_texts, _ = built
    ctx, precision = make_ctx(args, model, tokenizer, train_enc, train_texts, eval_texts)
    rss0 = rss_kib()
    reset_ok = reset_peak_rss()
    prof = _profiler(args)
    recipe = CrossEntropy()
    if prof is not None:

        class Stepped(CrossEntropy):  # advances the profiler's schedule once per training step
            def loss(self, model, batch, ctx):
                prof.step()
                return super().loss(model, batch, ctx)

        recipe = Stepped()
    t0, c0 = time.perf_counter(), time.process_time()
    if prof is not None:
        with prof:
            log = train(ctx, recipe, fast_path=fast_path)
    else:
        log = train(ctx, recipe, fast_path=fast_path)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = peak_rss_kib(reset_ok)
    if prof is not None:
        _print_profile(prof, args)
    return {
        "examples": log.examples,
        "steps": log.steps,
        "seconds": seconds,
        "t_start": t0,
        "t_end": t0 + seconds,
        "cpu_seconds": cpu,
        "rss_before_kib": rss0,
        "peak_kib": peak,
        "peak_reset": reset_ok,
        "precision": precision,
        "final_loss": log.history[-1]["loss"] if log.history else None,
        "acc": accuracy(model, eval_enc, ctx),
    }


def run_bound(args, built, fast_kernels: bool, compiled: bool = False) -> dict:
    """The machine's bound for this model and data: only forward + backward + optimiser step.

    The same model, precision and token batches as ``calibench`` (the loop's own batch order:
    ``length_grouped_batches`` drawn from ``default_rng(seed)``, collated before the clock
    starts), fused AdamW at a constant rate; no data handling, scheduler, clipping, loss checks
    or logging. ``fast_kernels`` (``bound-fast``) installs the loop's ``CPUFastPath`` too (NumPy
    dropout masks, sparse word-embedding gradient), so the gap to ``calibench`` is the loop's
    own overhead; the embedding's gradient is moved into its dense buffer with clipping off."""
    import math

    import numpy as np
    import torch
    import torch.nn.functional as F

    from calibench.training.batching import collate, length_grouped_batches
    from calibench.training.loop import CPUFastPath, plan_steps

    model, tokenizer, train_enc, eval_enc, train_texts, eval_texts, _ = built
    ctx, precision = make_ctx(args, model, tokenizer, train_enc, train_texts, eval_texts)
    total, _ = plan_steps(len(train_enc), args.batch_size, args.epochs, None, None, args.warmup_ratio)
    rng = np.random.default_rng(args.seed)  # = ctx.rng, which orders calibench's batches
    order: list[np.ndarray] = []
    while len(order) < total:
        order.extend(length_grouped_batches(train_enc.lengths, args.batch_size, rng))
    batches = [collate(train_enc, idx) for idx in order[:total]]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay, fused=True)
    fast = CPUFastPath(model, args.seed) if fast_kernels else None
    model.train()
    step_model = torch.compile(model, dynamic=True) if compiled else model
    rss0 = rss_kib()
    reset_ok = reset_peak_rss()
    t0, c0 = time.perf_counter(), time.process_time()
    with fast if fast is not None else contextlib.nullcontext():
        for b in batches:
            with ctx.autocast():
                logits = step_model(b["input_ids"], b["attention_mask"], b.get("token_type_ids")).logits
                loss = F.cross_entropy(logits.float(), b["labels"])
            loss.backward()
            if fast is not None:
                fast.clip_and_set_grads(params, math.inf)
            opt.step()
            opt.zero_grad(set_to_none=True)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = peak_rss_kib(reset_ok)
    return {
        "examples": sum(len(idx) for idx in order[:total]),
        "steps": total,
        "seconds": seconds,
        "t_start": t0,
        "t_end": t0 + seconds,
        "cpu_seconds": cpu,
        "rss_before_kib": rss0,
        "peak_kib": peak,
        "peak_reset": reset_ok,
        "precision": precision,
        "final_loss": float(loss.detach()),
        "acc": accuracy(model, eval_enc, ctx),
    }


def run_trainer(args, built, best: bool, compiled: bool = False) -> dict:
    import datasets
    import torch
    import torch.nn.functional as F
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    from calibench.training.loop import plan_steps

    hf_logging.set_verbosity_error()
    model, tokenizer, train_enc, eval_enc, train_texts, eval_texts, _ = built

    class WithLoss(torch.nn.Module):
        """calibench's Classifier, returning the same cross-entropy the baseline recipe uses."""

        def __init__(self, clf):
            super().__init__()
            self.clf = clf

        def forward(self, input_ids, attention_mask, token_type_ids=None, labels=None):
            logits = self.clf(input_ids, attention_mask, token_type_ids).logits
            loss = F.cross_entropy(logits.float(), labels) if labels is not None else None
            return {"loss": loss, "logits": logits}

    cols = {"input_ids": train_enc.input_ids, "labels": train_enc.labels.tolist()}
    if train_enc.token_type_ids is not None:
        cols["token_type_ids"] = train_enc.token_type_ids
    ds = datasets.Dataset.from_dict(cols)
    total, warm = plan_steps(len(train_enc), args.batch_size, args.epochs, None, None, args.warmup_ratio)
    extra = {}
    if best:
        extra = {"bf16": True, "optim": "adamw_torch_fused"}
        import inspect

        if "train_sampling_strategy" in inspect.signature(TrainingArguments).parameters:
            extra["train_sampling_strategy"] = "group_by_length"  # transformers >= 5
        else:
            extra["group_by_length"] = True  # transformers 4
        if compiled:
            extra["torch_compile"] = True
    targs = TrainingArguments(
        output_dir=str(Path(args.workdir) / "trainer-out"),
        per_device_train_batch_size=args.batch_size,
        num_train_epochs=args.epochs,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        warmup_steps=warm,
        max_grad_norm=args.grad_clip,
        lr_scheduler_type="linear",
        seed=args.seed,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        logging_strategy="no",
        use_cpu=True,
        dataloader_num_workers=0,
        **extra,
    )
    trainer = Trainer(
        model=WithLoss(model),
        args=targs,
        train_dataset=ds,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
    )
    rss0 = rss_kib()
    reset_ok = reset_peak_rss()
    t0, c0 = time.perf_counter(), time.process_time()
    out = trainer.train()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = peak_rss_kib(reset_ok)
    ctx, precision = make_ctx(args, model, tokenizer, train_enc, train_texts, eval_texts)
    return {
        "examples": len(train_enc) * args.epochs,
        "steps": out.global_step,
        "seconds": seconds,
        "t_start": t0,
        "t_end": t0 + seconds,
        "cpu_seconds": cpu,
        "rss_before_kib": rss0,
        "peak_kib": peak,
        "peak_reset": reset_ok,
        "precision": "bf16" if best else "fp32",
        "final_loss": out.training_loss,
        "acc": accuracy(model, eval_enc, ctx),
    }


def _profiler(args):
    if not args.profile:
        return None
    from torch.profiler import ProfilerActivity, profile, schedule

    # skip the first 5 steps (one-off kernel set-up), then record `--profile` steps
    return profile(
        activities=[ProfilerActivity.CPU], schedule=schedule(wait=5, warmup=0, active=args.profile), record_shapes=False
    )


def _print_profile(prof, args) -> None:
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.profile_rows), file=sys.stderr)


# --------------------------------------------------------------------------- driver


def worker(args) -> None:
    import torch

    built = build(args)
    if args.worker in ("calibench", "calibench-std"):
        res = run_calibench(args, built, fast_path=False if args.worker == "calibench-std" else None)
    elif args.worker in ("bound", "bound-fast", "bound-compiled"):
        res = run_bound(args, built, fast_kernels=args.worker == "bound-fast", compiled=args.worker == "bound-compiled")
    else:
        res = run_trainer(
            args,
            built,
            best=args.worker in ("trainer-best", "trainer-compiled"),
            compiled=args.worker == "trainer-compiled",
        )
    res.update(
        contender=args.worker,
        threads=torch.get_num_threads(),
        data=built[-1],
        n_train=len(built[2]),
        n_eval=len(built[3]),
    )
    Path(args.result).write_text(json.dumps(res))


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--which",
        default="all",
        help="all (= " + ", ".join(CONTENDERS) + "), or a comma list of those and " + ", ".join(EXTRA),
    )
    p.add_argument("--task", choices=["sst2", "mrpc"], default="sst2", help="sst2 (single sentences) or mrpc (pairs)")
    p.add_argument(
        "--n-train", type=int, default=2000, help="training examples (calibench's subsample); 0 = the whole set"
    )
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--warmup-ratio", type=float, default=0.06)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--precision", default="auto", help="calibench's precision: auto | bf16 | fp32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--model", default="minilm")
    p.add_argument("--eval", choices=["validation", "dev-half"], default="validation")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for every contender")
    p.add_argument("--repeats", type=int, default=1, help="run the contenders this many times")
    p.add_argument(
        "--slice",
        type=float,
        default=2.0,
        help="time-slice the contenders: all started, one running at a time, round-robin every SLICE "
        "seconds (fair under a varying background load); 0 = one after another",
    )
    p.add_argument("--quick", action="store_true", help="smoke size: 256 examples x 1 epoch")
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="STEPS",
        help="calibench only: torch.profiler table over STEPS steps (after 5 skipped); slows that run",
    )
    p.add_argument("--profile-rows", type=int, default=30)
    p.add_argument("--json", help="also write all results here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.n_train, args.epochs = 256, 1.0
    args.n_train = args.n_train or None
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return
    import tempfile

    which = list(CONTENDERS) if args.which == "all" else [w.strip() for w in args.which.split(",")]
    bad = [w for w in which if w not in CONTENDERS + EXTRA]
    if bad:
        sys.exit(f"unknown contender(s) {bad}; choose from {CONTENDERS + EXTRA}")
    raw = sys.argv[1:] if argv is None else list(argv)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1"}
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            jobs = {}
            for name in which:
                out = Path(tmp) / f"{name}-{rep}.json"
                jobs[name] = (
                    [
                        sys.executable,
                        os.path.abspath(__file__),
                        *raw,
                        "--worker",
                        name,
                        "--result",
                        str(out),
                        "--workdir",
                        tmp,
                    ],
                    out,
                )
            print(
                f"[{rep + 1}/{args.repeats}] {', '.join(which)}"
                + (f" (time-sliced, {args.slice:g} s slices)" if args.slice > 0 else " (one after another)"),
                file=sys.stderr,
                flush=True,
            )
            slices = run_sliced(jobs, args.slice, env, quiet=not args.profile)
            for name, (_, out) in jobs.items():
                r = json.loads(out.read_text())
                r["repeat"] = rep
                r["worker_seconds"] = r["seconds"]
                if slices is not None:  # training time = the slices this contender ran in, within its training
                    r["seconds"] = sum(max(0.0, min(b, r["t_end"]) - max(a, r["t_start"])) for a, b in slices[name])
                results.append(r)
                print(
                    f"    {name}: {r['examples'] / r['seconds']:.1f} ex/s, acc {r['acc']:.4f}",
                    file=sys.stderr,
                    flush=True,
                )
    report(results, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def run_sliced(jobs: dict, slice_s: float, env: dict, quiet: bool) -> dict[str, list[tuple[float, float]]] | None:
    """Run the workers; with ``slice_s > 0`` all at once but only one running at any moment,
    round-robin in slices of ``slice_s`` seconds (SIGSTOP/SIGCONT), so every contender samples
    the same background load; returns each one's ``(start, end)`` slices (perf_counter, which
    is CLOCK_MONOTONIC, shared with the workers). ``slice_s <= 0``: one after another, None."""
    import signal

    out = subprocess.DEVNULL if quiet else None
    if slice_s <= 0:
        for name, (cmd, _) in jobs.items():
            if subprocess.run(cmd, env=env, stdout=out).returncode != 0:
                sys.exit(f"{name} failed")
        return None
    procs = {}
    slices: dict[str, list[tuple[float, float]]] = {name: [] for name in jobs}
    try:
        for name, (cmd, _) in jobs.items():
            procs[name] = subprocess.Popen(cmd, env=env, stdout=out)
            os.kill(procs[name].pid, signal.SIGSTOP)
        while any(p.poll() is None for p in procs.values()):
            for name, p in procs.items():
                if p.poll() is not None:
                    continue
                t0 = time.perf_counter()
                os.kill(p.pid, signal.SIGCONT)
                try:
                    p.wait(timeout=slice_s)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGSTOP)
                slices[name].append((t0, time.perf_counter()))
    finally:
        for p in procs.values():
            if p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
                p.kill()
    failed = [n for n, p in procs.items() if p.returncode != 0]
    if failed:
        sys.exit(f"{', '.join(failed)} failed")
    return slices


def report(results: list[dict], args) -> None:
    import statistics

    by: dict[str, list[dict]] = {}
    for r in results:
        by.setdefault(r["contender"], []).append(r)
    rate = {k: statistics.median(r["examples"] / r["seconds"] for r in v) for k, v in by.items()}
    ref = rate.get("trainer-best")
    bound = rate.get("bound")
    first = results[0]
    print(
        f"\n{args.task.upper()}, {first['n_train']} train examples x {args.epochs:g} epochs, batch {args.batch_size}, "
        f"lr {args.lr:g}, seed {args.seed}; eval on {first['n_eval']} rows; torch threads {first['threads']}; "
        f"train rows: {first['data']}"
    )
    print(
        f"{'contender':<16} {'prec':>5} {'ex/s':>7} {'vs best':>8} {'of bound':>8} {'s':>7} {'cpu s':>7} {'dev acc':>8} "
        f"{'peak MiB':>9} {'+train MiB':>10}  runs"
    )
    for name in CONTENDERS + EXTRA:
        if name not in by:
            continue
        rs = by[name]
        secs = statistics.median(r["seconds"] for r in rs)
        cpus = statistics.median(r["cpu_seconds"] for r in rs)
        acc = statistics.mean(r["acc"] for r in rs)
        peak = max(r["peak_kib"] for r in rs) / 1024
        delta = max(r["peak_kib"] - r["rss_before_kib"] for r in rs) / 1024
        ratio = f"{rate[name] / ref:.2f}x" if ref else "-"
        of_bound = f"{rate[name] / bound:.2f}" if bound else "-"
        runs = " ".join(f"{r['examples'] / r['seconds']:.1f}" for r in rs)
        print(
            f"{name:<16} {rs[0]['precision']:>5} {rate[name]:>7.1f} {ratio:>8} {of_bound:>8} {secs:>7.1f} {cpus:>7.1f} {acc:>8.4f} "
            f"{peak:>9.0f} {delta:>10.0f}  {runs}"
        )
    if not all(r["peak_reset"] for r in results):
        print("(peak memory from ru_maxrss: /proc/self/clear_refs unavailable, so peaks include start-up)")


if __name__ == "__main__":
    main()
