"""The partial-to-full noise LM: special tokens, row layout, config identity, training,
persistence, and the path for pretrained HF causal LMs (a local GPT-2-style folder)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from _tiny import bert_style_lm, gpt2_style_lm, pair_texts, single_texts, tiny_config

from calibench.ebm.noise_model import (
    NoiseModel,
    NoiseModelConfig,
    fingerprint_texts,
    load_tokenizer,
    split_holdout,
    train_noise_model,
)


@pytest.fixture(scope="module")
def minilm_tokens():
    return load_tokenizer(NoiseModelConfig())


@pytest.fixture(scope="module")
def trained_tiny() -> NoiseModel:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_noise_model(single_texts(40), tiny_config(epochs=6), eval_texts=single_texts(8))
    finally:
        torch.set_num_threads(before)  # later tests (and their fresh-process comparisons) run at the default


def test_offline_tokenizer_special_tokens(minilm_tokens) -> None:
    tok, t = minilm_tokens
    assert len(tok) == 30522 + 2  # [FULL] and [EOS] added to the WordPiece vocabulary
    assert (t.bos, t.sep, t.mask, t.pad) == (tok.cls_token_id, tok.sep_token_id, tok.mask_token_id, tok.pad_token_id)
    assert tok.convert_ids_to_tokens([t.full, t.eos]) == ["[FULL]", "[EOS]"]
    assert t.mask not in t.protected() and {t.sep, t.full, t.eos} <= t.protected()


def test_training_row_layout(minilm_tokens) -> None:
    tok, t = minilm_tokens
    m = NoiseModel(torch.nn.Linear(1, 1), tok, t, NoiseModelConfig())
    [ids] = m.encode([("a good film", "it was bad")])
    x, y = m.example(ids, np.random.default_rng(0))
    cut = x.index(t.full) + 1
    assert x[0] == t.bos
    assert y[:cut] == [-100] * cut  # no loss on the corrupted prompt
    assert x[cut:] == ids + [t.eos] and y[cut:] == ids + [t.eos]
    prompt = x[1 : cut - 1]
    assert prompt.count(t.sep) == 1  # the pair separator is never masked
    assert len(prompt) <= len(ids)


def test_truncation_keeps_prompt_within_prefix_len_and_drops_eos_of_cut_texts(minilm_tokens) -> None:
    tok, t = minilm_tokens
    cfg = NoiseModelConfig(prefix_len=8, total_len=20, max_new_tokens=11)
    m = NoiseModel(torch.nn.Linear(1, 1), tok, t, cfg)
    long = (" ".join(["word"] * 40),)
    [ids] = m.encode([long])
    assert len(ids) == m.max_text_tokens == 11
    x, y = m.example(ids, np.random.default_rng(0), full_len=40)
    cut = x.index(t.full) + 1
    assert cut <= 8 and len(x) <= 20
    assert t.eos not in y  # a text that had to be cut is not taught to end
    x2, y2 = m.example(ids, np.random.default_rng(0), full_len=11)
    assert y2[-1] == t.eos


def test_config_resolution_identity_and_json() -> None:
    scratch = NoiseModelConfig().resolved()
    assert (scratch.lr, scratch.batch_size, scratch.tokenizer) == (3e-3, 16, "sentence-transformers/all-MiniLM-L6-v2")
    ref = NoiseModelConfig(lm="gpt2").resolved()
    assert (ref.lr, ref.batch_size, ref.epochs, ref.tokenizer) == (5e-6, 8, 4, "gpt2")  # the reference's
    assert hash(NoiseModelConfig()) == hash(NoiseModelConfig())
    d = json.loads(json.dumps(scratch.to_dict()))
    assert NoiseModelConfig.from_dict(d) == scratch
    # sampling options do not change which LM is trained; training options do
    assert NoiseModelConfig(top_k=5).training_identity() == NoiseModelConfig().training_identity()
    assert NoiseModelConfig(mask_rate=0.2).training_identity() != NoiseModelConfig().training_identity()
    # None and the explicit default are the same LM
    assert NoiseModelConfig(lr=3e-3).training_identity() == NoiseModelConfig().training_identity()
    with pytest.raises(ValueError, match="unknown"):
        NoiseModelConfig.from_dict({"mask_prob": 0.4})
    with pytest.raises(ValueError):
        NoiseModelConfig(mask_rate=1.5)
    with pytest.raises(ValueError):
        NoiseModelConfig(prefix_len=200, max_new_tokens=127)


def test_fingerprint_is_order_and_field_sensitive() -> None:
    a = fingerprint_texts([("x y",), ("z",)])
    assert a == fingerprint_texts([("x y",), ("z",)])
    assert a != fingerprint_texts([("z",), ("x y",)])
    assert fingerprint_texts([("x", "y")]) != fingerprint_texts([("x y",)])


def test_training_lowers_perplexity_and_records_history(trained_tiny: NoiseModel) -> None:
    texts = single_texts(8)
    cfg = tiny_config()
    tok, t = load_tokenizer(cfg)
    from calibench.ebm.noise_model import build_lm

    untrained = NoiseModel(build_lm(cfg, tok, t), tok, t, cfg).perplexity(texts)
    trained = trained_tiny.perplexity(texts)
    assert math.isfinite(trained) and trained < untrained / 100
    assert [h["epoch"] for h in trained_tiny.history] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert trained_tiny.history[-1]["eval_perplexity"] == pytest.approx(trained, rel=1e-5)
    # the perplexity's prefixes are seeded: the same seed gives the same number
    assert trained_tiny.perplexity(texts, seed=3) == trained_tiny.perplexity(texts, seed=3)


def test_state_roundtrip_is_exact_and_stores_tied_weights_once(trained_tiny: NoiseModel) -> None:
    from safetensors.torch import load

    blob = trained_tiny.state_bytes()
    assert blob[8:9] == b"{"  # a safetensors header, not a pickle
    assert not any(k.startswith("lm_head") for k in load(blob))
    back = NoiseModel.from_state_bytes(blob, trained_tiny.config)
    x = torch.tensor([[101, 1037, 2204, 102]])
    torch.testing.assert_close(back.lm(input_ids=x).logits, trained_tiny.lm(input_ids=x).logits)
    assert back.lm.lm_head.weight.data_ptr() == back.lm.transformer.wte.weight.data_ptr()


def test_sampling_is_seeded_and_decodes_to_field_tuples(trained_tiny: NoiseModel) -> None:
    texts = single_texts(10)
    a = trained_tiny.sample(texts, rng=np.random.default_rng(1), generator=torch.Generator().manual_seed(1))
    b = trained_tiny.sample(texts, rng=np.random.default_rng(1), generator=torch.Generator().manual_seed(1))
    assert [s.fields for s in a.samples] == [s.fields for s in b.samples]
    assert a.masked == b.masked and len(a.samples) == 10
    kept = [s.fields for s in a.samples if s.fields is not None]
    assert kept and all(isinstance(f, tuple) and len(f) == 1 and f[0] for f in kept)
    assert all(s.n_tokens <= trained_tiny.config.max_new_tokens for s in a.samples)


def test_a_gpt2_style_hub_model_gets_mask_pad_and_separator_added(tmp_path) -> None:
    folder = gpt2_style_lm(tmp_path / "lm")
    cfg = tiny_config(lm=str(folder))
    tok, t = load_tokenizer(cfg)
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    assert t.eos == eot and t.bos == eot  # GPT-2's own end-of-text ends the full text
    assert tok.convert_ids_to_tokens([t.mask, t.pad, t.sep, t.full]) == ["[MASK]", "[PAD]", "[SEP]", "[FULL]"]
    texts = pair_texts(24)
    model = train_noise_model(texts, cfg)
    assert model.lm.get_input_embeddings().weight.shape[0] == len(tok)  # resized for the added tokens
    out = model.sample(texts[:6], rng=np.random.default_rng(0), generator=torch.Generator().manual_seed(0))
    assert all(m.count(t.sep) == 1 for m in out.masked)
    assert math.isfinite(model.perplexity(texts[:6]))
    back = NoiseModel.from_state_bytes(model.state_bytes(), cfg)
    x = torch.tensor([[t.bos, 5, 6, t.full]])
    torch.testing.assert_close(back.lm(input_ids=x).logits, model.lm(input_ids=x).logits)


def test_an_encoder_checkpoint_runs_as_a_causal_noise_lm(tmp_path) -> None:
    """BERT-family checkpoints are loaded with ``is_decoder=True``; the KV-cache sampler then
    gives the same samples as full recomputation on that architecture too."""
    from calibench.ebm.sampling import sample_continuations

    folder = bert_style_lm(tmp_path / "enc")
    cfg = tiny_config(lm=str(folder), lr=1e-3)
    model = train_noise_model(single_texts(16), cfg)
    assert type(model.lm).__name__ == "BertLMHeadModel" and model.lm.config.is_decoder
    prompts = [
        model.prompt(model.corrupt(ids, np.random.default_rng(i)))
        for i, ids in enumerate(model.encode(single_texts(9)))
    ]
    kw = dict(pad_id=model.tokens.pad, eos_id=model.tokens.eos, max_new_tokens=8, top_k=20, batch_size=4)
    a = sample_continuations(model.lm, prompts, generator=torch.Generator().manual_seed(0), use_cache=True, **kw)
    b = sample_continuations(model.lm, prompts, generator=torch.Generator().manual_seed(0), use_cache=False, **kw)
    assert a.tokens == b.tokens


def test_a_pretrained_lm_can_keep_its_first_layers(tmp_path) -> None:
    """``layers=N`` loads the first N pretrained layers, trains them, and reloads as N layers."""
    from calibench.ebm.noise_model import build_lm

    folder = bert_style_lm(tmp_path / "enc", layers=3)
    tok, tokens = load_tokenizer(tiny_config(lm=str(folder)))
    full = build_lm(tiny_config(lm=str(folder)), tok, tokens)
    cut_cfg = tiny_config(lm=str(folder), layers=2, lr=1e-3)
    cut = build_lm(cut_cfg, tok, tokens)
    assert [len(m.bert.encoder.layer) for m in (full, cut)] == [3, 2]
    kept = [m.bert.encoder.layer[1].attention.self.query.weight for m in (full, cut)]
    assert torch.equal(*kept)  # the kept layers are the pretrained ones
    model = train_noise_model(single_texts(16), cut_cfg)
    assert not torch.equal(model.lm.bert.encoder.layer[1].attention.self.query.weight, kept[1])  # the body trains
    back = NoiseModel.from_state_bytes(model.state_bytes(), model.config)
    assert len(back.lm.bert.encoder.layer) == 2 and back.perplexity(single_texts(4)) == model.perplexity(
        single_texts(4)
    )
    # layers enters an LM's identity only when set: LMs cached before it existed are still found
    assert "layers" not in NoiseModelConfig(lm="minilm").training_identity()
    assert cut_cfg.training_identity() != tiny_config(lm=str(folder), lr=1e-3).training_identity()
    with pytest.raises(ValueError, match="asks for more"):
        build_lm(tiny_config(lm=str(folder), layers=4), tok, tokens)
    with pytest.raises(ValueError, match="n_layer"):
        NoiseModelConfig(layers=2)  # tiny-scratch


@pytest.mark.parametrize("family", ["gpt2", "bert", "roberta"])
def test_the_loss_on_labelled_positions_only_equals_the_full_forwards(family):
    """The vocabulary head runs on the labelled positions only (half the positions are
    prompt); the loss must be the one of the LM's own full forward."""
    from transformers import BertConfig, BertLMHeadModel, GPT2Config, GPT2LMHeadModel, RobertaConfig, RobertaForCausalLM

    from calibench.ebm.noise_model import _lm_nll
    from calibench.ebm.sampling import split_head

    torch.manual_seed(0)
    small = {"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2}
    lm = {
        "gpt2": lambda: GPT2LMHeadModel(GPT2Config(vocab_size=50, n_embd=16, n_layer=1, n_head=2, n_positions=32)),
        "bert": lambda: BertLMHeadModel(BertConfig(**small, intermediate_size=32, is_decoder=True)),
        "roberta": lambda: RobertaForCausalLM(RobertaConfig(**small, intermediate_size=32, is_decoder=True)),
    }[family]().eval()
    assert split_head(lm) is not None
    ids = torch.randint(3, 50, (3, 9))
    attn = torch.ones_like(ids)
    attn[2, 6:] = 0
    labels = ids.clone()
    labels[:, :4] = -100  # the prompt
    labels[attn == 0] = -100
    nll, n = _lm_nll(lm, ids, labels, attn)
    full = lm(input_ids=ids, attention_mask=attn, use_cache=False).logits[:, :-1]
    ref = torch.nn.functional.cross_entropy(full.reshape(-1, 50), labels[:, 1:].reshape(-1), ignore_index=-100)
    assert n == int((labels[:, 1:] != -100).sum())
    torch.testing.assert_close(nll, ref, rtol=1e-5, atol=1e-6)


def test_max_steps_stops_training_and_fits_the_schedule_to_the_budget():
    texts = [(f"sentence number {i} is short",) for i in range(40)]
    model = train_noise_model(texts, tiny_config(epochs=4, batch_size=8, max_steps=7))
    assert [h["steps"] for h in model.history] == [5.0, 7.0]  # 5 steps per epoch; stopped at 7
    assert model.config.max_steps == 7
    with pytest.raises(ValueError, match="max_steps must be >= 1"):
        tiny_config(max_steps=0)


def test_a_pretrained_lm_starts_from_the_same_weights_whatever_the_global_rng_did():
    """MiniLM's checkpoint has no LM-head transform, and the layout adds two tokens ([FULL],
    [EOS]): those weights are drawn at random, from the LM's own seed, so two builds (two
    processes of a grid, or two trainings that each found no cached LM) start from the same
    weights. The caller's RNG is left as it was."""
    from calibench.ebm.noise_model import build_lm

    cfg = NoiseModelConfig(lm="minilm").resolved()
    tok, tokens = load_tokenizer(cfg)
    torch.manual_seed(123)
    a = build_lm(cfg, tok, tokens).state_dict()
    after = torch.random.get_rng_state()
    torch.manual_seed(123)
    assert torch.equal(after, torch.random.get_rng_state())
    torch.manual_seed(456)  # whatever the global RNG did before
    b = build_lm(cfg, tok, tokens).state_dict()
    assert "cls.predictions.transform.dense.weight" in a  # not in the checkpoint: drawn
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(
        a["cls.predictions.transform.dense.weight"],
        build_lm(dataclasses.replace(cfg, seed=1), tok, tokens).state_dict()["cls.predictions.transform.dense.weight"],
    )  # the LM's seed does draw them


def test_a_target_perplexity_stops_at_the_first_epoch_that_reaches_it_on_held_out_inputs():
    texts = [(f"sentence number {i} is short",) for i in range(40)]
    # a target any LM meets: one epoch, scored on 5% (2) of the inputs, which it never trains on
    easy = train_noise_model(texts, tiny_config(epochs=4, target_perplexity=1e9))
    assert [h["steps"] for h in easy.history] == [5.0]  # 38 inputs in batches of 8
    assert easy.reached_target is True and easy.history[0]["holdout_perplexity"] > 1.0
    train, held = split_holdout(texts, easy.config)
    assert len(held) == 2 and len(train) == 38 and sorted(train + held) == sorted(texts)
    assert easy.history[0]["holdout_perplexity"] == pytest.approx(easy.perplexity(held, seed=0), rel=1e-5)
    # a target out of reach: the whole schedule, kept, with a warning that says so
    with pytest.warns(UserWarning, match="above target_perplexity 1.0001.*Raise the target"):
        hard = train_noise_model(texts, tiny_config(epochs=3, target_perplexity=1.0001))
    assert [h["epoch"] for h in hard.history] == [1.0, 2.0, 3.0] and hard.reached_target is False
    # without a target nothing is held out and there is nothing to reach
    assert train_noise_model(texts, tiny_config(epochs=1)).reached_target is None


def test_the_target_and_its_holdout_enter_the_lms_identity_only_when_set():
    plain = NoiseModelConfig(lm="minilm")
    assert "target_perplexity" not in plain.training_identity()
    assert "holdout_fraction" not in plain.training_identity()
    assert NoiseModelConfig(lm="minilm", holdout_fraction=0.1).training_identity() == plain.training_identity()
    target = NoiseModelConfig(lm="minilm", target_perplexity=120.0)
    assert target.training_identity()["target_perplexity"] == 120.0
    assert dataclasses.replace(target, holdout_fraction=0.1).training_identity() != target.training_identity()
    with pytest.raises(ValueError, match="target_perplexity must be > 1"):
        NoiseModelConfig(target_perplexity=1.0)
    with pytest.raises(ValueError, match=r"holdout_fraction must be in \(0, 0.5\]"):
        NoiseModelConfig(holdout_fraction=0.0)
    with pytest.raises(ValueError, match="leaves none to train on"):
        train_noise_model([("only one",)], tiny_config(target_perplexity=50.0))
