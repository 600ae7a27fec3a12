"""Encoder + classification head (+ optional extra heads a recipe adds, e.g. EBM's scalar energy)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from calibench.models.heads import ClassificationHead


@dataclass
class ClassifierOutput:
    logits: torch.Tensor  # (B, C)
    hidden: torch.Tensor  # (B, H), last layer's first-token state


class Classifier(nn.Module):
    """A pretrained encoder, its first-token state, and the classification head.

    Recipes reach the parts directly: ``encode`` for the first-token state (mixup on the
    pooled representation), ``head`` for logits, ``extra_heads`` for recipe-owned heads
    (their parameters are trained with the rest).
    """

    def __init__(self, encoder: nn.Module, num_labels: int, dropout: float | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        cfg = encoder.config
        self.hidden_size: int = cfg.hidden_size
        self.num_labels = num_labels
        p = dropout if dropout is not None else getattr(cfg, "hidden_dropout_prob", 0.1)
        self.dropout_p = p
        self.head = ClassificationHead(self.hidden_size, num_labels, p)
        self.extra_heads = nn.ModuleDict()

    def encode(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Last layer's first-token (``<s>``/``[CLS]``) state, ``(B, H)``."""
        kwargs = {"attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        if inputs_embeds is not None:
            out = self.encoder(inputs_embeds=inputs_embeds, **kwargs)
        else:
            out = self.encoder(input_ids=input_ids, **kwargs)
        return out.last_hidden_state[:, 0]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        **_: torch.Tensor,
    ) -> ClassifierOutput:
        h = self.encode(input_ids, attention_mask, token_type_ids)
        return ClassifierOutput(logits=self.head(h), hidden=h)
