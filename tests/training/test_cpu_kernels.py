"""The fast path's NumPy-dropout attention is SDPA's computation with another mask stream."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from calibench.training import cpu_kernels
from calibench.training.cpu_kernels import attention_with_dropout, dropout_noise, keep_mask, sdpa_numpy_dropout

B, H, L, D = 3, 2, 7, 8


def qkv(dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, H, L, D, generator=g).to(dtype) for _ in range(3)]


def padding_mask() -> torch.Tensor:
    """transformers' sdpa format: (B, 1, L, L) booleans, True where a key is attended."""
    lens = torch.tensor([L, 4, 1])
    return (torch.arange(L)[None, :] < lens[:, None])[:, None, None, :].expand(B, 1, L, L)


def sdpa(q, k, v, mask):
    with sdpa_kernel(SDPBackend.MATH):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=D**-0.5)


@pytest.mark.parametrize("mask", ["none", "bool", "additive"])
def test_without_dropout_it_is_sdpa_forward_and_backward(mask):
    q, k, v = (t.requires_grad_() for t in qkv())
    m = {"none": None, "bool": padding_mask(), "additive": torch.randn(B, 1, L, L)}[mask]
    rng = np.random.default_rng(0)
    ours = attention_with_dropout(q, k, v, m, D**-0.5, 0.0, rng)
    ref = sdpa(q, k, v, m)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    g_ours = torch.autograd.grad(ours.square().sum(), (q, k, v))
    g_ref = torch.autograd.grad(ref.square().sum(), (q, k, v))
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_bf16_inputs_are_computed_in_float32_like_sdpas_cpu_math_path():
    q, k, v = qkv(torch.bfloat16)
    ours = attention_with_dropout(q, k, v, padding_mask(), D**-0.5, 0.0, np.random.default_rng(0))
    assert ours.dtype == torch.bfloat16
    exact = sdpa(q.float(), k.float(), v.float(), padding_mask())
    # one bf16 rounding of the float32 result, no more: matmuls in bf16 would be off by far more
    torch.testing.assert_close(ours.float(), exact, rtol=2**-8, atol=2**-8)


def test_dropout_zeroes_probabilities_with_probability_p_and_rescales_the_rest():
    """With ``v`` the identity, the output *is* the dropped-out probability matrix."""
    n, p = 64, 0.3
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(4, 4, n, n, generator=g), torch.randn(4, 4, n, n, generator=g)
    v = torch.eye(n).expand(4, 4, n, n)
    out = attention_with_dropout(q, k, v, None, n**-0.5, p, np.random.default_rng(0))
    probs = torch.softmax(q @ k.transpose(-2, -1) * n**-0.5, dim=-1)
    kept = out != 0
    assert abs(1 - kept.float().mean().item() - p) < 0.01  # 65,536 draws
    torch.testing.assert_close(out[kept], probs[kept] / (1 - p))


def test_the_stream_decides_the_mask():
    q, k, v = qkv()
    a = attention_with_dropout(q, k, v, None, D**-0.5, 0.5, np.random.default_rng(0))
    b = attention_with_dropout(q, k, v, None, D**-0.5, 0.5, np.random.default_rng(0))
    c = attention_with_dropout(q, k, v, None, D**-0.5, 0.5, np.random.default_rng(1))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_a_row_with_every_key_masked_stays_finite():
    q, k, v = qkv()
    mask = padding_mask().clone()
    mask[2] = False  # an empty sequence
    out = attention_with_dropout(q, k, v, mask, D**-0.5, 0.1, np.random.default_rng(0))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float64])
@pytest.mark.parametrize("p", [0.1, 0.25, 0.3, 0.5, 0.9])
def test_dropout_noise_is_torchs_keep_over_1_minus_p(dtype, p):
    """Bit for bit the tensor torch's dropout multiplies by, for the same keep-mask."""
    noise = dropout_noise(np.random.default_rng(0), (5, 7, 11), p, dtype)
    keep = keep_mask(np.random.default_rng(0), (5, 7, 11), p)
    reference = torch.from_numpy(keep).to(dtype).div_(1.0 - p)
    assert noise.dtype == dtype and noise.shape == (5, 7, 11)
    assert torch.equal(noise.view(_INT[dtype]), reference.view(_INT[dtype]))  # +0.0 and the scale, exactly
    torch_noise = torch.nn.functional.dropout(torch.ones(1000, dtype=dtype), p)
    assert set(noise.unique().tolist()) <= set(torch_noise.unique().tolist())  # 0 and 1 / (1 - p) rounded alike


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_mask_keeps_with_probability_1_minus_p(p):
    keep = keep_mask(np.random.default_rng(0), (1000, 1001), p)  # an odd count: half a word left over
    assert keep.shape == (1000, 1001) and keep.dtype == bool
    assert abs(keep.mean() - (1 - p)) < 0.002  # 1,001,000 draws: 5 standard errors at most
    assert keep_mask(np.random.default_rng(0), (7,), 1e-12).all()  # p near 0 keeps everything


_INT = {torch.bfloat16: torch.int16, torch.float16: torch.int16, torch.float32: torch.int32, torch.float64: torch.int64}


class _Attn(torch.nn.Module):
    is_causal = False


@pytest.mark.parametrize("case", ["no stream", "no dropout", "causal without mask"])
def test_the_interface_function_leaves_the_rest_to_transformers_sdpa(case, monkeypatch):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    module = _Attn()
    dropout = 0.0 if case == "no dropout" else 0.2
    if case != "no stream":
        module._calibench_rng = np.random.default_rng(0)
    if case == "causal without mask":
        module.is_causal = True
    monkeypatch.setattr(cpu_kernels, "attention_with_dropout", pytest.fail)
    q, k, v = qkv()
    torch.manual_seed(0)
    ours, _ = sdpa_numpy_dropout(module, q, k, v, None, dropout=dropout, scaling=D**-0.5)
    torch.manual_seed(0)
    ref, _ = sdpa_attention_forward(module, q, k, v, None, dropout=dropout, scaling=D**-0.5)
    assert torch.equal(ours, ref)


def test_the_interface_function_returns_transformers_layout():
    module = _Attn()
    module._calibench_rng = np.random.default_rng(0)
    q, k, v = qkv()
    out, weights = sdpa_numpy_dropout(module, q, k, v, padding_mask(), dropout=0.1, scaling=D**-0.5)
    assert out.shape == (B, L, H, D) and out.is_contiguous() and weights is None
