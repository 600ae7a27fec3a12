"""Top-k sampling, the KV-cache loop against full recomputation, padding, decoding."""

from __future__ import annotations

import pytest
import torch

from calibench.ebm.sampling import decode_sample, sample_continuations, top_k_sample

PAD, EOS, SEP = 0, 1, 2


def test_top_k_never_samples_outside_the_top_k() -> None:
    torch.manual_seed(0)
    logits = torch.randn(1, 50).repeat(4000, 1)
    top = set(torch.topk(logits[0], 5).indices.tolist())
    u = torch.rand(4000, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    picks = top_k_sample(logits, 5, 1.0, u)
    assert set(picks.tolist()) == top  # all of the top 5 appear, nothing else


def test_top_k_frequencies_follow_the_renormalised_softmax() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, 5.0, -3.0]]).repeat(20000, 1)
    u = torch.rand(20000, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for temp in (1.0, 2.0):
        picks = top_k_sample(logits, 3, temp, u)
        freq = torch.bincount(picks, minlength=6).double() / len(picks)
        p = torch.zeros(6, dtype=torch.float64)
        keep = torch.tensor([4, 0, 1])
        p[keep] = torch.softmax(logits[0, keep].double() / temp, -1)
        assert torch.allclose(freq, p, atol=0.015)


def test_k1_is_greedy_and_k0_is_the_full_vocabulary() -> None:
    logits = torch.randn(64, 30)
    u = torch.rand(64, dtype=torch.float64)
    assert torch.equal(top_k_sample(logits, 1, 1.0, u), logits.argmax(-1))
    full = top_k_sample(torch.zeros(5000, 30), 0, 1.0, torch.rand(5000, dtype=torch.float64))
    assert len(set(full.tolist())) == 30
    with pytest.raises(ValueError):
        top_k_sample(logits, 5, 0.0, u)


def _tiny_lm(vocab: int = 40) -> torch.nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=vocab,
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=2,
        initializer_range=0.3,
        bos_token_id=3,
        eos_token_id=EOS,
        pad_token_id=PAD,
    )
    return GPT2LMHeadModel(cfg).eval()


def _prompts() -> list[list[int]]:
    g = torch.Generator().manual_seed(5)
    return [torch.randint(3, 40, (int(n),), generator=g).tolist() for n in torch.randint(1, 12, (23,), generator=g)]


def test_cached_and_uncached_sampling_give_identical_samples() -> None:
    lm = _tiny_lm()
    kw = dict(pad_id=PAD, eos_id=EOS, max_new_tokens=15, top_k=8, temperature=1.0, batch_size=8)
    a = sample_continuations(lm, _prompts(), generator=torch.Generator().manual_seed(11), use_cache=True, **kw)
    b = sample_continuations(lm, _prompts(), generator=torch.Generator().manual_seed(11), use_cache=False, **kw)
    assert a.tokens == b.tokens and a.finished == b.finished
    # rows really do stop at different steps (exercises dropping finished rows from the cache)
    assert len({len(t) for t in a.tokens}) > 2 and any(a.finished) and not all(a.finished)
    c = sample_continuations(lm, _prompts(), generator=torch.Generator().manual_seed(12), use_cache=True, **kw)
    assert c.tokens != a.tokens
    assert all(len(t) <= 15 for t in a.tokens)


def test_left_padding_does_not_change_a_prompts_continuation() -> None:
    """Greedy continuation of a short prompt alone equals that in a batch with long prompts:
    the attention mask hides the pads and position ids count only real tokens."""
    lm = _tiny_lm()
    short = [5, 6, 7]
    kw = dict(pad_id=PAD, eos_id=EOS, max_new_tokens=10, top_k=1, batch_size=8)
    alone = sample_continuations(lm, [short], **kw).tokens[0]
    batch = sample_continuations(lm, [list(range(4, 20)), short, list(range(10, 22))], **kw).tokens[1]
    batch_nc = sample_continuations(lm, [list(range(4, 20)), short], use_cache=False, **kw).tokens[1]
    assert alone == batch == batch_nc


def test_results_come_back_in_prompt_order_and_model_mode_is_restored() -> None:
    lm = _tiny_lm().train()
    prompts = _prompts()
    out = sample_continuations(lm, prompts, pad_id=PAD, eos_id=EOS, max_new_tokens=6, top_k=1, batch_size=4)
    assert lm.training
    for p, t in zip(prompts, out.tokens):
        alone = sample_continuations(lm, [p], pad_id=PAD, eos_id=EOS, max_new_tokens=6, top_k=1).tokens[0]
        assert t == alone


class _Tok:
    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return " ".join("[SEP]" if i == SEP else f"w{i}" for i in ids if not (skip_special_tokens and i < 3))


def test_decode_splits_pairs_and_drops_lost_separators() -> None:
    tok = _Tok()
    ok = decode_sample(tok, [5, 6, SEP, 7], sep_id=SEP, n_fields=2)
    assert ok.fields == ("w5 w6", "w7") and ok.dropped is None and ok.n_tokens == 4
    lost = decode_sample(tok, [5, 6, 7], sep_id=SEP, n_fields=2)
    assert lost.fields is None and lost.dropped == "separator" and lost.raw == "w5 w6 w7"
    extra = decode_sample(tok, [5, SEP, 6, SEP, 7], sep_id=SEP, n_fields=2)
    assert extra.dropped == "separator"
    empty = decode_sample(tok, [SEP, 7], sep_id=SEP, n_fields=2)
    assert empty.dropped == "empty"
    single = decode_sample(tok, [5, 6], sep_id=SEP, n_fields=1, finished=False)
    assert single.fields == ("w5 w6",) and single.truncated


def test_a_bert_decoders_prompt_logits_of_the_last_position_only_give_the_same_samples(monkeypatch) -> None:
    """BERT has no ``logits_to_keep``: the prompt goes through its body and only the last
    position through the 30k-wide head; the samples are those of the full forward."""
    from transformers import BertConfig, BertLMHeadModel

    import calibench.ebm.sampling as sampling

    torch.manual_seed(0)
    lm = BertLMHeadModel(
        BertConfig(
            vocab_size=40,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            is_decoder=True,
        )
    ).eval()
    prompts = [[5, 6, 7, 8], [9, 10], [11, 12, 13]]

    def run():
        return sample_continuations(
            lm, prompts, pad_id=0, eos_id=1, max_new_tokens=6, generator=torch.Generator().manual_seed(3)
        )

    fast = run()
    monkeypatch.setattr(sampling, "split_head", lambda model: None)  # the LM's own full forward
    slow = run()
    assert fast.tokens == slow.tokens and fast.finished == slow.finished
    assert sum(map(len, fast.tokens)) > 0


def test_cached_sampling_uses_the_installed_transformers_cache_keyword_without_a_warning() -> None:
    """transformers 5 renamed ``past_key_values`` to ``cache``; the old name warns on every
    decoding step (it filled the grid's log) and goes in 5.40."""
    import warnings

    from transformers import BertConfig, BertLMHeadModel

    bert = BertLMHeadModel(
        BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    )
    bert.config.is_decoder = True
    for lm in (_tiny_lm(), bert.eval()):
        kw = dict(pad_id=PAD, eos_id=EOS, max_new_tokens=6, top_k=8, batch_size=8)
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            a = sample_continuations(lm, _prompts(), generator=torch.Generator().manual_seed(1), use_cache=True, **kw)
        b = sample_continuations(lm, _prompts(), generator=torch.Generator().manual_seed(1), use_cache=False, **kw)
        assert a.tokens == b.tokens
