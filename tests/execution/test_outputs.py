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
    recipe = registry.get("recipe", "ebm-scalar")()
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
    ctx = SimpleNamespace(spec=SimpleNamespace(hyper=SimpleNamespace(eval_batch_size=3)),
                          autocast=contextlib.nullcontext, batch=lambda e, idx: collate(e, idx, torch.device("cpu")))
    assert scalar_energy_scores(model, enc, ctx) is None  # a baseline model: MSP and logsumexp only
    registry.get("recipe", "ebm-scalar")().add_heads(model)
    got = scalar_energy_scores(model, enc, ctx)
    model.eval()
    with torch.no_grad():  # one example at a time, in input order
        want = [float(model.extra_heads["energy"](model(**tok([t], return_tensors="pt")).hidden)) for t in texts]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
