"""One noise-LM training step, eager against ``torch.compile``, steps interleaved.

Does compiling the LM's transformer body make the noise LM's step cheaper on a CPU? Two copies
of the same LM (same seeded weights) take turns on the same batches, one step each, so both see
the same machine load; only the body (``lm.bert.encoder``) is compiled, with dynamic shapes
(the length-grouped batches change width). The first ``--warmup`` steps of each (compilation,
allocator warm-up) are not timed. Prints seconds per step of each and their ratio, and the mean
training loss of the last 20 steps (the two should agree: compilation must not change the
learning, only float order and dropout draws differ).

    python benchmarks/bench_noise_lm_step.py --steps 150
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from calibench.ebm import noise_model as nm
from calibench.tasks import get_task, prepare_splits


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="sst2")
    p.add_argument("--train-size", type=int, default=2000)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--head-negatives", type=int, default=2048, help="0: the full vocabulary head")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    task = get_task(args.task)
    splits = prepare_splits(task, train_size=args.train_size)
    texts = [tuple(r[f] for f in task.text_fields) for r in splits.train]
    cfg = nm.NoiseModelConfig(lm="minilm", lr=2e-4, epochs=5, head_negatives=args.head_negatives or None).resolved()
    tokenizer, tokens = nm.load_tokenizer(cfg)
    full = nm.encode_fields(tokenizer, texts, tokens.sep)

    contenders = {}
    for name in ("eager", "compiled"):
        lm = nm.build_lm(cfg, tokenizer, tokens)  # seeded: both start from the same weights
        if name == "compiled":
            lm.bert.encoder = torch.compile(lm.bert.encoder, dynamic=True)
        lm.train()
        contenders[name] = (lm, nm.make_optimizer(lm, cfg.lr, cfg.weight_decay, fused=True))
    model = nm.NoiseModel(contenders["eager"][0], tokenizer, tokens, cfg)
    ids = [x[: model.max_text_tokens] for x in full]
    samplers = {
        name: nm._HeadSampler.build(lm, ids, tokens.eos, cfg.head_negatives, cfg.seed) if cfg.head_negatives else None
        for name, (lm, _) in contenders.items()
    }
    rng = np.random.default_rng([cfg.seed, 0])
    batches = list(nm.length_grouped_batches([len(x) for x in ids], cfg.batch_size, rng, descending=False))
    batches = batches[: args.steps]

    spent = dict.fromkeys(contenders, 0.0)
    losses: dict[str, list[float]] = {name: [] for name in contenders}
    for i, batch in enumerate(batches):
        x, y, a = nm._collate([model.example(ids[j], rng, len(full[j])) for j in batch], tokens.pad)
        for name, (lm, opt) in contenders.items():
            torch.manual_seed(i)
            t0 = time.perf_counter()
            loss, _ = nm._lm_nll(lm, x, y, a, sampler=samplers[name])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(lm.parameters(), cfg.grad_clip)
            opt.step()
            if i >= args.warmup:
                spent[name] += time.perf_counter() - t0
            losses[name].append(float(loss.detach()))
    timed = max(len(batches) - args.warmup, 1)
    print(f"{args.task}: {len(batches)} steps of {cfg.batch_size}, {timed} timed, torch threads {args.threads}")
    print("| body | s per step | speed-up | mean loss, last 20 steps |")
    print("| --- | --- | --- | --- |")
    for name in contenders:
        print(
            f"| {name} | {spent[name] / timed:.3f} | {spent['eager'] / spent[name]:.2f}x "
            f"| {np.mean(losses[name][-20:]):.3f} |"
        )


if __name__ == "__main__":
    main()
