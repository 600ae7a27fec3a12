"""Noise-corpus sampling throughput: KV cache vs recomputing the whole sequence each step.

Samples the partial-to-full noise LM (``tiny-scratch``, the default NoiseModelConfig: 2
layers, 384 wide, MiniLM WordPiece vocabulary) on masked SST-2 training sentences, once
with ``past_key_values`` and once without, from the same seed, and checks that both give
the same samples token for token (the sampler draws one uniform per row per step from a
seeded ``torch.Generator`` in either path).

By default the LM is first trained briefly on SST-2 training sentences (so rows stop at
realistic lengths, as in a real corpus run) and kept in an ArtifactStore under ``--store``
(default ``~/.cache/calibench/bench-noise-store``)
so reruns skip training; ``--random-init`` samples an untrained LM instead (rows rarely
emit the end token, so nearly all run to ``max_new_tokens``: the cache's best case).

    python benchmarks/bench_noise_sampling.py [--n-samples 256] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from calibench.ebm.corpus import get_noise_model  # noqa: E402
from calibench.ebm.noise_model import NoiseModel, NoiseModelConfig, build_lm, load_tokenizer  # noqa: E402
from calibench.store.artifacts import ArtifactStore  # noqa: E402


def _sst2(split: str, n: int) -> list[tuple[str]]:
    import pandas as pd

    path = REPO.parent / "shared" / "glue" / "sst2" / f"{split}.parquet"
    return [(s,) for s in pd.read_parquet(path)["sentence"].tolist()[:n]]


def _run(model: NoiseModel, texts: list[tuple[str]], seed: int, use_cache: bool) -> tuple[float, list, int]:
    t0 = time.perf_counter()
    out = model.sample(
        texts, rng=np.random.default_rng(seed), generator=torch.Generator().manual_seed(seed), use_cache=use_cache
    )
    dt = time.perf_counter() - t0
    tokens = sum(s.n_tokens for s in out.samples)
    return dt, [(s.fields, s.n_tokens, s.dropped) for s in out.samples], tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-samples", type=int, default=256)
    ap.add_argument("--n-train", type=int, default=2000, help="SST-2 sentences the LM is trained on")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--random-init", action="store_true", help="sample an untrained LM")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--store", default=str(Path.home() / ".cache" / "calibench" / "bench-noise-store"))
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    cfg = NoiseModelConfig(epochs=args.epochs)
    train = _sst2("train", args.n_train)
    if args.random_init:
        tok, tokens = load_tokenizer(cfg)
        model = NoiseModel(build_lm(cfg, tok, tokens), tok, tokens, cfg)
        lm_note = "random init (MiniLM word and position embeddings, the rest untrained)"
    else:
        model, info = get_noise_model("sst2-bench", train, cfg, ArtifactStore(args.store))
        dev_ppl = model.perplexity(_sst2("validation", 400), seed=args.seed)
        lm_note = (
            f"trained {args.epochs} epochs on {len(train)} SST-2 sentences "
            f"({info.source}; training took {info.train_seconds:.0f} s; "
            f"SST-2 dev perplexity {dev_ppl:.1f} on 400 sentences)"
        )
    # like a corpus run: the LM's own training inputs, re-masked
    prompts = (train * (args.n_samples // len(train) + 1))[: args.n_samples]

    # warm-up (first-call overheads), then the two timed runs from the same seed
    _run(model, prompts[:8], args.seed, True)
    cpu0 = time.process_time()
    t_c, s_c, tok_c = _run(model, prompts, args.seed, True)
    cpu_c = time.process_time() - cpu0
    cpu0 = time.process_time()
    t_u, s_u, tok_u = _run(model, prompts, args.seed, False)
    cpu_u = time.process_time() - cpu0
    identical = s_c == s_u
    n = len(prompts)
    res = {
        "lm": lm_note,
        "config": {
            k: v
            for k, v in cfg.resolved().to_dict().items()
            if k
            in (
                "n_layer",
                "n_embd",
                "n_head",
                "top_k",
                "temperature",
                "max_new_tokens",
                "sample_batch_size",
                "mask_rate",
            )
        },
        "n_samples": n,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "mean_generated_tokens": tok_c / n,
        "cached_seconds": t_c,
        "uncached_seconds": t_u,
        "cached_cpu_seconds": cpu_c,
        "uncached_cpu_seconds": cpu_u,
        "cached_samples_per_s": n / t_c,
        "uncached_samples_per_s": n / t_u,
        "cached_tokens_per_s": tok_c / t_c,
        "uncached_tokens_per_s": tok_u / t_u,
        "speedup": t_u / t_c,
        "identical_samples": identical,
    }
    print(f"noise LM: {lm_note}")
    print(
        f"{n} samples, {res['mean_generated_tokens']:.1f} generated tokens each on average, "
        f"top-k {cfg.top_k}, batch {cfg.sample_batch_size}, {args.threads} thread(s)"
    )
    print(
        f"  with KV cache   : {res['cached_samples_per_s']:8.1f} samples/s  ({res['cached_tokens_per_s']:.0f} tokens/s, {t_c:.1f} s)"
    )
    print(
        f"  without (recompute): {res['uncached_samples_per_s']:8.1f} samples/s  ({res['uncached_tokens_per_s']:.0f} tokens/s, {t_u:.1f} s)"
    )
    print(
        f"  speed-up {res['speedup']:.2f}x wall, {cpu_u / cpu_c:.2f}x CPU time "
        f"(process CPU s: {cpu_c:.1f} vs {cpu_u:.1f}); identical samples: {identical}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    if not identical:
        sys.exit("cached and uncached sampling disagree")


if __name__ == "__main__":
    main()
