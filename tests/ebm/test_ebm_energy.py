"""Energies: signs (lower = more data-like) and exactly which logits receive gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from calibench.ebm.energy import (
    SCALAR_HEAD_KEY,
    EnergyName,
    compute_energy,
    energy_fn,
    energy_names,
    hidden_energy,
    make_scalar_head,
    resolve_energy,
    sharp_hidden_energy,
)
from calibench.models.heads import ClassificationHead


def test_names_are_the_method_strings() -> None:
    assert energy_names() == ["scalar", "hidden", "sharp-hidden"]
    assert resolve_energy("sharp-hidden").name is EnergyName.SHARP_HIDDEN
    assert resolve_energy(EnergyName.HIDDEN).needs_scalar_head is False
    assert resolve_energy("scalar").needs_scalar_head is True
    assert SCALAR_HEAD_KEY == "energy"  # the key recipes store the head under (tests/ebm/test_recipe.py)


def test_unknown_energy_suggests_the_close_name() -> None:
    with pytest.raises(ValueError, match="sharp-hidden"):
        resolve_energy("sharp_hidden")


def test_hidden_energy_values_and_sign() -> None:
    z = torch.tensor([[0.0, 0.0], [5.0, -5.0], [10.0, 10.0]])
    e = hidden_energy(z)
    torch.testing.assert_close(e, -torch.log(torch.exp(z).sum(-1)))
    # confident, large logits are "more data-like": lower energy
    assert e[1] < e[0] and e[2] < e[1]


def test_sharp_hidden_is_minus_max_and_never_looks_at_labels() -> None:
    z = torch.tensor([[1.0, 3.0, -2.0], [0.5, 0.2, 0.1]])
    torch.testing.assert_close(sharp_hidden_energy(z), torch.tensor([-3.0, -0.5]))
    # hidden <= sharp-hidden (logsumexp >= max), with equality only in the limit
    assert torch.all(hidden_energy(z) < sharp_hidden_energy(z))


def test_hidden_energy_gradient_is_minus_softmax() -> None:
    z = torch.randn(4, 5, requires_grad=True)
    hidden_energy(z).sum().backward()
    torch.testing.assert_close(z.grad, -torch.softmax(z.detach(), -1))


def test_sharp_hidden_gradient_only_at_the_argmax() -> None:
    z = torch.randn(6, 4, requires_grad=True)
    sharp_hidden_energy(z).sum().backward()
    expected = torch.zeros(6, 4)
    expected[torch.arange(6), z.detach().argmax(-1)] = -1.0
    torch.testing.assert_close(z.grad, expected)


def test_scalar_energy_uses_its_own_head_not_the_logits() -> None:
    torch.manual_seed(0)
    head = make_scalar_head(8)
    assert isinstance(head, ClassificationHead) and head.out_proj.out_features == 1
    head.eval()
    h = torch.randn(3, 8, requires_grad=True)
    logits = torch.randn(3, 2, requires_grad=True)
    e = compute_energy("scalar", logits, h, head)
    assert e.shape == (3,)
    torch.testing.assert_close(e, head(h).squeeze(-1))
    e.sum().backward()
    assert logits.grad is None and h.grad is not None


def test_linear_scalar_head_is_the_papers_single_layer() -> None:
    head = make_scalar_head(8, kind="linear")
    assert isinstance(head, nn.Linear) and head.out_features == 1
    with pytest.raises(ValueError):
        make_scalar_head(8, kind="deep")  # type: ignore[arg-type]


def test_scalar_needs_a_head_and_hidden_states() -> None:
    with pytest.raises(ValueError, match="scalar head"):
        compute_energy("scalar", torch.zeros(2, 2), torch.zeros(2, 4), None)
    with pytest.raises(ValueError, match="one output"):
        compute_energy("scalar", torch.zeros(2, 2), torch.zeros(2, 4), nn.Linear(4, 2))


def test_energy_fn_binds_the_variant() -> None:
    z = torch.randn(3, 3)
    torch.testing.assert_close(energy_fn("hidden")(z), hidden_energy(z))
    torch.testing.assert_close(energy_fn("sharp-hidden")(z), sharp_hidden_energy(z))
    with pytest.raises(ValueError):
        energy_fn("bogus")
