"""mc-dropout: T dropout-on passes (attention dropout included), log of the mean probabilities."""

import numpy as np
import pytest
import torch
from scipy.special import log_softmax, softmax

from baselines.mc_dropout import DROPOUT_TYPES, MCDropout, dropout_active, examples_per_forward, tile
from calibench.methods.inference import predict_logits
from calibench.training.batching import eval_batches


def run(model, enc, ctx, passes: int, seed: int = 0) -> np.ndarray:
    torch.manual_seed(seed)
    return MCDropout(passes=passes).predict(model, enc, ctx)


def test_result_is_log_of_the_mean_of_the_pass_distributions(tiny_model, encoded, fake_ctx):
    model, enc, ctx = tiny_model(hidden=0.2, attention=0.2, head=0.2), encoded(20), fake_ctx(eval_batch_size=8)
    got = run(model, enc, ctx, passes=4, seed=3)

    torch.manual_seed(3)  # the same forwards with the same seed, averaged explicitly
    expected = np.zeros_like(got)
    with dropout_active(model), torch.no_grad():
        for idx in eval_batches(enc.lengths, examples_per_forward(8, 4)):
            logits = model(**tile(ctx.batch(enc, idx), 4)).logits.numpy().astype(np.float64)
            dists = [softmax(logits[t * len(idx) : (t + 1) * len(idx)], axis=1) for t in range(4)]  # pass t
            expected[idx] = np.log(np.mean(dists, axis=0))
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(softmax(got, axis=1).sum(axis=1), 1.0, atol=1e-6)  # valid logits
    np.testing.assert_allclose(np.exp(got).sum(axis=1), 1.0, atol=1e-5)  # already normalised log-probs


def test_each_copy_in_a_tiled_forward_is_an_independent_pass(tiny_model, encoded, fake_ctx):
    model, enc = tiny_model(hidden=0.1, attention=0.1, head=0.1), encoded(5)
    batch = fake_ctx().batch(enc, np.arange(5))
    tiled = tile(batch, 3)
    assert tiled["input_ids"].shape[0] == 15
    torch.testing.assert_close(tiled["input_ids"][10:], batch["input_ids"])  # copy-major layout
    with torch.no_grad(), dropout_active(model):
        logits = model(**tiled).logits.view(3, 5, -1)
    assert (logits[0] - logits[1]).abs().min() > 0 and (logits[1] - logits[2]).abs().min() > 0
    model.eval()
    with torch.no_grad():  # without dropout the copies agree with the untiled batch
        torch.testing.assert_close(model(**tiled).logits.view(3, 5, -1)[2], model(**batch).logits)


def test_forwards_hold_about_an_eval_batch_of_rows():
    assert examples_per_forward(128, 10) == 12 and examples_per_forward(8, 4) == 2
    assert examples_per_forward(8, 20) == 1  # more passes than rows: one example per forward


def test_passes_differ_and_a_seed_reproduces_them(tiny_model, encoded, fake_ctx):
    model, enc, ctx = tiny_model(hidden=0.1, attention=0.1, head=0.1), encoded(12), fake_ctx()
    a, b, c = run(model, enc, ctx, 1, seed=0), run(model, enc, ctx, 1, seed=1), run(model, enc, ctx, 1, seed=0)
    assert np.abs(a - b).max() > 1e-3  # two single passes see different dropout masks
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(run(model, enc, ctx, 5, seed=4), run(model, enc, ctx, 5, seed=4))


@pytest.mark.parametrize("passes", [1, 5])
def test_without_dropout_it_is_the_deterministic_prediction(tiny_model, encoded, fake_ctx, passes):
    model, enc, ctx = tiny_model(hidden=0.0, attention=0.0, head=0.0), encoded(12), fake_ctx()
    det = predict_logits(model, enc, ctx).astype(np.float64)
    np.testing.assert_allclose(run(model, enc, ctx, passes), log_softmax(det, axis=1), atol=1e-5)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_attention_dropout_is_active(tiny_model, encoded, fake_ctx, attn):
    """Only attention-probability dropout is non-zero: the passes still differ.

    transformers applies it functionally, gated by the attention module's own ``training``
    flag; switching on the nn.Dropout modules alone would leave it off -- pinned below, so a
    transformers change in either direction is noticed.
    """
    model, enc = tiny_model(attention=0.5, attn=attn), encoded(6)
    batch = fake_ctx().batch(enc, np.arange(6))
    with torch.no_grad(), dropout_active(model):
        outs = [model(**batch).logits for _ in range(2)]
    assert (outs[0] - outs[1]).abs().max() > 1e-4

    model.eval()
    for m in model.modules():
        if isinstance(m, DROPOUT_TYPES):
            m.train()
    with torch.no_grad():
        outs = [model(**batch).logits for _ in range(2)]
    torch.testing.assert_close(outs[0], outs[1])


def test_only_dropout_and_its_owners_are_switched_and_flags_are_restored(tiny_model):
    model = tiny_model(hidden=0.1, attention=0.1, head=0.1)
    model.train()
    with dropout_active(model):
        on = {name for name, m in model.named_modules() if m.training}
    assert model.training and all(m.training for m in model.modules())  # restored
    assert "" not in on and "encoder" not in on and "encoder.encoder" not in on  # containers stay in eval
    assert {"head", "head.dropout", "encoder.embeddings", "encoder.encoder.layer.0.attention.self"} <= on
    assert not any(name.endswith(("dense", "LayerNorm", "query")) for name in on)


def test_options():
    assert MCDropout().options == {"passes": 10}
    with pytest.raises(ValueError, match="passes must be a positive integer"):
        MCDropout(passes=0)
