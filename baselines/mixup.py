"""Mixup for text classifiers (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization").

Text cannot be interpolated token by token, so mixup is applied to a continuous
representation, following Guo, Mao & Zhang (2019, "Augmenting Data with Mixup for Sentence
Classification: An Empirical Study"), who proposed the two variants offered here:

* ``on="pooled"`` (default) -- their *senMixup*, as Sun et al. (2020, "Mixup-Transformer")
  apply it to finetuned transformers: mix the final-layer first-token states
  ``h = model.encode(x)`` of two examples and classify the mix with ``model.head``.
  The encoder runs once per example, unmixed; only the head sees mixed inputs.
* ``on="embeddings"`` -- their *wordMixup*: mix the word-embedding outputs of two examples
  and run the whole encoder on the mix through ``inputs_embeds`` (position and segment
  embeddings are then added by the encoder, unmixed). A collated batch is already padded to
  one length, so two examples always align position by position; the shorter one's padding
  positions hold its pad-token embedding, and the attention mask is the *union* of the two
  masks, so every position that is a real token in either example is attended to. Segment
  ids (``token_type_ids``) are taken from the first example of the pair.

As in Zhang et al.'s reference implementation, each minibatch draws one
``lambda ~ Beta(alpha, alpha)`` and pairs every example with the one at a random permutation
of the batch; the loss is ``lambda * CE(f(mix), y_a) + (1 - lambda) * CE(f(mix), y_b)``,
which equals cross-entropy against the mixed one-hot target. Both draws come from the
recipe's own generator seeded by the training seed, so the minibatch order (drawn by the
training loop's generator) stays identical to the baseline's for the same seed.

alpha = 0.4: Zhang et al. found alpha in [0.1, 0.4] helps on ImageNet while larger values
underfit, and Thulasidasan et al. (2019, "On Mixup Training: Improved Calibration and
Predictive Uncertainty for Deep Neural Networks") study calibration in that range; a
larger alpha mixes more and so smooths the targets more, the effect they credit for
mixup's better calibration, so we take the top of the range.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from calibench.errors import OptionError
from calibench.methods.base import LossOutput, Recipe

#: mixes the recipe's generator seed apart from every other stream seeded by the training seed
RNG_STREAM = 0x6D69_7875  # "mixu"
MIX_ON: tuple[str, ...] = ("pooled", "embeddings")


def mixup_generator(seed: int) -> np.random.Generator:
    """The recipe's own generator for a training seed (lambda and pair draws)."""
    return np.random.default_rng([seed, RNG_STREAM])


def draw_pairs(rng: np.random.Generator, alpha: float, n: int) -> tuple[float, np.ndarray]:
    """One minibatch's ``(lambda ~ Beta(alpha, alpha), partner permutation of range(n))``."""
    lam = float(rng.beta(alpha, alpha))
    return lam, rng.permutation(n)


def mixed_cross_entropy(logits: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor, lam: float) -> torch.Tensor:
    """``lam * CE(logits, y_a) + (1 - lam) * CE(logits, y_b)`` (float32 logits)."""
    logits = logits.float()
    return lam * F.cross_entropy(logits, y_a) + (1.0 - lam) * F.cross_entropy(logits, y_b)


class Mixup(Recipe):
    """Mixup on the pooled first-token state (senMixup) or on word embeddings (wordMixup)."""

    defaults: ClassVar[dict[str, Any]] = {"alpha": 0.4, "on": "pooled"}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        alpha = self.options["alpha"]
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise OptionError(f"mixup: alpha must be a number > 0, got {alpha!r}")
        if self.options["on"] not in MIX_ON:
            raise OptionError(f"mixup: on must be one of {', '.join(MIX_ON)}, got {self.options['on']!r}")

    def setup(self, ctx) -> None:
        ctx.state["mixup_rng"] = mixup_generator(ctx.spec.seed)

    def loss(self, model, batch, ctx) -> LossOutput:
        labels = batch["labels"]
        lam, perm_np = draw_pairs(ctx.state["mixup_rng"], float(self.options["alpha"]), len(labels))
        perm = torch.as_tensor(perm_np, device=labels.device)
        mask, tti = batch["attention_mask"], batch.get("token_type_ids")
        if self.options["on"] == "pooled":
            h = model.encode(batch["input_ids"], mask, tti)
            mixed = lam * h + (1.0 - lam) * h[perm]
        else:
            emb = model.encoder.get_input_embeddings()(batch["input_ids"])
            union = torch.maximum(mask, mask[perm])
            mixed = model.encode(
                attention_mask=union, token_type_ids=tti, inputs_embeds=lam * emb + (1.0 - lam) * emb[perm]
            )
        loss = mixed_cross_entropy(model.head(mixed), labels, labels[perm], lam)
        return LossOutput(loss, {"lambda": lam})
