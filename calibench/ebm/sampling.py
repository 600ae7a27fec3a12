"""Batched autoregressive sampling (top-k, temperature) from a causal LM, with a KV cache.

Why a hand-written loop rather than ``model.generate(do_sample=True, top_k=...)``: HF's
sampler draws from torch's *global* RNG (no ``generator`` argument), so a corpus could not
be reproduced from a seed without mutating process-wide state, and its cached and
uncached paths cannot be compared draw for draw. Here every random number comes from the
``torch.Generator`` passed in, one uniform per row per step, consumed identically by both
paths:

* ``use_cache=True`` (the default, what corpora use): the prompt is run once, then each
  step feeds only the new token with the KV cache; finished rows are dropped from
  the batch and from the cache (``Cache.batch_select_indices``).
* ``use_cache=False``: every step recomputes the whole sequence. Only the benchmark and
  the equivalence test use it.

Prompts are left-padded; ``attention_mask`` hides the pads and ``position_ids`` count only
real tokens, so a row's output does not depend on how long its batch-mates are.

The top-k draw is by inverse CDF over the k candidates **ordered by token id** (not by
logit), so float noise between the two paths (~1e-6) can flip a draw only if the uniform
lands within ~1e-6 of a CDF boundary, instead of whenever two candidates nearly tie.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

Progress = Callable[[str, int, int], None]


def top_k_sample(logits: torch.Tensor, top_k: int | None, temperature: float, uniforms: torch.Tensor) -> torch.Tensor:
    """One token per row from ``softmax(logits / T)`` restricted to the ``top_k`` largest logits.

    ``uniforms`` ``(B,)`` in [0, 1) supply the randomness (inverse CDF), so the caller owns the
    RNG. ``top_k=1`` is greedy decoding; ``top_k=None`` or ``0`` samples the full vocabulary.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature} (use top_k=1 for greedy)")
    logits = logits.float()
    vocab = logits.shape[-1]
    k = vocab if not top_k or top_k >= vocab else int(top_k)
    if k == vocab:
        cand = torch.arange(vocab, device=logits.device).expand_as(logits)
        vals = logits
    else:
        _, idx = torch.topk(logits, k, dim=-1)
        cand, _ = torch.sort(idx, dim=-1)  # id order: stable under tiny float differences
        vals = torch.gather(logits, -1, cand)
    probs = torch.softmax(vals.double() / temperature, dim=-1)
    cdf = torch.cumsum(probs, dim=-1)
    target = (uniforms.to(cdf.dtype) * cdf[:, -1]).unsqueeze(-1)
    pick = torch.searchsorted(cdf, target, right=True).clamp_(max=k - 1)
    return torch.gather(cand, -1, pick).squeeze(-1)


@dataclass
class SampleOutput:
    """Generated token ids per prompt (end token excluded), in the prompts' order."""

    tokens: list[list[int]]
    finished: list[bool]  # True: stopped at the end token; False: hit max_new_tokens


def split_head(lm: Any) -> tuple[Any, Any] | None:
    """``(body, head)`` of a causal LM whose vocabulary head can be applied to chosen
    positions only: GPT-2's ``transformer``/``lm_head``, BERT's ``bert``/``cls``, RoBERTa's
    ``roberta``/``lm_head`` (the encoder families run as decoders); None for any other LM."""
    head = getattr(lm, "lm_head", None) or getattr(lm, "cls", None)
    body = getattr(lm, "base_model", None)
    if head is None or body is None or body is lm:
        return None
    return body, head


def _cache_name(model: Any) -> str:
    """The KV cache's keyword and output field: ``cache`` from transformers 5 on (the old
    ``past_key_values`` warns there and goes in 5.40), ``past_key_values`` before."""
    try:
        return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    except (TypeError, ValueError):
        return "past_key_values"


def _supports_logits_to_keep(model: Any) -> bool:
    try:
        return "logits_to_keep" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _forward_last(model: Any, keep_last: bool, cache_name: str, **kwargs: Any) -> tuple[torch.Tensor, Any]:
    """The forward of a whole prompt: the logits of its last position only (the vocabulary
    projection of every prompt position, 30k wide, would cost more than the decoding after
    it) and the KV cache (None without ``use_cache``)."""
    if keep_last:
        out = model(**kwargs, logits_to_keep=1)
        return out.logits[:, -1], out.get(cache_name)
    parts = split_head(model)
    if parts is None:
        out = model(**kwargs)
        return out.logits[:, -1], out.get(cache_name)
    body, head = parts
    out = body(**kwargs)
    return head(out.last_hidden_state[:, -1:])[:, -1], out.get(cache_name)


