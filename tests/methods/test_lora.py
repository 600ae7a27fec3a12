"""LoRA through peft: only the adapters and the heads train; the encoder's weights never move.

A tiny config-built BERT (module names query/key/value as in MiniLM and RoBERTa) trained a
few steps by the real loop, in milliseconds.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from calibench import registry
from calibench.config import DataSpec, Hyper, TrainingSpec
from calibench.methods.base import LossOutput
from calibench.methods.cross_entropy import CrossEntropy
from calibench.methods.lora import (
    EncoderWeightsChanged,
    lora_adapters,
    resolve_lora_options,
)
from calibench.training.batching import Encoded
from calibench.training.context import TrainContext
from calibench.training.loop import train

pytest.importorskip("peft")


def tiny_classifier():
    from transformers import BertConfig, BertModel

    from calibench.models.classifier import Classifier

    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=40,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    return Classifier(BertModel(cfg, add_pooling_layer=False), 2, dropout=0.1)


def context(model, steps: int = 6) -> TrainContext:
    rng = np.random.default_rng(0)
    ids = [[1, *rng.integers(5, 40, size=int(n)).tolist(), 2] for n in rng.integers(3, 10, size=32)]
    enc = Encoded(ids, [[0] * len(i) for i in ids], rng.integers(0, 2, size=32), pad_id=0)
    spec = TrainingSpec(
        data=DataSpec("sst2"),
        recipe="lora",
        seed=0,
        hyper=Hyper(batch_size=8, epochs=None, max_steps=steps, warmup_steps=0, precision="fp32"),
    )
    from calibench.training.batching import collate

    ctx = TrainContext(
        spec=spec,
        task=None,
        model=model,
        tokenizer=None,
        train=enc,
        train_texts=[],
        dev_texts=[],
        device=torch.device("cpu"),
        autocast=contextlib.nullcontext,
        rng=rng,
    )
    ctx.batch = lambda e, idx: collate(e, idx)  # type: ignore[method-assign]
    return ctx


class WithExtraHead(CrossEntropy):
    """Like EBM's scalar energy: a head added in setup, outside the encoder, trained by the loss."""

    def setup(self, ctx) -> None:
        ctx.model.extra_heads["energy"] = torch.nn.Linear(ctx.model.hidden_size, 1)

    def loss(self, model, batch, ctx) -> LossOutput:
        out = model(**batch)
        energy = model.extra_heads["energy"](out.hidden).squeeze(-1)
        return LossOutput(F.cross_entropy(out.logits, batch["labels"]) + energy.square().mean())


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def test_lora_trains_only_the_adapters_and_the_heads_and_leaves_the_encoder_unchanged():
    model = tiny_classifier()
    recipe = WithExtraHead(lora_r=4)
    encoder_before = snapshot(model.encoder)
    head_before = snapshot(model.head)
    ctx = context(model)
    with lora_adapters(model, recipe.lora):
        log = train(ctx, recipe)
        trained = {n for n, p in model.named_parameters() if p.requires_grad}
        adapters = {n: p.detach().clone() for n, p in model.encoder.named_parameters() if "lora_" in n}
    # the optimiser saw exactly the adapters of the targeted modules and the heads
    assert trained and all("lora_" in n or n.startswith(("head.", "extra_heads.")) for n in trained)
    assert any(n.startswith("extra_heads.energy") for n in trained)
    assert {n.split(".lora_")[0].rsplit(".", 1)[1] for n in adapters} == {"query", "value"}
    assert any(a.abs().sum() > 0 for n, a in adapters.items() if "lora_B" in n)  # B starts at 0: it moved
    n_adapter = sum(a.numel() for a in adapters.values())
    assert log.trainable_params == n_adapter + sum(p.numel() for p in model.head.parameters()) + sum(
        p.numel() for p in model.extra_heads.parameters()
    )
    # the heads trained, the encoder (adapters removed again) is exactly the pretrained one
    assert any(not torch.equal(head_before[n], p) for n, p in model.head.named_parameters())
    after = snapshot(model.encoder)
    assert after.keys() == encoder_before.keys()
    assert all(torch.equal(encoder_before[n], after[n]) for n in after), "LoRA changed an encoder weight"


def test_full_finetuning_of_the_same_recipe_does_move_the_encoder():
    """The control: without lora_r the same loop moves the encoder (so the test above can fail)."""
    model = tiny_classifier()
    before = snapshot(model.encoder)
    train(context(model), WithExtraHead())
    assert any(not torch.equal(before[n], p) for n, p in model.encoder.named_parameters())


def test_a_training_that_moves_a_frozen_weight_fails():
    model = tiny_classifier()
    with (
        pytest.raises(EncoderWeightsChanged, match="changed 1 frozen encoder weight"),
        lora_adapters(model, WithExtraHead(lora_r=2).lora),
        torch.no_grad(),
    ):
        model.encoder.embeddings.word_embeddings.weight[3, 0] += 1.0


def test_lora_options_are_resolved_into_the_identity_only_when_lora_is_on():
    assert CrossEntropy().options == {}  # full finetuning's identity is unchanged
    assert registry.get("recipe", "lora")().options == {
        "lora_r": 8,
        "lora_alpha": 8,
        "lora_targets": "query|value",
        "lora_dropout": 0.1,
        "lora_lr": 5e-4,
    }
    ebm = registry.get("recipe", "ebm-hidden")(k=1, lora_r=4, lora_targets="query|key|value")
    assert ebm.lora.r == 4 and ebm.lora.targets == "query|key|value" and ebm.options["k"] == 1
    with pytest.raises(ValueError, match="lora_alpha given without lora_r"):
        resolve_lora_options({"lora_alpha": 16})
    with pytest.raises(ValueError, match="lora_r must be a positive integer"):
        CrossEntropy(lora_r=0)
    with pytest.raises(ValueError, match="valid options: lora_alpha, lora_dropout, lora_lr, lora_r, lora_targets"):
        CrossEntropy(lora_rank=8)


def test_unknown_target_modules_fail_with_the_way_out():
    model = tiny_classifier()
    with (
        pytest.raises(ValueError, match="lora_targets with this encoder's linear module names"),
        lora_adapters(model, CrossEntropy(lora_r=2, lora_targets="q_proj").lora),
    ):
        pass


def test_a_lora_training_gives_the_same_numbers_on_a_fresh_or_a_shared_base(tiny_bert, glue_dir):
    """LoRA trainings of one process share the loaded base (members of a LoRA ensemble load it
    once); the second training below reuses it and must not see a different random stream."""
    from calibench.execution.jobs import run_training
    from calibench.methods import lora

    spec = TrainingSpec(
        data=DataSpec("wnli", 16, data_dir=glue_dir),
        recipe="lora",
        recipe_options=registry.get("recipe", "lora")().options,
        model=tiny_bert,
        seed=3,
        hyper=Hyper(batch_size=8, epochs=None, max_steps=2, max_length=32, precision="fp32"),
    )
    lora._bases.pop(tiny_bert, None)
    fresh = run_training(spec)
    base = lora._bases[tiny_bert][0]
    shared = run_training(spec)
    assert lora._bases[tiny_bert][0] is base  # loaded once
    assert not any("lora_" in n for n, _ in base.named_parameters())  # adapters removed after each job
    (p1,), (p2,) = fresh.predictions.values(), shared.predictions.values()
    np.testing.assert_array_equal(p1["arrays"]["test_logits"], p2["arrays"]["test_logits"])
