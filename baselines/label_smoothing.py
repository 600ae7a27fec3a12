"""Label smoothing (Szegedy et al. 2016): cross-entropy against softened one-hot targets.

The target puts ``1 - alpha`` on the label and spreads ``alpha`` uniformly over all C
classes (the label included), i.e. ``q = (1 - alpha) * onehot(y) + alpha / C``; the loss is
``-sum_c q_c log p_c``. This is exactly torch's ``label_smoothing=alpha``. It discourages
the ever-growing logit gaps that make finetuned models overconfident, which is why it
improves calibration (Müller, Kornblith & Hinton 2019, "When does label smoothing help?");
alpha = 0.1 is the value used by both papers and the common NLU default.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch.nn.functional as F

from calibench.errors import OptionError
from calibench.methods.base import LossOutput, Recipe


class LabelSmoothing(Recipe):
    """Cross-entropy with smoothed targets (1 - alpha on the label, alpha spread over all classes)."""

    defaults: ClassVar[dict[str, Any]] = {"alpha": 0.1}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        alpha = self.options["alpha"]
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha < 1.0:
            raise OptionError(f"label-smoothing: alpha must be a number in [0, 1), got {alpha!r}")

    def loss(self, model, batch, ctx) -> LossOutput:
        logits = model(**batch).logits.float()
        return LossOutput(F.cross_entropy(logits, batch["labels"], label_smoothing=float(self.options["alpha"])))
