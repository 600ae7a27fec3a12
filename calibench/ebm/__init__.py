"""Joint EBM finetuning's standalone parts: energies, the NCE loss, and the noise model
(partial-to-full LM) with its cached noise corpus.

The method's facts are in ``shared/design/ebm-method.md``. Names are imported lazily, so
``import calibench.ebm`` stays cheap until transformers is actually needed.
"""

from __future__ import annotations

import importlib
from typing import Any

#: the energy variants by name (``ebm(energy=...)``; the values of ``energy.EnergyName``),
#: here so that registering the ``ebm-<energy>`` aliases imports no torch
ENERGY_NAMES: tuple[str, ...] = ("scalar", "hidden", "sharp-hidden")

_EXPORTS = {
    "EnergyName": "energy",
    "compute_energy": "energy",
    "energy_fn": "energy",
    "energy_names": "energy",
    "hidden_energy": "energy",
    "make_scalar_head": "energy",
    "scalar_energy": "energy",
    "sharp_hidden_energy": "energy",
    "SCALAR_HEAD_KEY": "energy",
    "NCEOutput": "nce",
    "nce_loss": "nce",
    "pairwise_ranking_accuracy": "nce",
    "mask_spans": "masking",
    "merge_masks": "masking",
    "NoiseModelConfig": "noise_model",
    "NoiseModel": "noise_model",
    "NoiseTokens": "noise_model",
    "train_noise_model": "noise_model",
    "fingerprint_texts": "noise_model",
    "sample_continuations": "sampling",
    "top_k_sample": "sampling",
    "NoiseCorpus": "corpus",
    "CorpusStats": "corpus",
    "get_noise_corpus": "corpus",
    "get_noise_model": "corpus",
    "inspect_samples": "corpus",
}

__all__ = sorted([*_EXPORTS, "ENERGY_NAMES"])


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'calibench.ebm' has no attribute {name!r}") from None
    return getattr(importlib.import_module(f"calibench.ebm.{module}"), name)
