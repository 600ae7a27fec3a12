"""Tiny RoBERTa- and GPT-2-architecture checkpoints built offline, for the `paper` preset's test.

Random weights, byte-level BPE tokenizers trained with the `tokenizers` library on a few
GLUE sentences, saved as ordinary `from_pretrained` folders: the code paths the paper's
roberta-base + gpt2 take (BPE, no token type ids, a noise LM whose tokenizer differs from
the classifier's) without hub access.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def _bpe(texts: Iterable[str], vocab_size: int, special: list[str]):
    from tokenizers import ByteLevelBPETokenizer

    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(list(texts), vocab_size=vocab_size, min_frequency=1, special_tokens=special)
    return tok


def build_tiny_roberta(path: Path, texts: list[str]) -> str:
    """A 2-layer RoBERTa classifier encoder with a 600-token BPE: cased, no token type ids."""
    import torch
    from tokenizers.processors import RobertaProcessing
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe = _bpe(texts, 600, special)
    bpe._tokenizer.post_processor = RobertaProcessing(
        ("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>"))
    )
    tok = RobertaTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
    )
    torch.manual_seed(0)
    cfg = RobertaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=130,
        type_vocab_size=1,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    RobertaModel(cfg, add_pooling_layer=False).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def build_tiny_gpt2(path: Path, texts: list[str]) -> str:
    """A 2-layer GPT-2 causal LM with its own 500-token BPE (not the classifier's)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    bpe = _bpe(texts, 500, ["<|endoftext|>"])
    tok = GPT2TokenizerFast(
        tokenizer_object=bpe._tokenizer, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>"
    )
    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=320,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    GPT2LMHeadModel(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)