@torch.inference_mode()
def _sample_batch(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    pad_id: int,
    eos_id: int,
    max_new_tokens: int,
    top_k: int | None,
    temperature: float,
    generator: torch.Generator | None,
    use_cache: bool,
    keep_last: bool,
) -> tuple[list[list[int]], list[bool]]:
    device = next(model.parameters()).device
    b = len(prompts)
    width = max(len(p) for p in prompts)
    seq = torch.full((b, width), pad_id, dtype=torch.long)
    attn = torch.zeros((b, width), dtype=torch.long)
    for i, p in enumerate(prompts):
        if not p:
            raise ValueError("empty prompt")
        seq[i, width - len(p) :] = torch.tensor(list(p), dtype=torch.long)
        attn[i, width - len(p) :] = 1
    seq, attn = seq.to(device), attn.to(device)
    out_tokens: list[list[int]] = [[] for _ in range(b)]
    finished = [False] * b
    active = torch.arange(b)  # batch rows still generating, as indices into the prompts

    pos = (attn.cumsum(-1) - 1).clamp_(min=0)
    cache_name = _cache_name(model)
    logits, past = _forward_last(
        model, keep_last, cache_name, input_ids=seq, attention_mask=attn, position_ids=pos, use_cache=use_cache
    )

    for step in range(max_new_tokens):
        # one uniform per original row every step, whatever is still active: both paths
        # consume the generator identically
        u = torch.rand(b, generator=generator, dtype=torch.float64)
        nxt = top_k_sample(logits, top_k, temperature, u[active].to(logits.device)).cpu()
        keep: list[int] = []
        for j, row in enumerate(active.tolist()):
            tok = int(nxt[j])
            if tok == eos_id:
                finished[row] = True
            else:
                out_tokens[row].append(tok)
                keep.append(j)
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) < len(active):
            sel = torch.tensor(keep, dtype=torch.long)
            active = active[sel]
            sel_d = sel.to(device)
            seq, attn, nxt = seq[sel_d], attn[sel_d], nxt[sel]
            if past is not None:
                past.batch_select_indices(sel_d)
        new = nxt.to(device).unsqueeze(-1)
        attn = torch.cat([attn, torch.ones_like(new)], dim=-1)
        seq = torch.cat([seq, new], dim=-1)
        if use_cache:
            pos = attn.sum(-1, keepdim=True) - 1
            out = model(input_ids=new, attention_mask=attn, position_ids=pos, use_cache=True, **{cache_name: past})
            logits, past = out.logits[:, -1], out.get(cache_name)
        else:
            pos = (attn.cumsum(-1) - 1).clamp_(min=0)
            logits, _ = _forward_last(
                model, keep_last, cache_name, input_ids=seq, attention_mask=attn, position_ids=pos, use_cache=False
            )
    return out_tokens, finished


def sample_continuations(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    pad_id: int,
    eos_id: int,
    max_new_tokens: int,
    top_k: int | None = 20,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    batch_size: int = 64,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> SampleOutput:
    """Sample a continuation of every prompt until ``eos_id`` or ``max_new_tokens`` tokens
    (the end token counts towards the limit, as in HF ``generate``).

    Prompts are batched in order of length (less padding, and rows of a batch tend to stop
    together); results come back in the prompts' order. The output is a function of
    (model, prompts, generator state, batch_size, top_k, temperature) only.
    """
    if max_new_tokens < 1:
        raise ValueError("max_new_tokens must be >= 1")
    was_training = model.training
    model.eval()
    keep_last = _supports_logits_to_keep(model)
    n = len(prompts)
    order = sorted(range(n), key=lambda i: (len(prompts[i]), i))
    tokens: list[list[int]] = [[] for _ in range(n)]
    finished = [False] * n
    try:
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            toks, fin = _sample_batch(
                model,
                [prompts[i] for i in idx],
                pad_id=pad_id,
                eos_id=eos_id,
                max_new_tokens=max_new_tokens,
                top_k=top_k,
                temperature=temperature,
                generator=generator,
                use_cache=use_cache,
                keep_last=keep_last,
            )
            for i, t, f in zip(idx, toks, fin):
                tokens[i], finished[i] = t, f
            if progress is not None:
                progress("sample", min(start + batch_size, n), n)
    finally:
        model.train(was_training)
    return SampleOutput(tokens=tokens, finished=finished)


@dataclass
class DecodedSample:
    """One generated text: its fields, or ``None`` with the reason it was dropped."""

    fields: tuple[str, ...] | None
    dropped: str | None  # None, "separator" (wrong number of pair separators) or "empty"
    n_tokens: int
    truncated: bool
    raw: str | None = None  # for a dropped sample: its decoding with special tokens shown


def decode_sample(
    tokenizer: Any, tokens: Sequence[int], *, sep_id: int, n_fields: int, finished: bool = True
) -> DecodedSample:
    """Split generated ids at the pair separator and decode each field.

    A sample must contain exactly ``n_fields - 1`` separators (a pair sample that lost its
    separator, or grew a second one, cannot be fed to the classifier as a pair) and no
    empty field; otherwise it is dropped and the reason recorded.
    """
    parts: list[list[int]] = [[]]
    for t in tokens:
        if t == sep_id:
            parts.append([])
        else:
            parts[-1].append(t)
    n_tok = len(tokens)
    if len(parts) != n_fields:
        raw = tokenizer.decode(list(tokens), skip_special_tokens=False)
        return DecodedSample(None, "separator", n_tok, not finished, raw)
    fields = tuple(tokenizer.decode(p, skip_special_tokens=True).strip() for p in parts)
    if any(not f for f in fields):
        raw = tokenizer.decode(list(tokens), skip_special_tokens=False)
        return DecodedSample(None, "empty", n_tok, not finished, raw)
    return DecodedSample(fields, None, n_tok, not finished)
