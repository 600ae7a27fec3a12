"""Mixed precision: bf16 autocast where the hardware runs it natively, fp32 otherwise."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Literal

import torch

from calibench.errors import OptionError

Precision = Literal["auto", "bf16", "fp32"]


def bf16_native(device: torch.device) -> bool:
    """True where bf16 matmuls are native (Ampere+ GPUs; CPUs with AVX512-BF16 or AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_precision(precision: Precision, device: torch.device) -> Literal["bf16", "fp32"]:
    """``auto`` picks bf16 only where it is native, i.e. where it is faster (1.4-1.6x measured
    on an AVX512-BF16 CPU); elsewhere emulated bf16 is slower than fp32."""
    if precision == "auto":
        return "bf16" if bf16_native(device) else "fp32"
    if precision not in ("bf16", "fp32"):
        raise OptionError(f"precision must be one of auto, bf16, fp32; got {precision!r}")
    return precision


def autocast_factory(
    precision: Literal["bf16", "fp32"], device: torch.device
) -> Callable[[], AbstractContextManager[Any]]:
    """A zero-argument factory of the autocast context for the forward passes."""
    if precision == "bf16":
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def resolve_device(device: str | None) -> torch.device:
    """``None``/``auto``: the first GPU if there is one, else the CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise OptionError(f"device {device!r} asked for, but torch sees no CUDA GPU; use --device cpu")
    return dev
