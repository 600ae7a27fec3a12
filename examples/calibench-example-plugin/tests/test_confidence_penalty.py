"""The defining property of the recipe, on fixed logits: no encoder needed."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from calibench_example_plugin.confidence_penalty import ConfidencePenalty

from calibench import registry


class FixedLogits(torch.nn.Module):
    """Stands in for calibench's Classifier: returns the same logits for any batch."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, **batch: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=self.logits)


def test_confidence_penalty_formula_and_beta_zero_is_cross_entropy():
    torch.manual_seed(0)
    logits, labels = torch.randn(16, 3) * 3, torch.randint(0, 3, (16,))
    model, batch = FixedLogits(logits), {"labels": labels}
    p = F.softmax(logits, dim=1)
    entropy = -(p * torch.log(p)).sum(dim=1)
    expected = (-torch.log(p[torch.arange(16), labels]) - 0.5 * entropy).mean()
    torch.testing.assert_close(ConfidencePenalty(beta=0.5).loss(model, batch, None).loss, expected)
    torch.testing.assert_close(ConfidencePenalty(beta=0).loss(model, batch, None).loss, F.cross_entropy(logits, labels))


def test_registered_through_the_entry_point():
    entry = registry.get_entry("recipe", "confidence-penalty")
    assert entry.source == "calibench-example-plugin"
    assert entry.load() is ConfidencePenalty
    with pytest.raises(ValueError, match="unknown option"):
        ConfidencePenalty(gamma=1)
