"""Slow tests of the noise LM's learning (run with ``pytest -m slow``): real SST-2 text,
and the copying mechanism the partial-to-full objective relies on."""

from __future__ import annotations

import time

import pytest
import torch

from calibench.ebm.noise_model import NoiseModel, NoiseModelConfig, build_lm, load_tokenizer, train_noise_model


@pytest.mark.slow
def test_tiny_noise_lm_learns_sst2(shared_glue_dir) -> None:
    import pandas as pd

    train = [(s,) for s in pd.read_parquet(shared_glue_dir / "sst2" / "train.parquet")["sentence"][:400]]
    dev = [(s,) for s in pd.read_parquet(shared_glue_dir / "sst2" / "validation.parquet")["sentence"][:100]]
    torch.set_num_threads(1)
    cfg = NoiseModelConfig(epochs=2)  # the default LM and optimiser, a short run
    tok, tokens = load_tokenizer(cfg)
    untrained = NoiseModel(build_lm(cfg, tok, tokens), tok, tokens, cfg).perplexity(dev)
    t0 = time.perf_counter()
    model = train_noise_model(train, cfg, eval_texts=dev)
    trained = model.perplexity(dev)
    curve = [round(h["eval_perplexity"], 1) for h in model.history]
    print(
        f"untrained {untrained:.0f}, after {cfg.epochs} epochs {trained:.1f} ({time.perf_counter() - t0:.0f} s), curve {curve}"
    )
    # a short run on 400 sentences learns the local statistics (not yet copying, see below)
    assert trained < untrained / 10


@pytest.mark.slow
def test_noise_lm_learns_to_copy_from_the_prefix() -> None:
    """The mechanism the partial-to-full objective relies on: with nothing masked, the full
    text is a copy of the prefix. On random 8-word sequences (nothing to memorise) a small
    LM goes through the usual phase change (here after ~300 steps) to near-perfect copying,
    so the training loop, labels and attention masks let the target attend to the prompt."""
    import numpy as np

    words = (
        "good bad film movie story cast plot funny dull long short great poor fine nice sad happy dark "
        "light slow fast old new big small warm cold hot dry wet"
    ).split()
    r = np.random.default_rng(0)
    texts = [(" ".join(r.choice(words, 8)),) for _ in range(2000)]
    dev = [(" ".join(r.choice(words, 8)),) for _ in range(100)]
    torch.set_num_threads(1)
    cfg = NoiseModelConfig(
        mask_rate=0.0, epochs=10, n_embd=64, n_head=4, warm_start_embeddings=False, lr=3e-3, batch_size=32
    )
    model = train_noise_model(texts, cfg, eval_texts=dev)
    curve = [round(h["eval_perplexity"], 2) for h in model.history]
    print(f"copy-task dev perplexity by epoch: {curve}")
    assert curve[0] > 10  # before the phase change: about a uniform guess among the words
    assert curve[-1] < 1.5  # after it: copying
