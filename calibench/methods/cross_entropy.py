"""The plain finetuning recipe: cross-entropy on the classification head."""

from __future__ import annotations

from typing import Any, ClassVar

import torch.nn.functional as F

from calibench.methods.base import LossOutput, Recipe


class CrossEntropy(Recipe):
    """Standard finetuning with cross-entropy (the `baseline` every method is compared with)."""

    defaults: ClassVar[dict[str, Any]] = {}

    def loss(self, model, batch, ctx) -> LossOutput:
        logits = model(**batch).logits
        return LossOutput(F.cross_entropy(logits.float(), batch["labels"]))
