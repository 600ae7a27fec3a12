"""Resolved configurations and their hashes.

A *training* is identified by :class:`TrainingSpec` (task, recipe and its options, encoder,
seed, hyper-parameters, data protocol). Everything downstream of its logits (inference,
calibrators, metrics) is cheap and keyed on top of that identity. Hashes are SHA-256 of
canonical JSON, so they are stable across processes, machines and Python versions.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from calibench.errors import OptionError
from calibench.records import predicts_train

#: bumped whenever a change alters the numbers a training produces, so old results are not reused
TRAINING_PROTOCOL = "calibench-train-v1"


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(obj: Any, length: int = 20) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Hyper:
    """Optimisation hyper-parameters of one training (paper defaults where it gives them)."""

    lr: float = 2e-5
    batch_size: int = 32
    epochs: float | None = 3.0
    max_steps: int | None = None  # overrides epochs when set (the paper gives steps)
    warmup_steps: int | None = None  # overrides warmup_ratio when set
    warmup_ratio: float = 0.06
    weight_decay: float = 0.1
    max_length: int = 128
    grad_clip: float = 1.0
    precision: str = "auto"  # auto | bf16 | fp32 (auto is resolved before hashing)
    fused_optimizer: bool = True
    eval_batch_size: int = 128

    def validate(self) -> None:
        problems = []
        if not self.lr > 0:
            problems.append(f"learning rate must be > 0 (got {self.lr})")
        if self.batch_size < 1:
            problems.append(f"batch size must be >= 1 (got {self.batch_size})")
        if self.max_steps is None and (self.epochs is None or self.epochs <= 0):
            problems.append("give epochs > 0 or max_steps")
        if self.max_steps is not None and self.max_steps < 1:
            problems.append(f"max_steps must be >= 1 (got {self.max_steps})")
        if self.max_length < 8:
            problems.append(f"max_length must be >= 8 (got {self.max_length})")
        if problems:
            raise OptionError("invalid training options: " + "; ".join(problems))


@dataclass(frozen=True)
class DataSpec:
    """Which data a training sees; ``fingerprint`` is filled in once the splits are built."""

    task: str
    train_size: int | None = None
    data_seed: int = 0
    data_dir: str | None = None  # not part of the identity: the fingerprint is
    fingerprint: str | None = None
    task_def: str | None = None  # a --task-def task's definition, for workers that lack it (not identity)

    def identity(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "train_size": self.train_size,
            "data_seed": self.data_seed,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class TrainingSpec:
    """The identity of one training: everything that changes its logits."""

    data: DataSpec
    recipe: str
    recipe_options: dict[str, Any] = field(default_factory=dict)
    model: str = "minilm"
    seed: int = 0
    hyper: Hyper = field(default_factory=Hyper)
    inferences: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = (("deterministic", ()),)
    need_train_logits: bool = False
    #: the inferences whose training-set logits a calibrator fits on (``fit_on=train``); the
    #: others predict dev and test only (MC dropout's ten passes over a training set that no
    #: calibrator reads were most of a baseline job). Empty with ``need_train_logits``: all of them.
    train_inferences: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    #: extra evaluation sets to predict on: (id, definition, fingerprint); outputs, not identity
    eval_sets: tuple[tuple[str, str, str], ...] = ()
    #: set by the driver for a done training that lacks outputs: predict from its kept model
    #: (``stored``: the prediction keys it already has) instead of training again
    outputs_only: bool = False
    stored: tuple[str, ...] = ()

    def identity(self) -> dict[str, Any]:
        # inference procedures and train-logit needs are *outputs* of a training, not part
        # of its identity: asking for one more later reuses the same training key.
        return {
            "protocol": TRAINING_PROTOCOL,
            "data": self.data.identity(),
            "recipe": self.recipe,
            "recipe_options": self.recipe_options,
            "model": self.model,
            "seed": self.seed,
            "hyper": asdict(self.hyper),
        }

    @property
    def key(self) -> str:
        return config_hash(self.identity())

    def to_json(self) -> dict[str, Any]:
        d = self.identity()
        d["inferences"] = [[n, dict(o)] for n, o in self.inferences]
        d["need_train_logits"] = self.need_train_logits
        if self.train_inferences:
            d["train_inferences"] = [[n, dict(o)] for n, o in self.train_inferences]
        d["data_dir"] = self.data.data_dir
        if self.data.task_def:
            d["task_def"] = self.data.task_def
        if self.eval_sets:
            d["eval_sets"] = [list(e) for e in self.eval_sets]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TrainingSpec:
        data = DataSpec(**d["data"], data_dir=d.get("data_dir"), task_def=d.get("task_def"))
        hyper = Hyper(**{f.name: d["hyper"][f.name] for f in fields(Hyper) if f.name in d["hyper"]})
        inf = tuple((n, tuple(sorted(o.items()))) for n, o in d.get("inferences", [["deterministic", {}]]))
        return cls(
            data=data,
            recipe=d["recipe"],
            recipe_options=d["recipe_options"],
            model=d["model"],
            seed=d["seed"],
            hyper=hyper,
            inferences=inf,
            need_train_logits=d.get("need_train_logits", False),
            train_inferences=tuple((n, tuple(sorted(o.items()))) for n, o in d.get("train_inferences", ())),
            eval_sets=tuple(tuple(e) for e in d.get("eval_sets", ())),
        )

    def predicts_train(self, name: str, options: Any) -> bool:
        """Whether the inference ``name`` with ``options`` predicts the training set too."""
        return predicts_train(self.need_train_logits, self.train_inferences, name, options)

    def with_(self, **changes: Any) -> TrainingSpec:
        return replace(self, **changes)


def inference_key(training_key: str, inference: str, options: dict[str, Any]) -> str:
    """Key of one set of logits: a training and the inference procedure applied to it."""
    return config_hash({"training": training_key, "inference": inference, "options": options})


def evalset_key(prediction_key: str, eval_set: str, fingerprint: str) -> str:
    """Key of one inference's logits on an extra evaluation set (its content fingerprint included)."""
    return config_hash({"prediction": prediction_key, "eval_set": eval_set, "fingerprint": fingerprint})
