"""label-smoothing and mixup: each loss is the one its paper defines, on a tiny real encoder."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import baselines.mixup as mixup_mod
from baselines.label_smoothing import LabelSmoothing
from baselines.mixup import Mixup, draw_pairs, mixup_generator
from calibench.methods.cross_entropy import CrossEntropy
from calibench.training.batching import collate


def smoothed_ce_by_hand(logits: torch.Tensor, labels: torch.Tensor, alpha: float, spread: str) -> torch.Tensor:
    """-sum_c q_c log p_c, averaged over the batch, with q built entry by entry from the definitions:
    "all" q = (1 - alpha) onehot + alpha / C; "others" q = 1 - alpha on gold, alpha / (C - 1) elsewhere."""
    n, c = logits.shape
    q = torch.empty(n, c)
    for i in range(n):
        for j in range(c):
            gold = j == int(labels[i])
            if spread == "all":
                q[i, j] = (1 - alpha) * gold + alpha / c
            else:
                q[i, j] = 1 - alpha if gold else alpha / (c - 1)
    return -(q * torch.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


@pytest.mark.parametrize("spread", ["others", "all"])
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.3])
def test_label_smoothing_is_cross_entropy_against_smoothed_targets(tiny_model, encoded, fake_ctx, alpha, spread):
    model, enc = tiny_model(), encoded(12)
    batch = collate(enc, np.arange(12))
    loss = LabelSmoothing(alpha=alpha, spread=spread).loss(model, batch, fake_ctx()).loss
    expected = smoothed_ce_by_hand(model(**batch).logits, batch["labels"], alpha, spread)
    torch.testing.assert_close(loss, expected)
    if alpha == 0.0:
        torch.testing.assert_close(loss, CrossEntropy().loss(model, batch, fake_ctx()).loss)
    if spread == "all":  # torch's own definition
        torch.testing.assert_close(loss, F.cross_entropy(model(**batch).logits, batch["labels"], label_smoothing=alpha))


def test_default_is_desai_durrett_and_torch_gives_half_their_smoothing_on_a_binary_task():
    """Desai & Durrett's alpha = 0.1 targets 0.9 / 0.1 on two classes; torch's alpha = 0.1 targets 0.95 / 0.05,
    i.e. torch needs alpha = 0.2 to smooth as much."""
    logits, labels = torch.tensor([[3.0, 0.0], [0.0, 2.0], [1.0, -1.0], [-2.0, 0.5]]), torch.tensor([0, 1, 1, 0])

    def model(**_):  # fixed logits stand in for a model
        return SimpleNamespace(logits=logits)

    default = LabelSmoothing(alpha=0.1).loss(model, {"labels": labels}, None).loss
    log_p = torch.log_softmax(logits, dim=1)
    gold, other = log_p.gather(1, labels[:, None]).squeeze(1), log_p.gather(1, 1 - labels[:, None]).squeeze(1)
    torch.testing.assert_close(default, -(0.9 * gold + 0.1 * other).mean())
    torch.testing.assert_close(default, F.cross_entropy(logits, labels, label_smoothing=0.2))
    torch_01 = LabelSmoothing(alpha=0.1, spread="all").loss(model, {"labels": labels}, None).loss
    torch.testing.assert_close(torch_01, -(0.95 * gold + 0.05 * other).mean())
    assert not torch.isclose(default, torch_01)


def test_label_smoothing_options():
    assert LabelSmoothing().options == {"alpha": 0.1, "spread": "others"}
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\)"):
        LabelSmoothing(alpha=1.0)
    with pytest.raises(ValueError, match="spread must be 'others'"):
        LabelSmoothing(spread="uniform")


def setup_mixup(ctx, **options) -> Mixup:
    recipe = Mixup(**options)
    recipe.setup(ctx)
    return recipe


def test_pooled_mixup_loss_on_the_mixed_first_token_state(tiny_model, encoded, fake_ctx):
    model, enc, ctx = tiny_model(labels=3), encoded(10), fake_ctx(seed=7)
    batch = collate(enc, np.arange(10))
    out = setup_mixup(ctx).loss(model, batch, ctx)

    lam, perm = draw_pairs(mixup_generator(7), 0.4, 10)  # the same seeded draws, made independently
    assert out.logs["lambda"] == pytest.approx(lam)
    assert sorted(perm) == list(range(10)) and not np.array_equal(perm, np.arange(10))
    h = model.encode(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    logits = model.head(lam * h + (1 - lam) * h[perm])
    y = batch["labels"]
    expected = lam * F.cross_entropy(logits, y) + (1 - lam) * F.cross_entropy(logits, y[perm])
    torch.testing.assert_close(out.loss, expected)

    # the generator moves on: the next minibatch gets its own lambda and pairing
    ctx2 = fake_ctx(seed=7)
    second = setup_mixup(ctx2)
    lams = [second.loss(model, batch, ctx2).logs["lambda"] for _ in range(3)]
    assert lams[0] == pytest.approx(lam) and len(set(lams)) == 3


def test_embeddings_mixup_mixes_word_embeddings_under_the_union_mask(tiny_model, encoded, fake_ctx, monkeypatch):
    model, enc, ctx = tiny_model(labels=3), encoded(6, seed=3), fake_ctx()
    batch = collate(enc, np.arange(6))
    lam, perm = 0.3, np.array([1, 0, 3, 2, 5, 4])
    monkeypatch.setattr(mixup_mod, "draw_pairs", lambda rng, alpha, n: (lam, perm))
    seen = {}
    encode = model.encode

    def spy(**kwargs):
        seen.update(kwargs)
        return encode(**kwargs)

    monkeypatch.setattr(model, "encode", spy)
    out = setup_mixup(ctx, on="embeddings").loss(model, batch, ctx)

    mask, p = batch["attention_mask"], torch.as_tensor(perm)
    assert (mask.sum(1) != mask[p].sum(1)).any()  # pairs of different lengths are exercised
    torch.testing.assert_close(seen["attention_mask"], torch.maximum(mask, mask[p]))
    emb = model.encoder.get_input_embeddings()(batch["input_ids"])
    torch.testing.assert_close(seen["inputs_embeds"], lam * emb + (1 - lam) * emb[p])
    torch.testing.assert_close(seen["token_type_ids"], batch["token_type_ids"])  # the first example's segments
    logits = model.head(encode(**seen))
    y = batch["labels"]
    torch.testing.assert_close(out.loss, lam * F.cross_entropy(logits, y) + (1 - lam) * F.cross_entropy(logits, y[p]))


@pytest.mark.parametrize("on", ["pooled", "embeddings"])
def test_mixup_with_each_example_paired_with_itself_is_plain_cross_entropy(
    tiny_model, encoded, fake_ctx, monkeypatch, on
):
    model, enc, ctx = tiny_model(), encoded(8), fake_ctx()
    batch = collate(enc, np.arange(8))
    monkeypatch.setattr(mixup_mod, "draw_pairs", lambda rng, alpha, n: (0.3, np.arange(n)))
    loss = setup_mixup(ctx, on=on).loss(model, batch, ctx).loss
    torch.testing.assert_close(loss, CrossEntropy().loss(model, batch, ctx).loss)


def test_mixup_trains_the_encoder(tiny_model, encoded, fake_ctx):
    model, enc, ctx = tiny_model(), encoded(8), fake_ctx()
    setup_mixup(ctx, on="embeddings").loss(model, collate(enc, np.arange(8)), ctx).loss.backward()
    assert model.encoder.get_input_embeddings().weight.grad.abs().sum() > 0
    assert model.head.out_proj.weight.grad.abs().sum() > 0


def test_lambda_follows_beta_alpha_alpha():
    rng = mixup_generator(0)
    lams = np.array([draw_pairs(rng, 0.4, 4)[0] for _ in range(20000)])
    assert lams.mean() == pytest.approx(0.5, abs=0.01)
    assert lams.var() == pytest.approx(1 / (4 * (2 * 0.4 + 1)), abs=0.005)  # Var Beta(a, a) = 1 / (4 (2a + 1))


def test_mixup_options():
    assert Mixup().options == {"alpha": 0.4, "on": "pooled"}
    with pytest.raises(ValueError, match="on must be one of pooled, embeddings"):
        Mixup(on="tokens")
    with pytest.raises(ValueError, match="alpha must be a number > 0"):
        Mixup(alpha=0)
