"""Small helpers shared by the EBM tests: a noise-LM config small enough to train in a
second, short synthetic texts, and a local GPT-2-style (byte-level BPE) causal LM folder
that stands in for a hub model such as ``gpt2``."""

from __future__ import annotations

import itertools
from pathlib import Path

from calibench.ebm.noise_model import NoiseModelConfig

TINY = dict(
    n_layer=1,
    n_embd=32,
    n_head=2,
    warm_start_embeddings=False,
    epochs=1,
    lr=1e-2,
    batch_size=8,
    prefix_len=24,
    total_len=48,
    max_new_tokens=16,
    sample_batch_size=16,
)


def tiny_config(**over: object) -> NoiseModelConfig:
    return NoiseModelConfig(**{**TINY, **over})  # type: ignore[arg-type]


ADJ = ["good", "bad", "dull", "funny", "long", "moving"]
NOUN = ["film", "movie", "story", "cast", "plot"]


def single_texts(n: int = 30) -> list[tuple[str]]:
    combos = itertools.cycle(itertools.product(ADJ, NOUN))
    return [(f"a {a} {b} , really {a}",) for a, b in itertools.islice(combos, n)]


def pair_texts(n: int = 30) -> list[tuple[str, str]]:
    combos = itertools.cycle(itertools.product(ADJ, NOUN))
    return [(f"the {b} is {a}", f"is the {b} {a} ?") for a, b in itertools.islice(combos, n)]


def gpt2_style_lm(folder: Path) -> Path:
    """A byte-level BPE tokenizer with only ``<|endoftext|>`` (no mask, pad or separator,
    like GPT-2's) and a tiny random GPT-2, saved the way a hub checkpoint is."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tk.train_from_iterator([" ".join(t) for t in single_texts(30) + pair_texts(30)], trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>"
    )
    tok.save_pretrained(folder)
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    cfg = GPT2Config(
        vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=1, n_head=2, bos_token_id=eot, eos_token_id=eot
    )
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    return folder


def bert_style_lm(folder: Path, layers: int = 1) -> Path:
    """A tiny random BERT encoder checkpoint with the MiniLM WordPiece tokenizer: the
    stand-in for using an encoder (such as all-MiniLM-L6-v2 itself) as a causal noise LM."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from calibench.ebm.noise_model import _resolve_name

    AutoTokenizer.from_pretrained(_resolve_name("all-MiniLM-L6-v2")).save_pretrained(folder)
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(cfg).save_pretrained(folder)
    return folder
