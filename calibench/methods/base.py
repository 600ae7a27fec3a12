"""The three small abstract bases a method is built from.

A *method* is ``recipe[+inference][+calibrator]``:

* :class:`Recipe` -- how the model is trained: its loss, and any extra heads. The recipe's
  :meth:`Recipe.identity` is part of the training's identity (config hash), so two methods
  with the same recipe share one training.
* :class:`Inference` -- how logits are produced from a trained model (one deterministic
  pass, MC dropout, ...). Returns logits; a sampling procedure returns the log of its mean
  probabilities, which is a valid logit vector, so calibrators compose with it.
* :class:`Calibrator` -- post-hoc, scikit-learn style: ``fit(logits, labels)`` returns
  self, ``predict_proba(logits)`` returns probabilities. Never touches the model.

Imports of torch stay inside functions or type-checking blocks so that registering
and listing methods stays cheap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from calibench.errors import OptionError
from calibench.methods.lora import LORA_OPTIONS, LoraSettings, lora_settings, resolve_lora_options

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from calibench.models.classifier import Classifier
    from calibench.training.batching import Encoded
    from calibench.training.context import TrainContext


class _Configurable:
    """Options given as keyword arguments; they form part of the object's identity."""

    #: default option values; unknown options are rejected with the valid names listed
    defaults: ClassVar[dict[str, Any]] = {}
    #: options accepted besides ``defaults`` (resolved by the subclass), e.g. every recipe's LoRA options
    shared_options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, **options: Any) -> None:
        valid = set(self.defaults) | self.shared_options
        unknown = sorted(set(options) - valid)
        if unknown:
            raise OptionError(
                f"{type(self).__name__}: unknown option(s) {', '.join(unknown)}; "
                f"valid options: {', '.join(sorted(valid)) or '(none)'}"
            )
        self.options: dict[str, Any] = {**self.defaults, **options}

    def identity(self) -> dict[str, Any]:
        """What makes two instances produce the same output (enters config hashes)."""
        return {"class": f"{type(self).__module__}.{type(self).__qualname__}", **self.options}


@dataclass
class LossOutput:
    """A recipe's loss for one step, plus scalar diagnostics to log."""

    loss: torch.Tensor
    logs: dict[str, float] = field(default_factory=dict)


class Recipe(_Configurable, ABC):
    """A training recipe: supplies the loss (and optionally extra heads) to the one loop.

    Every recipe also accepts the LoRA options ``lora_r``, ``lora_alpha``, ``lora_targets``,
    ``lora_dropout``, ``lora_lr`` (:mod:`calibench.methods.lora`); they appear in
    ``options`` (and so in the training's identity) only when ``lora_r`` is set, so a
    recipe's full-finetuning identity is what it was before LoRA existed.
    """

    #: options every recipe accepts besides its own ``defaults``
    shared_options: ClassVar[frozenset[str]] = LORA_OPTIONS

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        lora = {k: self.options.pop(k) for k in list(self.options) if k in LORA_OPTIONS}
        self.options.update(resolve_lora_options(lora))

    @property
    def lora(self) -> LoraSettings | None:
        """The LoRA settings, or None: full finetuning."""
        return lora_settings(self.options)

    def setup(self, ctx: TrainContext) -> None:
        """Called once before training: add heads to ``ctx.model``, prepare noise, etc."""

    def add_heads(self, model: Classifier) -> None:
        """Add the recipe's own heads to ``model`` (none by default). Called by ``setup`` and
        before a kept model's weights are loaded back, so both build the same modules."""

    @abstractmethod
    def loss(self, model: Classifier, batch: dict[str, torch.Tensor], ctx: TrainContext) -> LossOutput:
        """The loss for one minibatch (``batch`` holds input tensors and ``labels``)."""

    def record(self, ctx: TrainContext) -> dict[str, Any]:
        """Extra facts to store with the training record (e.g. noise-corpus statistics)."""
        return {}

    def training_identity(self, name: str) -> tuple[str, dict[str, Any]]:
        """The recipe name and resolved options that enter the training's hash.

        ``name`` is the name it was built from; by default it and ``self.options`` as they
        are. A recipe whose option was once part of its name overrides this so that stored
        trainings keep their keys (see ``EBMRecipe``).
        """
        return name, dict(self.options)


class Inference(_Configurable, ABC):
    """Turns a trained model and a split into an ``(n, C)`` array of logits."""

    def fit(self, model: Classifier, ctx: TrainContext, dev: Any) -> Inference:
        """Called once per training, before any :meth:`predict`, by a procedure that learns from
        data (last-layer Laplace: its Hessian from ``ctx.train``, its prior precision from ``dev``).
        ``dev`` is the tokenised dev half with labels; the test half is never given. Default: nothing."""
        return self

    def fitted_params(self) -> dict[str, Any]:
        """What :meth:`fit` learnt, JSON-serialisable, stored in the training record."""
        return {}

    @abstractmethod
    def predict(self, model: Classifier, encoded: Encoded, ctx: TrainContext) -> np.ndarray:
        """Logits (or log mean probabilities) for every example of ``encoded`` (one tokenised split), in order."""


FitSplit = Literal["dev", "train"]
FIT_SPLITS: tuple[FitSplit, ...] = ("dev", "train")


class Calibrator(_Configurable, ABC):
    """A post-hoc calibrator with the scikit-learn contract, on numpy logits.

    The core owns the ``fit_on`` option (which split's logits the calibrator is fitted
    on): every subclass accepts it, with default ``dev``, whether or not its ``defaults``
    list it, and a value other than ``dev`` or ``train`` is refused here.
    """

    defaults: ClassVar[dict[str, Any]] = {"fit_on": "dev"}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "fit_on" not in cls.defaults:
            cls.defaults = {"fit_on": "dev", **cls.defaults}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if self.options["fit_on"] not in FIT_SPLITS:
            name = getattr(self, "name", type(self).__name__)
            raise OptionError(f"{name}: fit_on must be 'dev' or 'train', got {self.options['fit_on']!r}")

    @property
    def fit_on(self) -> FitSplit:
        """Which split's logits it is fitted on: the dev half (default) or the training set."""
        return self.options["fit_on"]

    @abstractmethod
    def fit(self, logits: np.ndarray, labels: np.ndarray) -> Calibrator:
        """Fit on ``(n, C)`` logits and ``(n,)`` integer labels; return self."""

    @abstractmethod
    def predict_proba(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated ``(n, C)`` probabilities."""

    def fitted_params(self) -> dict[str, Any]:
        """The fitted parameters, JSON-serialisable, stored with the result (e.g. temperature)."""
        return {}
