"""LoRA finetuning (Hu et al. 2021) through ``peft``, as options every recipe accepts.

Any recipe finetunes with LoRA adapters when given ``lora_r``: ``baseline(lora_r=8)``,
``ebm-hidden(lora_r=8,lora_targets=query|key|value)``; the ``lora`` recipe is the baseline
with ``lora_r=8`` by default. The options (resolved, so they enter the training's identity):

* ``lora_r`` -- the adapters' rank (its presence turns LoRA on);
* ``lora_alpha`` -- the scale numerator (scaling ``alpha / r``); default ``r`` (Hu et al.'s
  GLUE setting, alpha = r = 8);
* ``lora_targets`` -- the encoder's linear modules to adapt, ``|``-separated names as
  ``peft`` matches them (default ``query|value``, as Hu et al.; BERT and RoBERTa names), or
  ``all-linear``;
* ``lora_dropout`` -- dropout on the adapters' input (default 0.1);
* ``lora_lr`` -- the learning rate of the LoRA training (default 5e-4, Hu et al.'s RoBERTa-base
  SST-2 rate; ``None`` keeps the run's ``--lr``: full finetuning's 2e-5 barely moves adapters).

What trains. Adapters go into the encoder only; every base weight of the encoder is
frozen, while the classification head and any head a recipe adds in ``setup`` (EBM's
scalar energy head) stay trainable: they live outside the encoder, and the optimiser is
built after both. The training job checks at the end that the encoder's base weights did
not move (:func:`lora_adapters`), so a bug that trains them fails the job instead of
silently reporting full finetuning as LoRA.

Sharing the frozen encoder. Trainings are separate jobs keyed by their configuration, and
a LoRA job never changes the pretrained weights, so within one process (the local
executor, or one Ray worker) every LoRA training of the same encoder reuses one loaded
base model: the job takes it from :func:`shared_base`, adds its own adapters, trains and
predicts, then removes them (``unload``) and checks the base is unchanged. The members of
a LoRA ensemble (``lora+ensemble(members=5)``) therefore load the encoder once and each
holds only its adapters and head (``benchmarks/bench_lora.py`` measures both effects).
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from calibench.errors import MissingDependency, OptionError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

LORA_DEFAULTS: dict[str, Any] = {
    "lora_r": None,
    "lora_alpha": None,
    "lora_targets": "query|value",
    "lora_dropout": 0.1,
    "lora_lr": 5e-4,
}
LORA_OPTIONS = frozenset(LORA_DEFAULTS)


@dataclass(frozen=True)
class LoraSettings:
    r: int
    alpha: float
    targets: str
    dropout: float
    lr: float | None

    def peft_config(self) -> Any:
        from peft import LoraConfig

        targets: Any = "all-linear" if self.targets == "all-linear" else self.targets.split("|")
        return LoraConfig(
            r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout, target_modules=targets, bias="none"
        )


def resolve_lora_options(given: dict[str, Any]) -> dict[str, Any]:
    """The resolved LoRA options of a recipe (``{}`` when LoRA is off); bad values raise one line."""
    if given.get("lora_r") is None:
        extra = sorted(k for k, v in given.items() if k != "lora_r" and v != LORA_DEFAULTS[k])
        if extra:
            raise OptionError(
                f"{', '.join(extra)} given without lora_r; add lora_r=8 (the adapters' rank) to finetune with LoRA"
            )
        return {}
    if importlib.util.find_spec("peft") is None:  # checked when the plan is built, before any training
        raise MissingDependency(
            "LoRA finetuning needs the peft package: pip install 'calibench[lora]' (or pip install peft)"
        )
    o = {**LORA_DEFAULTS, **given}
    r = o["lora_r"]
    if not isinstance(r, int) or isinstance(r, bool) or r < 1:
        raise OptionError(f"lora_r must be a positive integer rank (got {r!r})")
    if o["lora_alpha"] is None:
        o["lora_alpha"] = r
    if not o["lora_alpha"] > 0:
        raise OptionError(f"lora_alpha must be > 0 (got {o['lora_alpha']!r})")
    if not 0 <= o["lora_dropout"] < 1:
        raise OptionError(f"lora_dropout must be in [0, 1) (got {o['lora_dropout']!r})")
    if o["lora_lr"] is not None and not o["lora_lr"] > 0:
        raise OptionError(f"lora_lr must be > 0, or None for the run's --lr (got {o['lora_lr']!r})")
    targets = str(o["lora_targets"])
    if not targets or any(not t.strip() for t in targets.split("|")):
        raise OptionError(f"lora_targets {targets!r}: write module names separated by '|', e.g. query|value")
    o["lora_targets"] = targets
    return o


def lora_settings(options: dict[str, Any]) -> LoraSettings | None:
    """A recipe's resolved options to its LoRA settings, or None when it trains in full."""
    if options.get("lora_r") is None:
        return None
    return LoraSettings(
        r=options["lora_r"],
        alpha=options["lora_alpha"],
        targets=options["lora_targets"],
        dropout=options["lora_dropout"],
        lr=options["lora_lr"],
    )


# -- the shared base model ------------------------------------------------------------------
_bases: dict[str, tuple[Any, Any]] = {}


def shared_base(model: str) -> tuple[nn.Module, Any]:
    """``(encoder, tokenizer)`` of ``model``, loaded once per process for every LoRA training.

    Only LoRA trainings may use it: they add adapters and freeze the base, and
    :func:`lora_adapters` removes the adapters and checks the base is unchanged afterwards.
    """
    from calibench.models.encoders import load_encoder_and_tokenizer

    if model not in _bases:
        _bases[model] = load_encoder_and_tokenizer(model)
    return _bases[model]


def weights_fingerprint(module: nn.Module) -> dict[str, tuple[float, float]]:
    """Per tensor ``(sum, sum of squares)`` in float64: changes if any weight moves."""
    import torch

    with torch.no_grad():
        return {n: (float(p.double().sum()), float(p.double().square().sum())) for n, p in module.named_parameters()}


class EncoderWeightsChanged(RuntimeError):
    """A LoRA training moved a frozen base weight: a bug, never a user error."""


@contextlib.contextmanager
def lora_adapters(classifier: nn.Module, settings: LoraSettings) -> Iterator[Any]:
    """Adapters in ``classifier.encoder`` (base frozen, heads untouched) for the ``with`` block;
    removed afterwards, and the base weights checked unchanged."""
    from peft.tuners.lora import LoraModel

    encoder = classifier.encoder
    before = weights_fingerprint(encoder)
    try:
        tuner = LoraModel(encoder, settings.peft_config(), "calibench")
    except ValueError as exc:  # no module matched the target names
        raise OptionError(
            f"LoRA: {str(exc).splitlines()[0]} Pass lora_targets with this encoder's linear module "
            f"names separated by '|' (BERT/RoBERTa: query|key|value|dense), or all-linear"
        ) from None
    try:
        yield tuner
    finally:
        tuner.unload()  # the original modules back in place, adapters dropped (nothing merged)
    after = weights_fingerprint(encoder)
    moved = sorted(n for n in before if after.get(n) != before[n])
    if moved:
        raise EncoderWeightsChanged(f"LoRA training changed {len(moved)} frozen encoder weight(s), e.g. {moved[0]}")
