"""The ``lora`` recipe: cross-entropy finetuning of LoRA adapters (Hu et al. 2021) through ``peft``.

It is the baseline with ``lora_r=8`` by default; the LoRA options (``lora_r``, ``lora_alpha``,
``lora_targets``, ``lora_dropout``, ``lora_lr``) are those every recipe accepts, so
``ebm-hidden(lora_r=8)`` is EBM with LoRA and ``lora+ensemble(members=5)`` a LoRA ensemble
(He, Chen & Zhu 2023; Wang et al. 2023). See :mod:`calibench.methods.lora` for what trains and
how the members share the frozen encoder.
"""

from __future__ import annotations

from typing import Any, ClassVar

from calibench.methods.cross_entropy import CrossEntropy


class LoRA(CrossEntropy):
    """Cross-entropy on LoRA adapters (rank 8 on query and value) and the classification head."""

    defaults: ClassVar[dict[str, Any]] = {"lora_r": 8}
