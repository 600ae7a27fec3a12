"""The noise LM's sampled softmax: exact where the batch's targets are the whole vocabulary,
an unbiased estimate of the partition function otherwise, the heads' features and projection
giving the heads' own logits, and a noise LM that trains with it (perplexity always full)."""

from __future__ import annotations

import math

import pytest
import torch
from _tiny import bert_style_lm, single_texts, tiny_config

from calibench.ebm.noise_model import NoiseModelConfig, train_noise_model
from calibench.ebm.sampled_softmax import head_parts, proposal, sampled_nll, token_counts
from calibench.ebm.sampling import split_head


def _problem(n: int = 6, vocab: int = 40, dim: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, dim, generator=g),
        torch.randint(0, vocab, (n,), generator=g),
        torch.randn(vocab, dim, generator=g),
        torch.randn(vocab, generator=g),
    )


def test_targets_covering_the_vocabulary_give_the_exact_softmax() -> None:
    features, _, weight, bias = _problem(n=40, vocab=12)
    targets = torch.arange(40) % 12  # every word is a target: nothing left to sample
    q = proposal(torch.ones(12))
    exact = torch.nn.functional.cross_entropy(features @ weight.T + bias, targets, reduction="sum")
    torch.testing.assert_close(sampled_nll(features, targets, weight, bias, q, 5), exact)


def test_the_partition_estimate_is_unbiased() -> None:
    """One position: nll = -l_y + log Z_hat, so exp(nll + l_y) is Z_hat; its mean over draws is Z."""
    features, targets, weight, bias = _problem(n=1, vocab=30)
    logits = (features @ weight.T + bias)[0]
    z = float(torch.logsumexp(logits, 0).exp())
    q = proposal(torch.arange(30.0))  # a skewed proposal: the correction must undo it
    g = torch.Generator().manual_seed(1)
    draws = [
        math.exp(float(sampled_nll(features, targets, weight, bias, q, 4, g)) + float(logits[targets[0]]))
        for _ in range(4000)
    ]
    mean = sum(draws) / len(draws)
    sd = (sum((d - mean) ** 2 for d in draws) / (len(draws) - 1)) ** 0.5
    assert abs(mean - z) < 4 * sd / len(draws) ** 0.5  # within 4 standard errors of Z
    assert min(draws) < z < max(draws)  # and not exact: it was sampled


def test_many_negatives_approach_the_full_loss_and_its_gradient() -> None:
    features, targets, weight, bias = _problem(n=8, vocab=50)
    features.requires_grad_(True)
    exact = torch.nn.functional.cross_entropy(features @ weight.T + bias, targets, reduction="sum")
    (g_exact,) = torch.autograd.grad(exact, features)
    sampled = sampled_nll(features, targets, weight, bias, proposal(torch.ones(50)), 20000, torch.Generator())
    (g_sampled,) = torch.autograd.grad(sampled, features)
    assert float(sampled.detach()) == pytest.approx(float(exact.detach()), rel=0.01)
    torch.testing.assert_close(g_sampled, g_exact, atol=0.05, rtol=0.05)


def test_proposal_and_counts() -> None:
    counts = token_counts([[1, 1, 2], [], [1]], vocab=4)
    assert counts.tolist() == [0.0, 3.0, 1.0, 0.0]
    q = proposal(counts)
    assert float(q.sum()) == pytest.approx(1.0) and bool((q > 0).all())  # every word can be drawn
    assert q[1] > q[2] > q[0] == q[3]
    with pytest.raises(ValueError, match="unigram_share"):
        proposal(counts, unigram_share=1.0)
    with pytest.raises(ValueError, match="n_negatives"):
        sampled_nll(*_problem(), proposal(torch.ones(40)), 0)


def test_head_parts_give_the_heads_own_logits(tmp_path) -> None:
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=60, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    bert = AutoModelForCausalLM.from_pretrained(bert_style_lm(tmp_path / "enc"), is_decoder=True)
    for lm in (gpt2, bert):
        _, head = split_head(lm)
        hidden = torch.randn(5, lm.config.hidden_size if hasattr(lm.config, "hidden_size") else 16)
        features, weight, bias = head_parts(lm, head)
        logits = features(hidden) @ weight.T + (bias if bias is not None else 0)
        torch.testing.assert_close(logits, head(hidden))
        assert any(m is lm.get_output_embeddings() for m in head.modules())  # the decoder is back


def test_a_noise_lm_trains_with_a_sampled_head(tmp_path) -> None:
    cfg = tiny_config(lm=str(bert_style_lm(tmp_path / "enc")), lr=1e-3, head_negatives=64, epochs=2)
    texts = single_texts(16)
    model = train_noise_model(texts, cfg, eval_texts=texts[:4])
    ppl = [h["eval_perplexity"] for h in model.history]
    assert all(math.isfinite(p) for p in ppl) and ppl[-1] < ppl[0]
    assert cfg.training_identity()["head_negatives"] == 64  # a different LM from the full softmax's
    assert "head_negatives" not in NoiseModelConfig().training_identity()  # cached LMs keep their key
    with pytest.raises(ValueError, match="head_negatives must be >= 1"):
        NoiseModelConfig(head_negatives=0)
