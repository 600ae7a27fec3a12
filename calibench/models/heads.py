"""Heads on the first-token state, as in the method file: the standard RoBERTa
sequence-classification head (dropout -> Linear(H,H) -> tanh -> dropout -> Linear(H,out))."""

from __future__ import annotations

import torch
from torch import nn


class ClassificationHead(nn.Module):
    """dropout -> dense(H,H) -> tanh -> dropout -> out_proj(H, out)."""

    def __init__(self, hidden_size: int, out_features: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.out_proj = nn.Linear(hidden_size, out_features)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = self.dropout(h)
        x = torch.tanh(self.dense(x))
        x = self.dropout(x)
        return self.out_proj(x)
