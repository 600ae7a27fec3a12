"""Focal loss (Lin et al. 2017) as a calibration method (Mukhoti et al. 2020, "Calibrating
Deep Neural Networks using Focal Loss"): -(1 - p_y)^gamma log p_y down-weights examples the
model already gets right, so it stops pushing their logits apart; gamma = 3 is the paper's
best fixed value (FL-3). gamma = 0 is plain cross-entropy.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch.nn.functional as F

from calibench.methods.base import LossOutput, Recipe


class FocalLoss(Recipe):
    """Cross-entropy scaled by (1 - p_y)^gamma."""

    defaults: ClassVar[dict[str, Any]] = {"gamma": 3.0}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)  # rejects unknown options, fills in defaults
        if not float(self.options["gamma"]) >= 0:
            raise ValueError(f"focal-loss: gamma must be >= 0, got {self.options['gamma']!r}")

    def loss(self, model, batch, ctx) -> LossOutput:
        logits = model(**batch).logits.float()
        log_p = F.log_softmax(logits, dim=-1).gather(1, batch["labels"][:, None]).squeeze(1)
        weight = (1.0 - log_p.exp()) ** float(self.options["gamma"])
        return LossOutput((-weight * log_p).mean(), {"p_true": float(log_p.detach().exp().mean())})
