"""The result record: what one evaluation of one method on one training stores.

Written by the evaluation stage (:func:`calibench.execution.evaluate.run_evaluations`),
kept as JSON in the store and in exported result files, read by the leaderboard, the
report, the export and the trackers. One dataclass, so its fields are named in one place;
``to_json``/``from_json`` are the only translation to and from the stored form, as for
:class:`calibench.config.TrainingSpec`. :func:`training_timings` extracts a training's
timing facts once, for the result records, the export and the cost model
(:mod:`calibench.execution.costs`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from functools import partial
from typing import Any


class RecordError(ValueError):
    """A stored result record that lacks a required field."""


@dataclass(frozen=True)
class PartRecord:
    """A recipe or inference procedure as it ran: its name and resolved options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResultRecord:
    """One stored result. ``metrics`` is ``{key: {"value": float, "estimator": str}}``;
    ``calibrator`` is ``{"name", "identity", "params"}`` or None; ``config`` is the training's
    ``TrainingSpec.to_json()``; ``training`` holds facts of the training (train log without
    its history, device, precision, versions, recipe record, split)."""

    method: str
    task: str
    seed: int
    model: str
    fingerprint: str
    metrics: dict[str, dict[str, Any]]
    key: str = ""
    recipe: PartRecord | None = None
    inference: PartRecord | None = None
    calibrator: dict[str, Any] | None = None
    training_key: str = ""
    prediction_key: str = ""
    n_test: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    #: an ensemble's member trainings (``seed``, ``training_key``, ``prediction_key``, ``seconds``: the
    #: training job's wall time, for the cost of the ensemble); [] otherwise.
    #: ``seed``, ``training_key`` and ``config`` are then the run seed's and member 0's
    members: list[dict[str, Any]] = field(default_factory=list)
    #: seconds this evaluation took (calibrate + every metric); None in records from before it was timed
    eval_seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ResultRecord:
        """From the stored form; fields written by another calibench version are ignored."""
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        missing = [k for k in required if k not in d]
        if missing:
            raise RecordError(f"result record {d.get('key', '?')!r} lacks {', '.join(missing)}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        for optional in ("config", "training"):  # written as null by some exports
            if values.get(optional) is None:
                values.pop(optional, None)
        for part in ("recipe", "inference"):
            if isinstance(values.get(part), dict):
                values[part] = PartRecord(values[part]["name"], dict(values[part].get("options") or {}))
        return cls(**values)


# --------------------------------------------------------------------------- timing facts of a training


def _passes(options: dict[str, Any]) -> int:
    return int(options.get("passes") or 1)


def predicts_train(need_train_logits: bool, train_inferences: Iterable[Any], name: str, options: Any) -> bool:
    """A training's rule for which inferences predict its training set (:class:`TrainingSpec`,
    or its stored JSON): those a ``fit_on=train`` calibrator asked for; every one for a training
    stored before the rule (``need_train_logits`` without ``train_inferences``)."""
    if not need_train_logits:
        return False
    listed = {(n, tuple(sorted(dict(o).items()))) for n, o in train_inferences}
    return not listed or (name, tuple(sorted(dict(options).items()))) in listed


def predict_units(
    inferences: Iterable[tuple[str, Any]],
    split: dict[str, Any],
    predicts_train: Callable[[str, Any], bool],
    eval_set_sizes: Sequence[int],
) -> int:
    """Example-passes a training predicts: each inference's passes over dev, test, the extra sets
    and, for the inferences ``predicts_train`` names, the training set."""
    n = int(split.get("n_dev") or 0) + int(split.get("n_test") or 0) + sum(int(x) for x in eval_set_sizes)
    n_train = int(split.get("n_train") or 0)
    return sum(_passes(dict(opts)) * (n + n_train * predicts_train(name, opts)) for name, opts in inferences)


def training_timings(spec: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """The timing facts of one finished training (the ``timings`` of its exported results).

    ``noise_lm_seconds`` / ``noise_sampling_seconds`` are non-zero only in the training that
    trained the noise LM / generated the corpus (the others read the cache);
    ``noise_wait_seconds``, what a training waited for a concurrent one building them.
    """
    log = record.get("train_log") or {}
    corpus = (record.get("recipe_record") or {}).get("noise_corpus") or {}
    generated = bool(corpus) and not corpus.get("from_cache")
    lm_trained = generated and corpus.get("noise_model_source") == "trained"
    sets = record.get("eval_sets") or {}
    return {
        "train_seconds": log.get("seconds"),
        "steps": log.get("steps"),
        "examples": log.get("examples"),
        "noise_lm_seconds": round(float(corpus.get("noise_model_train_seconds") or 0.0), 3) if lm_trained else 0.0,
        "noise_sampling_seconds": round(float(corpus.get("generation_seconds") or 0.0), 3) if generated else 0.0,
        "noise_wait_seconds": round(float(corpus.get("wait_seconds") or 0.0), 3),
        "noise_samples": corpus.get("count") if generated else None,
        "predict_seconds": record.get("predict_seconds"),
        "predict_units": predict_units(
            spec.get("inferences") or [],
            record.get("split") or {},
            partial(predicts_train, bool(spec.get("need_train_logits")), spec.get("train_inferences") or ()),
            [s.get("n", 0) for s in sets.values()],
        ),
        "total_seconds": record.get("total_seconds"),
    }
