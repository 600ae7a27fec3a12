"""The three energy functions of joint EBM finetuning (He et al., EACL 2021).

An energy ``E(x)`` scores how data-like an input is: **lower = more data-like**. In the
residual NCE model the density is ``P_N(x) * exp(-E(x))``, so the sign matters: the NCE loss
(:mod:`calibench.ebm.nce`) pushes energies of data down and energies of noise up.

| name           | E(x)                   | parameters                               |
|----------------|------------------------|------------------------------------------|
| ``scalar``     | ``g(h_cls)``           | a separate head with one output          |
| ``hidden``     | ``-logsumexp_y z_y``   | none: reuses the classifier's logits     |
| ``sharp-hidden`` | ``-max_y z_y``       | none: the model's own argmax, never gold |

No label conditioning, no length normalisation. ``scalar`` needs its own head: the
reference implementation gives it the classifier head's 2-layer shape with one output
(:func:`make_scalar_head` ``kind="mlp"``, the default); the paper calls it "a linear layer"
(``kind="linear"``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Literal

import torch
from torch import nn

from calibench.models.heads import ClassificationHead

ScalarHeadKind = Literal["mlp", "linear"]

#: the key under which recipes keep the scalar energy head in ``Classifier.extra_heads``
SCALAR_HEAD_KEY = "energy"


class EnergyName(str, Enum):
    """The energy variants, by their names in method strings (``ebm-hidden`` etc.)."""

    SCALAR = "scalar"
    HIDDEN = "hidden"
    SHARP_HIDDEN = "sharp-hidden"


def scalar_energy(hidden: torch.Tensor, scalar_head: nn.Module) -> torch.Tensor:
    """``g(h_cls)``: a learned scalar per example, ``(B, H) -> (B,)``."""
    out = scalar_head(hidden)
    if out.shape[-1] != 1:
        raise ValueError(f"the scalar energy head must have one output, got shape {tuple(out.shape)}")
    return out.squeeze(-1)


def hidden_energy(logits: torch.Tensor) -> torch.Tensor:
    """``-logsumexp_y z_y`` (JEM): ``p(x) ∝ sum_y exp(z_y)``. Gradient w.r.t. z is ``-softmax(z)``."""
    return -torch.logsumexp(logits, dim=-1)


def sharp_hidden_energy(logits: torch.Tensor) -> torch.Tensor:
    """``-max_y z_y``: only the predicted class's logit receives gradient (``-1`` there)."""
    return -logits.max(dim=-1).values


@dataclass(frozen=True)
class EnergySpec:
    name: EnergyName
    needs_scalar_head: bool
    description: str


ENERGIES: dict[str, EnergySpec] = {
    EnergyName.SCALAR.value: EnergySpec(EnergyName.SCALAR, True, "g(h_cls) from a separate one-output head"),
    EnergyName.HIDDEN.value: EnergySpec(EnergyName.HIDDEN, False, "-logsumexp of the classifier's logits"),
    EnergyName.SHARP_HIDDEN.value: EnergySpec(
        EnergyName.SHARP_HIDDEN, False, "-max of the classifier's logits (its own argmax)"
    ),
}


def energy_names() -> list[str]:
    """The registered energy names, in a stable order."""
    return list(ENERGIES)


def resolve_energy(name: str | EnergyName) -> EnergySpec:
    """The spec for ``name``; an unknown name raises ``ValueError`` listing the close ones."""
    key = name.value if isinstance(name, EnergyName) else str(name)
    try:
        return ENERGIES[key]
    except KeyError:
        hint = difflib.get_close_matches(key, list(ENERGIES), n=2, cutoff=0.5)
        msg = f"unknown energy {key!r}; known energies: {', '.join(ENERGIES)}"
        if hint:
            msg += f". Did you mean {' or '.join(repr(h) for h in hint)}?"
        raise ValueError(msg) from None


def compute_energy(
    name: str | EnergyName,
    logits: torch.Tensor,
    hidden: torch.Tensor | None = None,
    scalar_head: nn.Module | None = None,
) -> torch.Tensor:
    """Energy ``(B,)`` of a batch from the classifier's logits ``(B, C)`` and first-token
    states ``(B, H)``; one call site for all three variants so recipes stay variant-agnostic."""
    spec = resolve_energy(name)
    if spec.name is EnergyName.SCALAR:
        if scalar_head is None or hidden is None:
            raise ValueError("the 'scalar' energy needs the first-token states and a scalar head")
        return scalar_energy(hidden, scalar_head)
    if spec.name is EnergyName.HIDDEN:
        return hidden_energy(logits)
    return sharp_hidden_energy(logits)


def make_scalar_head(hidden_size: int, kind: ScalarHeadKind = "mlp", dropout: float = 0.1) -> nn.Module:
    """The head ``g`` of the ``scalar`` energy.

    ``"mlp"`` (default, the reference): the classifier head's shape, dropout -> Linear(H,H) ->
    tanh -> dropout -> Linear(H,1). ``"linear"`` (the paper's wording): one Linear(H,1).
    """
    if kind == "mlp":
        return ClassificationHead(hidden_size, 1, dropout)
    if kind == "linear":
        return nn.Linear(hidden_size, 1)
    raise ValueError(f"unknown scalar head kind {kind!r}; expected 'mlp' (reference) or 'linear' (paper)")


EnergyFn = Callable[[torch.Tensor, "torch.Tensor | None", "nn.Module | None"], torch.Tensor]


def energy_fn(name: str | EnergyName) -> EnergyFn:
    """``compute_energy`` with the variant bound: ``fn(logits, hidden, scalar_head) -> (B,)``."""
    resolve_energy(name)  # fail early on a bad name

    def fn(
        logits: torch.Tensor, hidden: torch.Tensor | None = None, scalar_head: nn.Module | None = None
    ) -> torch.Tensor:
        return compute_energy(name, logits, hidden, scalar_head)

    return fn
