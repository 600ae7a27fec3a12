"""focal-loss: gamma = 0 is cross-entropy, a fixed gamma is the formula, FLSD-53 switches gamma at p_y = 0.2."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from baselines.focal_loss import FocalLoss, flsd53_gamma, focal_loss
from calibench import registry
from calibench.methods.cross_entropy import CrossEntropy
from calibench.training.batching import collate


def binary_logits_for(p_true: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Two-class logits whose gold label (class 0) has exactly the probabilities ``p_true``."""
    p = torch.tensor(p_true, dtype=torch.float64)
    return torch.stack([torch.log(p), torch.log1p(-p)], dim=1), torch.zeros(len(p_true), dtype=torch.long)


def test_gamma_zero_is_cross_entropy(tiny_model, encoded, fake_ctx):
    model, enc = tiny_model(), encoded(12)
    batch = collate(enc, np.arange(12))
    torch.testing.assert_close(
        FocalLoss(gamma=0).loss(model, batch, fake_ctx()).loss, CrossEntropy().loss(model, batch, fake_ctx()).loss
    )
    assert not torch.allclose(
        FocalLoss(gamma=1).loss(model, batch, fake_ctx()).loss, CrossEntropy().loss(model, batch, fake_ctx()).loss
    )


@pytest.mark.parametrize("gamma", [0.5, 2, 3.0])
def test_fixed_gamma_is_the_formula(gamma):
    torch.manual_seed(0)
    logits, labels = torch.randn(16, 3) * 3, torch.randint(0, 3, (16,))
    p = F.softmax(logits, dim=1)[torch.arange(16), labels]
    losses, p_true = focal_loss(logits, labels, gamma)
    torch.testing.assert_close(losses, -((1 - p) ** gamma) * torch.log(p))
    torch.testing.assert_close(p_true, p)


def test_flsd53_uses_gamma_5_below_p_02_and_3_from_it_on():
    ps = [0.05, 0.19, 0.1999, 0.2001, 0.21, 0.5, 0.9]
    logits, labels = binary_logits_for(ps)
    losses, _ = focal_loss(logits, labels, "flsd-53")
    expected = [-((1 - p) ** (5 if p < 0.2 else 3)) * math.log(p) for p in ps]
    np.testing.assert_allclose(losses.numpy(), expected, rtol=1e-5)
    assert flsd53_gamma(torch.tensor([0.1999, 0.2, 0.2001])).tolist() == [5, 3, 3]  # 0.2 itself takes 3
    # and it is neither fixed gamma: FL-3 differs below the switch, FL-5 above it
    fl3, _ = focal_loss(logits, labels, 3)
    fl5, _ = focal_loss(logits, labels, 5)
    assert not torch.allclose(losses[:3], fl3[:3]) and not torch.allclose(losses[3:], fl5[3:])


def test_flsd53_gamma_is_a_constant_of_the_step():
    """The gradient is that of -(1-p)^gamma log p with gamma held fixed (no term from the switch)."""
    logits, labels = binary_logits_for([0.1, 0.6])
    logits.requires_grad_(True)
    focal_loss(logits, labels, "flsd-53")[0].sum().backward()
    by_hand = logits.detach().clone().requires_grad_(True)
    l5, _ = focal_loss(by_hand[:1], labels[:1], 5)
    l3, _ = focal_loss(by_hand[1:], labels[1:], 3)
    (l5.sum() + l3.sum()).backward()
    torch.testing.assert_close(logits.grad, by_hand.grad)


def test_recipe_default_options_and_validation(tiny_model, encoded, fake_ctx):
    assert FocalLoss().options == {"gamma": "flsd-53"}
    model, enc = tiny_model(), encoded(8)
    batch = collate(enc, np.arange(8))
    out = FocalLoss().loss(model, batch, fake_ctx())
    losses, p = focal_loss(model(**batch).logits, batch["labels"], "flsd-53")
    torch.testing.assert_close(out.loss, losses.mean())
    assert out.logs["p_true"] == pytest.approx(p.detach().mean().item())
    for bad in (-1, "flsd-35", True):
        with pytest.raises(ValueError, match="gamma must be a number >= 0 or one of flsd-53"):
            FocalLoss(gamma=bad)


def test_registered_as_a_baseline_with_its_library():
    entry = registry.get_entry("recipe", "focal-loss")
    assert entry.source == "calibench" and entry.library == "torch"
    assert entry.load() is FocalLoss
