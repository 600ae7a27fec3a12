"""Label smoothing: cross-entropy against softened one-hot targets, in either of two conventions.

The two definitions in use differ in where the mass ``alpha`` goes:

* ``spread="others"`` (the default): ``1 - alpha`` on the gold label and ``alpha / (C - 1)``
  on each other class. This is Desai & Durrett 2020 ("Calibration of Pre-trained
  Transformers", their ``LabelSmoothingLoss``), the convention of the NLU calibration
  literature this benchmark compares against; the board's ``label-smoothing`` is this one.
* ``spread="all"``: ``(1 - alpha) * onehot(y) + alpha / C``, i.e. ``alpha`` spread over all C
  classes, the gold one included (Szegedy et al. 2016; Müller, Kornblith & Hinton 2019).
  This is torch's ``label_smoothing=alpha``.

At the same alpha the gold label keeps ``1 - alpha`` under "others" but ``1 - alpha + alpha/C``
under "all": on a binary task at alpha = 0.1 that is 0.90 against 0.95, so torch's
definition smooths half as much. In general "all" at ``alpha * C / (C - 1)`` equals "others"
at ``alpha``. alpha = 0.1 is Desai & Durrett's value; the loss is ``-sum_c q_c log p_c``
averaged over the batch (their code sums a KL divergence, which differs by a constant and
the batch-size scale of the gradient). Label smoothing discourages the ever-growing logit
gaps that make finetuned models overconfident, which is why it improves calibration
(Müller et al. 2019).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from calibench.errors import OptionError
from calibench.methods.base import LossOutput, Recipe

SPREADS: tuple[str, ...] = ("others", "all")


def smoothed_targets(labels: torch.Tensor, num_classes: int, alpha: float, spread: str) -> torch.Tensor:
    """``(n, C)`` target distributions: 1 - alpha on the gold label, alpha shared as ``spread`` says."""
    if spread == "others":
        q = torch.full((len(labels), num_classes), alpha / (num_classes - 1))
        return q.scatter_(1, labels[:, None], 1.0 - alpha)
    return (1.0 - alpha) * F.one_hot(labels, num_classes).float() + alpha / num_classes


class LabelSmoothing(Recipe):
    """Cross-entropy with smoothed targets (spread=others: Desai & Durrett 2020; spread=all: torch's)."""

    defaults: ClassVar[dict[str, Any]] = {"alpha": 0.1, "spread": "others"}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        alpha = self.options["alpha"]
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha < 1.0:
            raise OptionError(f"label-smoothing: alpha must be a number in [0, 1), got {alpha!r}")
        if self.options["spread"] not in SPREADS:
            raise OptionError(
                f"label-smoothing: spread must be 'others' (Desai & Durrett 2020) or 'all' "
                f"(torch's), got {self.options['spread']!r}"
            )

    def loss(self, model, batch, ctx) -> LossOutput:
        logits = model(**batch).logits.float()
        alpha = float(self.options["alpha"])
        if self.options["spread"] == "all":
            return LossOutput(F.cross_entropy(logits, batch["labels"], label_smoothing=alpha))
        q = smoothed_targets(batch["labels"], logits.shape[1], alpha, "others").to(logits.device)
        return LossOutput(F.cross_entropy(logits, q))
