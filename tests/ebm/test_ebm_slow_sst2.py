"""Slow: the default tiny noise LM, trained briefly on real SST-2 sentences, must model
held-out SST-2 text far better than its untrained self (run with ``pytest -m slow``)."""

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
    cfg = NoiseModelConfig(epochs=3, batch_size=16)  # default architecture, a short run
    tok, tokens = load_tokenizer(cfg)
    untrained = NoiseModel(build_lm(cfg, tok, tokens), tok, tokens, cfg).perplexity(dev)
    t0 = time.perf_counter()
    model = train_noise_model(train, cfg, eval_texts=dev)
    trained = model.perplexity(dev)
    curve = [round(h["eval_perplexity"], 1) for h in model.history]
    print(f"untrained {untrained:.0f}, after {cfg.epochs} epochs {trained:.1f} ({time.perf_counter() - t0:.0f} s), curve {curve}")
    assert trained < untrained / 20
    assert curve == sorted(curve, reverse=True)  # dev perplexity falls every epoch
