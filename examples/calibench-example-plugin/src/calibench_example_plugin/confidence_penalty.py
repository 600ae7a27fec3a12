"""The confidence penalty (Pereyra et al. 2017, "Regularizing Neural Networks by Penalizing
Confident Output Distributions"): cross-entropy minus beta times the entropy of the predicted
distribution, so training is paid for keeping some probability off the argmax. beta = 0 is
plain cross-entropy. (calibench's own focal-loss baseline lives in ``baselines/``.)
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch.nn.functional as F

from calibench.errors import OptionError
from calibench.methods.base import LossOutput, Recipe


class ConfidencePenalty(Recipe):
    """Cross-entropy minus beta * entropy of the prediction."""

    defaults: ClassVar[dict[str, Any]] = {"beta": 0.1}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)  # rejects unknown options, fills in defaults
        if not float(self.options["beta"]) >= 0:
            raise OptionError(f"confidence-penalty: beta must be >= 0, got {self.options['beta']!r}")

    def loss(self, model, batch, ctx) -> LossOutput:
        log_p = F.log_softmax(model(**batch).logits.float(), dim=-1)
        entropy = -(log_p.exp() * log_p).sum(dim=-1).mean()
        ce = F.nll_loss(log_p, batch["labels"])
        return LossOutput(ce - float(self.options["beta"]) * entropy, {"entropy": entropy.detach().item()})
