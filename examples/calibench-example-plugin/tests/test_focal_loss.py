"""The defining property of the recipe, on fixed logits: no encoder needed."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from calibench_example_plugin.focal import FocalLoss

from calibench import registry


class FixedLogits(torch.nn.Module):
    """Stands in for calibench's Classifier: returns the same logits for any batch."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, **batch: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=self.logits)


def test_focal_loss_formula_and_gamma_zero_is_cross_entropy():
    torch.manual_seed(0)
    logits, labels = torch.randn(16, 3) * 3, torch.randint(0, 3, (16,))
    model, batch = FixedLogits(logits), {"labels": labels}
    p = F.softmax(logits, dim=1)[torch.arange(16), labels]
    expected = (-(1 - p) ** 2 * torch.log(p)).mean()
    torch.testing.assert_close(FocalLoss(gamma=2).loss(model, batch, None).loss, expected)
    torch.testing.assert_close(FocalLoss(gamma=0).loss(model, batch, None).loss, F.cross_entropy(logits, labels))


def test_registered_through_the_entry_point():
    entry = registry.get_entry("recipe", "focal-loss")
    assert entry.source == "calibench-example-plugin"
    assert entry.load() is FocalLoss
    with pytest.raises(ValueError, match="unknown option"):
        FocalLoss(alpha=1)
