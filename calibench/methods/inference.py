"""Inference procedures: from a trained model to logits, in example order."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from calibench.methods.base import Inference
from calibench.training.batching import Encoded, eval_batches


def predict_logits(
    model, enc: Encoded, ctx, batch_size: int | None = None, progress_label: str = "predict"
) -> np.ndarray:
    """One deterministic pass (eval mode), length-sorted batches, scattered back to input order."""
    bs = batch_size or ctx.spec.hyper.eval_batch_size
    out = np.zeros((len(enc), model.num_labels), dtype=np.float32)
    model.eval()
    batches = eval_batches(enc.lengths, bs)
    task_id = ctx.progress.add_task(progress_label, total=len(batches)) if ctx.progress else None
    with torch.inference_mode():
        for idx in batches:
            batch = ctx.batch(enc, idx)
            with ctx.autocast():
                logits = model(**batch).logits
            out[idx] = logits.float().cpu().numpy()
            if ctx.progress:
                ctx.progress.update(task_id, advance=1)
    if ctx.progress:
        ctx.progress.remove_task(task_id)
    return out


class Deterministic(Inference):
    """One forward pass with dropout off (the default inference of every method)."""

    defaults: ClassVar[dict[str, Any]] = {}

    def predict(self, model, loader: Encoded, ctx) -> np.ndarray:
        return predict_logits(model, loader, ctx)
