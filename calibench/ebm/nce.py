"""Residual-form noise-contrastive estimation (NCE) for the energy model.

The model density is ``P_N(x) * exp(-E(x))`` (``P_N`` the noise LM), so with ``K`` noise
samples per data sample the NCE posterior that ``x`` is data is

    P(data | x) = exp(-E) / (exp(-E) + K) = sigmoid(-E(x) - log K)

and ``log P_N(x)`` cancels: only *samples* from the noise model are needed. The loss is
the logistic loss of that classifier:

* data ``x+``:  ``-log sigmoid(-E - log K) = softplus(E(x+) + log K)``
* noise ``x-``: ``-log(1 - sigmoid(-E - log K)) = softplus(-E(x-) - log K)``

    L_NCE = mean_data(data term) + K * mean_noise(noise term)

**Equivalence with the reference.** The reference runs ``K`` noise batches of the NCE batch
size and *sums their means*; with equal batch sizes that is ``K * mean`` over all ``K*B``
noise samples, which is what we compute on one concatenated noise batch. Its noise term is
``log(exp(-E) + K) = softplus(-E - log K) + log K``: the same function plus the constant
``log K``, so the two losses differ by ``K log K`` and have identical gradients
(``tests/ebm/test_nce.py`` checks this). ``reference_constant=True`` adds the constant back so
logged loss values match the reference's; the default leaves it out so that the loss is a
proper NCE log-loss (0 only at perfect separation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class NCEOutput:
    """The NCE loss and diagnostics of one step.

    ``loss`` carries the graph; the other fields are detached floats for logging.
    ``pair_accuracy`` is the fraction of all (data, noise) pairs in the batch whose energies
    are ranked correctly, ``E(data) < E(noise)``, ties counting one half: the AUROC of the
    energy as a data-vs-noise score (0.5 = chance, what NCE starts from; near 1 = noise too easy).
    """

    loss: torch.Tensor
    data_loss: float  # mean over data of the data term
    noise_loss: float  # K * mean over noise of the noise term
    energy_data: float  # mean E on data
    energy_noise: float  # mean E on noise
    pair_accuracy: float
    k: float

    def logs(self, prefix: str = "nce/") -> dict[str, float]:
        """Scalars for the training log (``LossOutput.logs``)."""
        return {
            f"{prefix}loss": float(self.loss.detach()),
            f"{prefix}data_loss": self.data_loss,
            f"{prefix}noise_loss": self.noise_loss,
            f"{prefix}energy_data": self.energy_data,
            f"{prefix}energy_noise": self.energy_noise,
            f"{prefix}pair_accuracy": self.pair_accuracy,
        }


def nce_terms(energy_data: torch.Tensor, energy_noise: torch.Tensor, k: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example terms: ``softplus(E(x+) + log K)`` and ``softplus(-E(x-) - log K)``."""
    if k <= 0:
        raise ValueError(f"K (noise samples per data sample) must be positive, got {k}")
    log_k = math.log(k)
    return F.softplus(energy_data + log_k), F.softplus(-energy_noise - log_k)


def pairwise_ranking_accuracy(energy_data: torch.Tensor, energy_noise: torch.Tensor) -> float:
    """Fraction of (data, noise) pairs with ``E_data < E_noise`` (ties = 1/2), vectorised."""
    d = energy_data.detach().reshape(-1, 1)
    n = energy_noise.detach().reshape(1, -1)
    if d.numel() == 0 or n.numel() == 0:
        return float("nan")
    correct = (d < n).float() + 0.5 * (d == n).float()
    return float(correct.mean())


def nce_loss(
    energy_data: torch.Tensor,
    energy_noise: torch.Tensor,
    k: float | None = None,
    *,
    reference_constant: bool = False,
) -> NCEOutput:
    """Residual NCE loss from energies of a data batch ``(B,)`` and a noise batch ``(N,)``.

    ``k`` is the noise ratio K; by default ``N / B`` (the reference draws ``K`` noise batches
    of the data batch's size). ``reference_constant`` adds ``K log K`` so the *value* equals the
    reference's logged loss; gradients are the same either way.
    """
    energy_data = energy_data.reshape(-1)
    energy_noise = energy_noise.reshape(-1)
    if energy_data.numel() == 0 or energy_noise.numel() == 0:
        raise ValueError("NCE needs at least one data and one noise example")
    if k is None:
        k = energy_noise.numel() / energy_data.numel()
    k = float(k)
    data_terms, noise_terms = nce_terms(energy_data, energy_noise, k)
    data_loss = data_terms.mean()
    noise_loss = k * noise_terms.mean()
    loss = data_loss + noise_loss
    if reference_constant:
        loss = loss + k * math.log(k)
    return NCEOutput(
        loss=loss,
        data_loss=float(data_loss.detach()),
        noise_loss=float(noise_loss.detach()),
        energy_data=float(energy_data.detach().mean()),
        energy_noise=float(energy_noise.detach().mean()),
        pair_accuracy=pairwise_ranking_accuracy(energy_data, energy_noise),
        k=k,
    )
