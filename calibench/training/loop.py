"""The one training loop every train-time method uses; the recipe supplies the loss.

AdamW (fused where available) with weight decay off for biases and LayerNorm weights,
linear warmup then linear decay, grad-norm clipping, length-grouped dynamically padded
batches, bf16 autocast where native. A non-finite loss stops the run with
:class:`TrainingDiverged`, naming the step and the loss terms.

On the CPU the loop takes a faster path (:class:`CPUFastPath`, on by default there, off
with ``train(..., fast_path=False)``) that changes no optimisation semantics -- the same
model, loss, dense AdamW update of every parameter, the same clipping -- only how three
costly pieces are computed (profiled with ``benchmarks/bench_train_throughput.py``):

* dropout masks: ``torch.bernoulli_`` runs serially on (non-Intel) CPUs, slower still on
  bf16 tensors, and was the largest cost after the matmuls. ``nn.Dropout`` modules draw
  their keep-masks from a NumPy PCG64 stream instead (seeded from torch's RNG at the start
  of training, so a seeded run is reproducible), same keep probability and scaling. So does
  attention-probability dropout, which happens inside SDPA: the model's attention goes to
  :func:`~calibench.training.cpu_kernels.sdpa_numpy_dropout` for the training;
* the word-embedding gradient: dense backward allocated, zero-filled (page faults on
  fresh memory) and freed a vocab x hidden matrix every step. The embedding emits a sparse
  gradient instead, which is scattered into one persistent dense buffer (only the rows
  written the step before are re-zeroed); the optimiser still sees the same dense gradient;
* clipping: the total norm is the same; the embedding's part is taken over its non-zero
  rows, and the rescaling pass over every gradient is skipped when the coefficient is 1
  (``x * 1.0 == x``).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from calibench.training.batching import length_grouped_batches
from calibench.training.context import TrainContext
from calibench.training.cpu_kernels import ATTENTION_NAME, dropout_noise, register_attention


class TrainingDiverged(RuntimeError):
    """A non-finite loss (or a recipe-detected explosion) at a known step."""

    def __init__(self, step: int, logs: dict[str, float], reason: str = "non-finite loss") -> None:
        terms = ", ".join(f"{k}={v:.4g}" for k, v in logs.items()) or "no terms logged"
        super().__init__(
            f"training diverged at step {step}: {reason} ({terms}). Lower the learning rate, "
            f"use --precision fp32, or (EBM) lower lambda; other jobs are unaffected."
        )
        self.step = step
        self.logs = logs
        self.reason = reason


@dataclass
class TrainLog:
    steps: int = 0
    epochs: float = 0.0
    examples: int = 0
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)  # sampled every `log_every` steps
    trainable_params: int = 0  # what the optimiser updates (LoRA: adapters and heads only)

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "epochs": self.epochs,
            "examples": self.examples,
            "seconds": round(self.seconds, 3),
            "examples_per_s": round(self.examples / self.seconds, 2) if self.seconds else None,
            "trainable_params": self.trainable_params,
            "history": self.history,
        }


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Decay every weight matrix; not biases nor normalisation weights (the HF convention)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float, fused: bool) -> torch.optim.Optimizer:
    groups = param_groups(model, weight_decay)
    if fused:
        try:
            return torch.optim.AdamW(groups, lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):
            pass  # fused kernel unavailable for this device/dtype: fall back
    return torch.optim.AdamW(groups, lr=lr, foreach=True)


def linear_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, f)


def plan_steps(
    n_train: int,
    batch_size: int,
    epochs: float | None,
    max_steps: int | None,
    warmup_steps: int | None,
    warmup_ratio: float,
) -> tuple[int, int]:
    """``(total_steps, warmup_steps)`` from epochs or explicit steps."""
    per_epoch = math.ceil(n_train / batch_size)
    total = max_steps if max_steps is not None else max(1, math.ceil(per_epoch * float(epochs or 0)))
    warm = warmup_steps if warmup_steps is not None else int(round(warmup_ratio * total))
    return total, min(warm, total)


def _mask_dropout(module: nn.Dropout, rng: np.random.Generator, x: torch.Tensor) -> torch.Tensor:
    """``nn.Dropout.forward`` with the keep-mask drawn from ``rng`` (NumPy, vectorised): the
    same arithmetic as ``torch.nn.functional.dropout`` on the CPU, the input times a noise
    tensor of its own dtype holding ``keep / (1 - p)``."""
    p = module.p
    if not module.training or p == 0.0:
        return x
    if p == 1.0:
        return x * torch.zeros((), dtype=x.dtype, device=x.device)
    return x * dropout_noise(rng, tuple(x.shape), p, x.dtype).to(x.device)


class CPUFastPath:
    """The CPU loop's faster equivalents (see the module docstring): dropout masks from NumPy
    (attention probabilities' included), a sparse word-embedding gradient scattered into a
    persistent dense buffer, and clipping that skips no-op rescales. Installed with
    ``with CPUFastPath(model, seed):``; everything it changes on the model is restored on
    exit, so inference afterwards is untouched."""

    def __init__(self, model: nn.Module, seed: int) -> None:
        self.model = model
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self._patched: list[nn.Dropout] = []
        self.embedding: nn.Embedding | None = None
        self._buf: torch.Tensor | None = None
        self._dirty: torch.Tensor | None = None  # rows of _buf written last step
        self._attn_config: Any = None  # the encoder config pointed at the NumPy-dropout attention
        self._rng_holders: list[nn.Module] = []  # modules the attention finds the stream on

    def __enter__(self) -> CPUFastPath:
        for m in self.model.modules():
            # exactly nn.Dropout (subclasses may do more), not in-place, and actually dropping
            if type(m) is nn.Dropout and not m.inplace and m.p > 0 and "forward" not in vars(m):
                m.forward = functools.partial(_mask_dropout, m, self.rng)
                self._patched.append(m)
        enc = getattr(self.model, "encoder", None)
        emb = enc.get_input_embeddings() if hasattr(enc, "get_input_embeddings") else None
        if (
            type(emb) is nn.Embedding
            and not emb.sparse
            and emb.max_norm is None
            and not emb.scale_grad_by_freq
            and emb.weight.requires_grad
        ):
            emb.sparse = True  # F.embedding(..., sparse=True): a sparse COO gradient
            self.embedding = emb
        self._install_attention(enc)
        return self

    def _install_attention(self, enc: nn.Module | None) -> None:
        """Point an ``sdpa`` encoder's attention at the NumPy-dropout kernel; the attention
        modules (those holding the config) carry the stream."""
        cfg = getattr(enc, "config", None)
        if getattr(cfg, "_attn_implementation", None) != "sdpa" or not register_attention():
            return
        cfg._attn_implementation = ATTENTION_NAME
        self._attn_config = cfg
        for m in self.model.modules():
            if getattr(m, "config", None) is cfg:
                m._calibench_rng = self.rng
                self._rng_holders.append(m)

    def __exit__(self, *exc: Any) -> None:
        for m in self._patched:
            del m.forward
        self._patched = []
        if self.embedding is not None:
            self.embedding.sparse = False
            w = self.embedding.weight
            if w.grad is not None and (w.grad.is_sparse or w.grad is self._buf):
                w.grad = None
        self._buf = self._dirty = None
        if self._attn_config is not None:
            self._attn_config._attn_implementation = "sdpa"
            self._attn_config = None
        for m in self._rng_holders:
            del m._calibench_rng
        self._rng_holders = []

    def densify_embedding_grad(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Coalesce the embedding's sparse gradient; ``(rows, values)`` or None if none/dense."""
        if self.embedding is None:
            return None
        g = self.embedding.weight.grad
        if g is None or not g.is_sparse:
            return None
        g = g.coalesce()
        return g.indices()[0], g.values()

    def clip_and_set_grads(self, params: list[torch.Tensor], max_norm: float) -> None:
        """``clip_grad_norm_(params, max_norm)``, then the embedding's dense gradient in place."""
        sparse = self.densify_embedding_grad()
        w = self.embedding.weight if self.embedding is not None else None
        grads = [p.grad for p in params if p.grad is not None and p is not w]
        if w is not None and w.grad is not None and sparse is None:
            grads.append(w.grad)  # a dense gradient reached it some other way: treat as usual
        norms = list(torch._foreach_norm(grads)) if grads else []
        if sparse is not None:
            norms.append(torch.linalg.vector_norm(sparse[1]))
        if not norms:
            return
        total = torch.linalg.vector_norm(torch.stack(norms))
        coef = max_norm / (total + 1e-6)  # as torch.nn.utils.clip_grad_norm_
        if not bool(coef >= 1.0):  # also for a nan/inf norm, which then poisons the grads as torch does
            c = torch.clamp(coef, max=1.0)
            torch._foreach_mul_(grads, c)
            if sparse is not None:
                sparse[1].mul_(c)
        if sparse is not None:
            rows, values = sparse
            if self._buf is None:
                self._buf = torch.zeros_like(w)
            elif self._dirty is not None:
                self._buf.index_fill_(0, self._dirty, 0.0)
            self._buf.index_copy_(0, rows, values.to(self._buf.dtype))
            self._dirty = rows
            w.grad = self._buf


def train(ctx: TrainContext, recipe: Any, log_every: int = 10, fast_path: bool | None = None) -> TrainLog:
    """Train ``ctx.model`` in place with ``recipe.loss``; returns the log.

    ``fast_path``: use :class:`CPUFastPath` (None: on the CPU only)."""
    hp = ctx.spec.hyper
    model = ctx.model
    total, warm = plan_steps(len(ctx.train), hp.batch_size, hp.epochs, hp.max_steps, hp.warmup_steps, hp.warmup_ratio)
    ctx.total_steps = total
    recipe.setup(ctx)  # may add heads: build the optimizer after it
    model.to(ctx.device)
    lora = getattr(recipe, "lora", None)  # LoRA trains at its own rate (calibench.methods.lora)
    lr = lora.lr if lora is not None and lora.lr is not None else hp.lr
    opt = make_optimizer(model, lr, hp.weight_decay, hp.fused_optimizer)
    sched = linear_schedule(opt, warm, total)
    if fast_path is None:
        fast_path = ctx.device.type == "cpu"
    fast = None
    if fast_path:
        # the dropout stream's seed comes from torch's (seeded) generator, like torch's own dropout
        fast = CPUFastPath(model, int(torch.randint(0, 2**62, (1,)).item()))
    params = [p for p in model.parameters() if p.requires_grad]
    with fast if fast is not None else contextlib.nullcontext():
        log = _train_steps(ctx, recipe, model, opt, sched, total, params, fast, log_every)
    log.trainable_params = sum(p.numel() for p in params)
    return log


def _train_steps(
    ctx: TrainContext,
    recipe: Any,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    sched: Any,
    total: int,
    params: list[torch.Tensor],
    fast: CPUFastPath | None,
    log_every: int,
) -> TrainLog:
    hp = ctx.spec.hyper
    lengths = ctx.train.lengths
    log = TrainLog()
    model.train()
    task_id = ctx.progress.add_task("train", total=total) if ctx.progress else None
    t0 = time.perf_counter()
    batches: list[np.ndarray] = []
    running: dict[str, float] = {}
    for step in range(total):
        if not batches:
            batches = length_grouped_batches(lengths, hp.batch_size, ctx.rng)
            batches.reverse()  # pop() from the end keeps the epoch's order
        idx = batches.pop()
        ctx.step = step
        batch = ctx.batch(ctx.train, idx)
        with ctx.autocast():
            out = recipe.loss(model, batch, ctx)
        loss = out.loss
        if not torch.isfinite(loss.detach()):
            raise TrainingDiverged(step, {"loss": float(loss.detach()), **out.logs})
        loss.backward()
        if fast is not None:
            fast.clip_and_set_grads(params, hp.grad_clip)
        else:
            torch.nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        log.examples += len(idx)
        logs = {"loss": float(loss.detach()), **out.logs}
        for k, v in logs.items():
            running[k] = running.get(k, 0.0) + v
        if (step + 1) % log_every == 0 or step + 1 == total:
            n = (step % log_every) + 1
            log.history.append(
                {"step": step + 1, "lr": sched.get_last_lr()[0], **{k: v / n for k, v in running.items()}}
            )
            running = {}
        if ctx.progress:
            ctx.progress.update(task_id, advance=1, description=f"train loss {logs['loss']:.3f}")
    log.seconds = time.perf_counter() - t0
    log.steps = total
    log.epochs = log.examples / max(1, len(ctx.train))
    if ctx.progress:
        ctx.progress.remove_task(task_id)
    return log
