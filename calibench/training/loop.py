"""The one training loop every train-time method uses; the recipe supplies the loss.

AdamW (fused where available) with weight decay off for biases and LayerNorm weights,
linear warmup then linear decay, grad-norm clipping, length-grouped dynamically padded
batches, bf16 autocast where native. A non-finite loss stops the run with
:class:`TrainingDiverged`, naming the step and the loss terms.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from calibench.training.batching import length_grouped_batches
from calibench.training.context import TrainContext


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

    def to_json(self) -> dict[str, Any]:
        return {"steps": self.steps, "epochs": self.epochs, "examples": self.examples,
                "seconds": round(self.seconds, 3),
                "examples_per_s": round(self.examples / self.seconds, 2) if self.seconds else None,
                "history": self.history}


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


def plan_steps(n_train: int, batch_size: int, epochs: float | None, max_steps: int | None,
               warmup_steps: int | None, warmup_ratio: float) -> tuple[int, int]:
    """``(total_steps, warmup_steps)`` from epochs or explicit steps."""
    per_epoch = math.ceil(n_train / batch_size)
    total = max_steps if max_steps is not None else max(1, math.ceil(per_epoch * float(epochs or 0)))
    warm = warmup_steps if warmup_steps is not None else int(round(warmup_ratio * total))
    return total, min(warm, total)


def train(ctx: TrainContext, recipe: Any, log_every: int = 10) -> TrainLog:
    """Train ``ctx.model`` in place with ``recipe.loss``; returns the log."""
    hp = ctx.spec.hyper
    model = ctx.model
    total, warm = plan_steps(len(ctx.train), hp.batch_size, hp.epochs, hp.max_steps, hp.warmup_steps, hp.warmup_ratio)
    ctx.total_steps = total
    recipe.setup(ctx)  # may add heads: build the optimizer after it
    model.to(ctx.device)
    opt = make_optimizer(model, hp.lr, hp.weight_decay, hp.fused_optimizer)
    sched = linear_schedule(opt, warm, total)
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
            log.history.append({"step": step + 1, "lr": sched.get_last_lr()[0], **{k: v / n for k, v in running.items()}})
            running = {}
        if ctx.progress:
            ctx.progress.update(task_id, advance=1, description=f"train loss {logs['loss']:.3f}")
    log.seconds = time.perf_counter() - t0
    log.steps = total
    log.epochs = log.examples / max(1, len(ctx.train))
    if ctx.progress:
        ctx.progress.remove_task(task_id)
    return log
