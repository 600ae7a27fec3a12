"""CPU kernels of the loop's fast path whose randomness comes from a NumPy stream.

``torch.bernoulli_`` runs serially on (non-Intel) CPUs and is the largest cost after the
matmuls, so dropout keep-masks are drawn from a NumPy PCG64 stream instead (its raw 32-bit
draws against a threshold): same keep probability, same ``1 / (1 - p)`` scaling, as the same
tensor torch's dropout multiplies by.

Attention-probability dropout happens inside ``scaled_dot_product_attention``, where no
module can be patched, and with dropout on, the CPU runs SDPA's unfused math path
(float32 inside for bf16 inputs, then a bernoulli mask the size of the attention matrix,
then a "safe" softmax that checks every row for being all masked). :func:`sdpa_numpy_dropout`
is the same computation with the NumPy mask: float32 scores, the mask, softmax, dropout,
the value product. Registered with ``transformers``' ``AttentionInterface`` under
:data:`ATTENTION_NAME`; :class:`~calibench.training.loop.CPUFastPath` points a model's
config at it for the training only; inference keeps SDPA's fused kernel. With these kernels
the loop trained MRPC's pairs at 1.36x the ``Trainer``'s best flags over three runs here
(1.32x-1.41x; ``benchmarks/README.md``).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch

ATTENTION_NAME = "calibench_cpu_sdpa"  # this kernel's key in transformers' AttentionInterface


# floating dtypes and the unsigned integers of their width (NumPy has no bfloat16)
_BITS = {
    torch.bfloat16: (torch.int16, np.uint16),
    torch.float16: (torch.int16, np.uint16),
    torch.float32: (torch.int32, np.uint32),
    torch.float64: (torch.int64, np.uint64),
}


def keep_mask(rng: np.random.Generator, shape: tuple[int, ...], p: float) -> np.ndarray:
    """Booleans, each True with probability ``1 - p`` (to within 2**-32): a uniform 32-bit
    draw at or above ``ceil(p * 2**32)``. The draws are the bit generator's raw output, two
    per 64-bit word, twice as fast as ``Generator.random``'s floats."""
    n = math.prod(shape)
    words = rng.bit_generator.random_raw((n + 1) // 2)
    draws = words.view(np.uint32)[:n].reshape(shape)
    return draws >= np.uint32(min(math.ceil(p * 2**32), 2**32 - 1))


def dropout_noise(rng: np.random.Generator, shape: tuple[int, ...], p: float, dtype: torch.dtype) -> torch.Tensor:
    """``keep / (1 - p)`` of ``dtype`` with :func:`keep_mask`'s keep: the tensor
    ``torch.nn.functional.dropout`` multiplies by.

    Built as bits in NumPy (the keep-mask times the bit pattern of ``1 / (1 - p)`` as torch
    rounds it into ``dtype``) and viewed as ``dtype``: the same tensor as
    ``keep.to(dtype).div_(1 - p)``, whose bool-to-float conversion is a slow serial loop."""
    keep = keep_mask(rng, shape, p)
    if dtype not in _BITS:
        return torch.from_numpy(keep).to(dtype=dtype).div_(1.0 - p)
    uint = _BITS[dtype][1]
    return torch.from_numpy(keep.astype(uint) * _scale_bits(p, dtype)).view(dtype)


@functools.lru_cache(maxsize=64)
def _scale_bits(p: float, dtype: torch.dtype) -> np.unsignedinteger:
    """The bit pattern of ``1 / (1 - p)`` in ``dtype``, once per (p, dtype) rather than per mask."""
    as_int, uint = _BITS[dtype]
    scale = torch.ones(1, dtype=dtype).div_(1.0 - p)  # rounded as ``keep.to(dtype).div_(1 - p)`` rounds it
    return uint(scale.view(as_int).item() & np.iinfo(uint).max)


def attention_with_dropout(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float,
    rng: np.random.Generator,
) -> torch.Tensor:
    """``softmax(q k^T * scaling + mask) @ v`` with dropout on the probabilities, computed in
    float32 (float64 stays float64) as SDPA's CPU math path does, cast back to ``query``'s
    dtype. ``(batch, heads, q_len, head_dim)`` in and out.

    ``attention_mask``: boolean (True: attend) or additive, broadcastable to the scores. A
    masked score gets the dtype's lowest finite value added rather than ``-inf``, so a row with
    every key masked averages instead of turning NaN (SDPA's math path returns zeros there)."""
    dt = torch.promote_types(query.dtype, torch.float32)
    cf = torch.contiguous_format  # the heads' views are strided; contiguous operands: faster matmuls
    with torch.autocast(device_type=query.device.type, enabled=False):
        q = query.to(dt, memory_format=cf, copy=True).mul_(scaling)  # scaled here: q is smaller than q k^T
        scores = torch.matmul(q, key.to(dt, memory_format=cf).transpose(-2, -1))
        if attention_mask is not None:
            # added, not masked_fill'ed: an add's backward is no pass over the scores' gradient
            if attention_mask.dtype == torch.bool:
                bias = torch.zeros(attention_mask.shape, dtype=dt, device=query.device)
                bias.masked_fill_(attention_mask.logical_not(), torch.finfo(dt).min)
            else:
                bias = attention_mask.to(dt)
            scores = scores.add_(bias)
        probs = torch.softmax(scores, dim=-1)
        if dropout > 0.0:
            probs = probs * dropout_noise(rng, tuple(probs.shape), dropout, dt)
        out = torch.matmul(probs, value.to(dt, memory_format=cf))
        # cast and laid out as (batch, q_len, heads, head_dim) in one pass: the layout transformers
        # wants next, so its .transpose(1, 2).contiguous() copies nothing
        return out.transpose(1, 2).to(query.dtype, memory_format=cf).transpose(1, 2)


def sdpa_numpy_dropout(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """An ``AttentionInterface`` function: transformers' ``sdpa`` with the NumPy dropout mask
    of :func:`attention_with_dropout`. Whatever that does not cover (no dropout, where SDPA's
    fused kernel is faster; causal without a mask; grouped KV heads; position biases;
    another device; no stream attached) goes to transformers' own ``sdpa`` unchanged.

    The stream is the module's ``_calibench_rng`` attribute, which the fast path sets."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    rng = getattr(module, "_calibench_rng", None)
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", False)
    if (
        rng is None
        or not 0.0 < dropout < 1.0
        or query.device.type != "cpu"
        or (causal and attention_mask is None)
        or getattr(module, "num_key_value_groups", 1) > 1
        or kwargs.get("position_bias") is not None
        or kwargs.get("softcap") is not None
    ):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    out = attention_with_dropout(query, key, value, attention_mask, scaling, dropout, rng)
    return out.transpose(1, 2).contiguous(), None


_registered = False


def register_attention() -> bool:
    """Register :func:`sdpa_numpy_dropout` (and ``sdpa``'s mask format for it) with
    transformers, once; False where this transformers has no ``AttentionInterface``."""
    global _registered
    if _registered:
        return True
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        return False
    AttentionInterface.register(ATTENTION_NAME, sdpa_numpy_dropout)
    AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)
    _registered = True
    return True
