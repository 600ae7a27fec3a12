"""Kept models: saved weights load back into the same modules (recipe heads included) and predict the same."""

from __future__ import annotations

import numpy as np
import torch

from calibench import registry
from calibench.execution.outputs import load_model, save_model, scalar_energy_scores
from calibench.store.artifacts import ArtifactStore


def _classifier(tiny_bert: str, seed: int):
    from calibench.models.classifier import Classifier
    from calibench.models.encoders import load_encoder_and_tokenizer

    torch.manual_seed(seed)
    encoder, tokenizer = load_encoder_and_tokenizer(tiny_bert)
    return Classifier(encoder, 2), tokenizer


def test_a_kept_model_with_an_energy_head_predicts_the_same(tmp_path, tiny_bert):
    recipe = registry.create("recipe", "ebm-scalar")
    model, tok = _classifier(tiny_bert, 0)
    recipe.add_heads(model)
    model.eval()
    batch = tok(["a short sentence", "another one here"], return_tensors="pt", padding=True)
    with torch.no_grad():
        want = model(**batch)
        want_energy = model.extra_heads["energy"](want.hidden)
    store = ArtifactStore(tmp_path)
    save_model(store, "k", model)

    other, _ = _classifier(tiny_bert, 1)  # different initial weights
    assert load_model(store, "k", other) is not None  # no energy head yet: refused, with the reason
    recipe.add_heads(other)
    assert load_model(store, "k", other) is None
    other.eval()
    with torch.no_grad():
        got = other(**batch)
        np.testing.assert_array_equal(got.logits.numpy(), want.logits.numpy())
        np.testing.assert_array_equal(other.extra_heads["energy"](got.hidden).numpy(), want_energy.numpy())


def test_a_missing_or_damaged_kept_model_says_why(tmp_path, tiny_bert):
    model, _ = _classifier(tiny_bert, 0)
    store = ArtifactStore(tmp_path)
    assert "unreadable" in load_model(store, "absent", model)
    save_model(store, "k", model)
    victim = next(p for p in store.path("model", "k").iterdir() if p.suffix == ".npy")
    victim.write_bytes(victim.read_bytes()[:-8] + b"\0" * 8)
    assert "unreadable" in load_model(store, "k", model)


def test_scalar_energy_only_where_the_model_has_the_head(tiny_bert):
    import contextlib
    from types import SimpleNamespace

    import datasets

    from calibench.training.batching import collate, encode_dataset

    model, tok = _classifier(tiny_bert, 0)
    texts = ["one", "two words", "three words here", "and four words here"]
    enc = encode_dataset(tok, datasets.Dataset.from_dict({"sentence": texts, "label": [0, 1, 0, 1]}), ("sentence",), 32)
    ctx = SimpleNamespace(
        spec=SimpleNamespace(hyper=SimpleNamespace(eval_batch_size=3)),
        autocast=contextlib.nullcontext,
        batch=lambda e, idx: collate(e, idx, torch.device("cpu")),
    )
    assert scalar_energy_scores(model, enc, ctx) is None  # a baseline model: MSP and logsumexp only
    registry.create("recipe", "ebm-scalar").add_heads(model)
    got = scalar_energy_scores(model, enc, ctx)
    model.eval()
    with torch.no_grad():  # one example at a time, in input order
        want = [float(model.extra_heads["energy"](model(**tok([t], return_tensors="pt")).hidden)) for t in texts]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_kept_model_that_does_not_fit_changes_no_weight(tmp_path, tiny_bert):
    """Refused before anything is copied: a LoRA training's shared, frozen base must not be
    left half-overwritten by a kept model of another shape."""
    donor, _ = _classifier(tiny_bert, 0)
    registry.create("recipe", "ebm-scalar").add_heads(donor)  # one tensor more than the receiver has
    store = ArtifactStore(tmp_path)
    save_model(store, "k", donor)
    receiver, _ = _classifier(tiny_bert, 1)
    before = {n: t.clone() for n, t in receiver.state_dict().items()}
    assert "does not fit" in load_model(store, "k", receiver)
    for n, t in receiver.state_dict().items():
        assert torch.equal(t, before[n]), n


def test_a_lora_training_restores_its_adapters_and_predicts_the_same(tmp_path, tiny_bert, glue_dir):
    """A predictions-only job of a LoRA training loads the kept weights inside fresh adapters:
    the same logits as the training's own, no training, and the shared base left clean."""
    from dataclasses import replace

    from calibench.config import DataSpec, Hyper, TrainingSpec
    from calibench.execution.jobs import run_training
    from calibench.methods import lora

    spec = TrainingSpec(
        data=DataSpec("wnli", 16, data_dir=glue_dir),
        recipe="lora",
        recipe_options=registry.create("recipe", "lora").options,
        model=tiny_bert,
        seed=3,
        hyper=Hyper(lr=1e-2, batch_size=8, epochs=None, max_steps=2, max_length=32, precision="fp32"),
    )
    cache = str(tmp_path / "cache")
    first = run_training(spec, cache_dir=cache)
    again = run_training(replace(spec, outputs_only=True, stored=()), cache_dir=cache)
    assert again.record.get("outputs_only") and "train_log" not in again.record
    (p1,), (p2,) = first.predictions.values(), again.predictions.values()
    np.testing.assert_array_equal(p1["arrays"]["test_logits"], p2["arrays"]["test_logits"])
    assert not any("lora_" in n for n, _ in lora._bases[tiny_bert][0].named_parameters())
