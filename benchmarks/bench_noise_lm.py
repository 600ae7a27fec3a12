"""How good is a noise LM: dev perplexity by epoch, how much of its input it copies, cost.

The partial-to-full noise LM is only useful to NCE if its samples stay near their inputs,
i.e. if it copies the unmasked tokens of the corrupted prompt and fills the mask spans.
This script trains one noise-LM configuration on a seeded sample of a task's training
inputs (the same way the EBM recipes do) and prints:

* ``train s``: wall time of ``train_noise_model``;
* ``dev ppl``: perplexity on the first ``--n-dev`` official-dev inputs after each epoch;
* ``held-out ppl`` (with ``--option target_perplexity=T``): perplexity after each epoch on
  the training inputs the LM holds out to decide its stop, and the epoch it stopped at;
* ``copy``: over ``--n-samples`` dev inputs, the mean fraction of the prompt's *unmasked*
  tokens that reappear, in order, in the sample (``difflib`` matching blocks over token
  ids); ~1 for a model that copies, ~0.1 for one that writes unrelated in-domain text;
* ``stopped``: the fraction of samples that ended with the end token (the rest ran to
  ``max_new_tokens``);
* a few prompts next to their samples.

    python benchmarks/bench_noise_lm.py                                # tiny-scratch defaults
    python benchmarks/bench_noise_lm.py --option epochs=8
    python benchmarks/bench_noise_lm.py --option lm=minilm --option lr=1e-4 --option epochs=2

``--against KEY=VALUE,KEY=VALUE`` (repeatable) trains further configurations in the same run,
each the ``--option`` configuration with those fields changed, and prints each one's training
time as a ratio to the first (the reference) next to its perplexities:

    python benchmarks/bench_noise_lm.py --option lm=minilm --option lr=2e-4 --option epochs=5 \
        --against batch_size=32,bf16=true,lr=5e-4,epochs=3
"""

from __future__ import annotations

import argparse
import difflib
import json
import time

import numpy as np
import torch

from calibench.ebm.noise_model import NoiseModelConfig, train_noise_model
from calibench.tasks import get_task, load_task, prepare_splits


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def copy_fraction(model, masked: list[int], sample_fields) -> float:
    kept = [t for t in masked if t not in (model.tokens.mask, model.tokens.sep)]
    if not kept:
        return float("nan")
    ids: list[int] = []
    for f in sample_fields or ():
        ids += model.tokenizer(f, add_special_tokens=False)["input_ids"]
    blocks = difflib.SequenceMatcher(a=kept, b=ids, autojunk=False).get_matching_blocks()
    return sum(b.size for b in blocks) / len(kept)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="sst2")
    p.add_argument("--train-size", type=int, default=2000)
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--n-dev", type=int, default=200)
    p.add_argument("--n-samples", type=int, default=64)
    p.add_argument("--show", type=int, default=4)
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a NoiseModelConfig field, e.g. epochs=8, lm=minilm, lr=1e-4 (repeatable)",
    )
    p.add_argument(
        "--against",
        action="append",
        default=[],
        metavar="KEY=VALUE,...",
        help="another configuration: the --option one with these fields changed (repeatable)",
    )
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    for o in args.option + [x for a in args.against for x in a.split(",")]:
        if "=" not in o:
            p.error(f"--option/--against {o!r}: expected KEY=VALUE, e.g. epochs=8")
    options = {k: _value(v) for k, v in (o.split("=", 1) for o in args.option)}
    variants = [options] + [
        {**options, **{k: _value(v) for k, v in (x.split("=", 1) for x in a.split(","))}} for a in args.against
    ]
    task = get_task(args.task)
    splits = prepare_splits(task, train_size=args.train_size, data_seed=args.data_seed)
    train = [tuple(r[f] for f in task.text_fields) for r in splits.train]
    dev_rows = load_task(task).dev.select(range(args.n_dev))
    dev = [tuple(r[f] for f in task.text_fields) for r in dev_rows]
    print(
        f"{args.task}: {len(train)} training inputs, dev perplexity on {len(dev)}, torch threads {torch.get_num_threads()}"
    )

    rows = []
    for opts in variants:
        cfg = NoiseModelConfig.from_dict(opts)
        t0 = time.perf_counter()
        model = train_noise_model(train, cfg, eval_texts=dev)
        seconds = time.perf_counter() - t0
        out = model.sample(
            dev[: args.n_samples], rng=np.random.default_rng(1), generator=torch.Generator().manual_seed(1)
        )
        copies = [copy_fraction(model, m, s.fields) for m, s in zip(out.masked, out.samples)]
        stopped = np.mean([not s.truncated for s in out.samples])
        ppl = [round(h["eval_perplexity"], 1) for h in model.history]
        epoch_s = [
            round(h["seconds"]) for h in model.history
        ]  # cumulative: load + steps + the earlier epochs' evaluations
        held = [round(h["holdout_perplexity"], 1) for h in model.history if "holdout_perplexity" in h]
        rows.append((opts, seconds, ppl, held, float(np.nanmean(copies)), float(stopped)))
        target = (
            ""
            if model.reached_target is None
            else f" | held-out ppl by epoch {held} | "
            + (f"target reached after epoch {len(held)}" if model.reached_target else "target not reached")
        )
        print(
            f"{json.dumps(opts) if opts else '(defaults)'}: train s {seconds:.0f} (after each epoch {epoch_s}) | "
            f"dev ppl by epoch {ppl}{target} | "
            f"copy {np.nanmean(copies):.3f} | stopped {stopped:.2f}",
            flush=True,
        )
        for m, s in list(zip(out.masked, out.samples))[: args.show]:
            print(f"  prompt: {model.render(m)}\n  sample: {s.fields}")
    if len(rows) > 1:
        ref = rows[0][1]
        print("\n| noise LM | train s | speed-up | dev ppl by epoch | final ppl | held-out ppl | copy | stopped |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for opts, seconds, ppl, held, copy, stopped in rows:
            name = ", ".join(f"{k}={v}" for k, v in opts.items()) or "(defaults)"
            print(
                f"| {name} | {seconds:.0f} | {ref / seconds:.2f}x | {', '.join(map(str, ppl))} | {ppl[-1]} "
                f"| {', '.join(map(str, held)) or '-'} | {copy:.2f} | {stopped:.2f} |"
            )


if __name__ == "__main__":
    main()
