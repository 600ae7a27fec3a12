"""Focal loss (Lin et al. 2017) as a calibration method (Mukhoti et al. 2020, "Calibrating Deep
Neural Networks using Focal Loss"; recommended for PLMs with temperature scaling by Xiao et
al. 2022, UQ-PLM).

The loss of one example is ``-(1 - p_y)^gamma * log p_y``: it down-weights examples the model
already gets right, so training stops pushing their logits apart, the overconfidence that
cross-entropy's unbounded logit growth produces. ``gamma = 0`` is cross-entropy.

``gamma`` is either a fixed number (FL-gamma; the paper's best fixed value is 3) or
``"flsd-53"`` (the default), the paper's sample-dependent schedule: gamma = 5 for examples
whose predicted probability of the gold label is below 0.2, gamma = 3 for the rest. The
larger gamma on poorly-fit examples keeps their gradient from vanishing (the paper's
Section 5). The choice of gamma is a constant of the step (computed from the detached
probability), as in the authors' code. Losses are averaged over the batch, like
calibench's cross-entropy.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from calibench.errors import OptionError
from calibench.methods.base import LossOutput, Recipe

#: FLSD-53 (Mukhoti et al. 2020): gamma = 5 below this probability of the gold label, 3 at or above it
FLSD53_THRESHOLD = 0.2
FLSD53_GAMMAS = (5.0, 3.0)
SCHEDULES: tuple[str, ...] = ("flsd-53",)


def flsd53_gamma(p_true: torch.Tensor) -> torch.Tensor:
    """Per-example gamma of FLSD-53: 5 where ``p_true < 0.2``, else 3 (no gradient flows through it)."""
    low, high = FLSD53_GAMMAS
    p = p_true.detach()
    return torch.where(p < FLSD53_THRESHOLD, torch.full_like(p, low), torch.full_like(p, high))


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, gamma: float | str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example focal losses ``(n,)`` and the probabilities of the gold labels ``(n,)``."""
    log_p = F.log_softmax(logits.float(), dim=-1).gather(1, labels[:, None]).squeeze(1)
    p = log_p.exp()
    g = flsd53_gamma(p) if gamma == "flsd-53" else torch.full_like(p, float(gamma))
    return -((1.0 - p) ** g) * log_p, p


class FocalLoss(Recipe):
    """Focal loss, gamma fixed or sample-dependent (FLSD-53, the default)."""

    defaults: ClassVar[dict[str, Any]] = {"gamma": "flsd-53"}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        g = self.options["gamma"]
        fixed = isinstance(g, (int, float)) and not isinstance(g, bool)
        if not (g in SCHEDULES or (fixed and g >= 0)):
            raise OptionError(f"focal-loss: gamma must be a number >= 0 or one of {', '.join(SCHEDULES)}, got {g!r}")

    def loss(self, model, batch, ctx) -> LossOutput:
        losses, p = focal_loss(model(**batch).logits, batch["labels"], self.options["gamma"])
        return LossOutput(losses.mean(), {"p_true": p.detach().mean().item()})
