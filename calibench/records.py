"""The result record: what one evaluation of one method on one training stores.

Written by the evaluation stage (:func:`calibench.execution.evaluate.run_evaluations`),
kept as JSON in the store and in exported result files, read by the leaderboard, the
report, the export and the trackers. One dataclass, so its fields are named in one place;
``to_json``/``from_json`` are the only translation to and from the stored form, as for
:class:`calibench.config.TrainingSpec`.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
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
