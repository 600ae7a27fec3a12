"""MC dropout (Gal & Ghahramani 2016): average the predictions of T dropout-perturbed passes.

What is stochastic. Every dropout that fires in training fires here, and nothing else
changes: the model is put in eval mode, then each dropout module *and its direct parent* is
switched back to training mode (non-recursively). The parent matters because Hugging Face
encoders apply attention-probability dropout functionally: ``BertSelfAttention`` (and
RoBERTa's copy of it) owns an ``nn.Dropout`` only to hold ``p`` and passes
``dropout=0.0 if not self.training else self.dropout.p`` to the eager or SDPA attention
kernel, so switching on the ``nn.Dropout`` modules alone would leave attention dropout off
(checked against transformers 5.x; tests/baselines/test_mc_dropout.py pins it). In those
parents (embeddings, self-attention, the output blocks, the classification head) the
``training`` flag gates dropout only. The flags are restored afterwards.

Output. The mean of the T softmax distributions, returned as its log
(``logsumexp_t log_softmax(z_t) - log T``): a valid logit vector whose softmax is the MC
average, so any calibrator composes with it (``mc-dropout+temp-scaling``).

Cost. T passes over a split run as forwards of about ``eval_batch_size`` rows, like one
deterministic pass, so they cost at most about T deterministic passes and no more memory: each
forward holds ``eval_batch_size // T`` length-sorted examples tiled T times along the batch
dimension (every copy draws its own dropout masks, so the copies are T independent passes).
The alternative, T looped forwards over each collated ``eval_batch_size`` batch, was
measured 2.1x slower here (``benchmark_batching``: MiniLM, RTE dev half, 138 examples,
T = 10, best of 2 interleaved runs on the shared 2-core CPU under load from other jobs:
119 s tiled vs 253 s looped; the absolute times are inflated by that load). The likely
reason is padding: a 12-example length-sorted group is padded far less than a 128-example
one, and attention cost grows with the square of the padded length.

Randomness comes from torch's global generator, which the training job seeds before every
inference, so results are reproducible for a training seed.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from calibench.errors import OptionError
from calibench.methods.base import Inference
from calibench.training.batching import Encoded, eval_batches

DROPOUT_TYPES: tuple[type[nn.Module], ...] = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


@contextlib.contextmanager
def dropout_active(model: nn.Module) -> Iterator[None]:
    """Eval mode except every dropout module and its direct parent (see the module docstring)."""
    saved = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        for parent in model.modules():
            for child in parent.children():
                if isinstance(child, DROPOUT_TYPES):
                    child.training = True
                    parent.training = True
        yield
    finally:
        for m, flag in saved:
            m.training = flag


def tile(batch: dict[str, torch.Tensor], passes: int) -> dict[str, torch.Tensor]:
    """The batch repeated ``passes`` times along the batch dimension (copy-major: row ``t * B + i``)."""
    return {k: v.repeat(passes, *([1] * (v.dim() - 1))) for k, v in batch.items()}


Autocast = Callable[[], contextlib.AbstractContextManager]


def mc_log_mean_probs(
    model: nn.Module, batch: dict[str, torch.Tensor], passes: int, autocast: Autocast = contextlib.nullcontext
) -> torch.Tensor:
    """``log mean_t softmax(logits_t)`` over ``passes`` dropout draws for one collated batch, ``(B, C)``.

    One forward on the tiled batch: every copy of an example draws its own dropout masks,
    exactly as separate passes would.
    """
    rows = len(batch["input_ids"])
    with autocast():
        logits = model(**tile(batch, passes)).logits
    log_probs = F.log_softmax(logits.float(), dim=-1).view(passes, rows, -1)
    return torch.logsumexp(log_probs, dim=0) - math.log(passes)


def examples_per_forward(eval_batch_size: int, passes: int) -> int:
    """Examples per tiled forward, so that a forward holds about ``eval_batch_size`` rows."""
    return max(1, eval_batch_size // passes)


class MCDropout(Inference):
    """T stochastic passes with dropout on (attention dropout included); log of the mean probabilities."""

    defaults: ClassVar[dict[str, Any]] = {"passes": 10}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        t = self.options["passes"]
        if isinstance(t, bool) or not isinstance(t, int) or t < 1:
            raise OptionError(f"mc-dropout: passes must be a positive integer, got {t!r}")

    def predict(self, model, loader: Encoded, ctx) -> np.ndarray:
        passes = int(self.options["passes"])
        out = np.zeros((len(loader), model.num_labels), dtype=np.float32)
        batches = eval_batches(loader.lengths, examples_per_forward(ctx.spec.hyper.eval_batch_size, passes))
        task_id = ctx.progress.add_task(f"mc-dropout x{passes}", total=len(batches)) if ctx.progress else None
        with dropout_active(model), torch.inference_mode():
            for idx in batches:
                out[idx] = mc_log_mean_probs(model, ctx.batch(loader, idx), passes, ctx.autocast).cpu().numpy()
                if ctx.progress:
                    ctx.progress.update(task_id, advance=1)
        if ctx.progress:
            ctx.progress.remove_task(task_id)
        return out


def benchmark_batching(
    model: nn.Module, enc: Encoded, passes: int, eval_batch_size: int = 128, repeats: int = 3
) -> dict[str, float]:
    """Seconds for the MC prediction of a whole split, best of ``repeats``: the tiled forwards used
    above vs the alternative, ``passes`` looped forwards over each ``eval_batch_size`` batch.

    Both hold about ``eval_batch_size`` rows per forward. Kept with the implementation so the
    choice can be re-measured on other hardware.
    """
    from calibench.training.batching import collate

    def looped() -> None:
        for idx in eval_batches(enc.lengths, eval_batch_size):
            batch = collate(enc, idx)
            for _ in range(passes):
                model(**batch)

    def tiled() -> None:
        for idx in eval_batches(enc.lengths, examples_per_forward(eval_batch_size, passes)):
            mc_log_mean_probs(model, collate(enc, idx), passes)

    best = {"looped": float("inf"), "tiled": float("inf")}
    with dropout_active(model), torch.inference_mode():
        for _ in range(repeats):  # interleaved, so load from other processes hits both alike
            for name, fn in (("looped", looped), ("tiled", tiled)):
                t0 = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - t0)
    return best
