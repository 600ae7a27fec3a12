"""Results as the leaderboard sees them: a :class:`Run` (one stored result and its test
probabilities), loaded from a results store, and the check of stored metric values
against their recomputation from those probabilities.

Runs come from a results store (:func:`load_store_runs`) or from exported result files
(:func:`calibench.report.export.load_result_runs`); either way they are the same
:class:`Run`, so every rendering shows the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calibench.errors import CalibenchError
from calibench.metrics import EstimatorMismatch, MetricSpec
from calibench.metrics import spec_from_estimator as _spec_from_estimator
from calibench.records import RecordError, ResultRecord, training_timings


class LeaderboardError(CalibenchError, ValueError):
    """Results that cannot be put on one leaderboard (or one column of it), with the reason."""


class MetricMismatch(LeaderboardError):
    """A stored metric value that the recomputation from the stored probabilities contradicts."""


# ---------------------------------------------------------------------------------------- runs
@dataclass(frozen=True, eq=False)
class Run:
    """One evaluated result: its record (as :func:`calibench.execution.evaluate.run_evaluations`
    writes it: method, task, seed, model, fingerprint, metrics ``{key: {value, estimator}}``,
    config, ...) and its test predictions.

    ``probs`` are the stored test probabilities (float32, as the store keeps them) and
    ``labels`` the test labels. ``source`` names where the run came from, for error messages.
    """

    record: Mapping[str, Any]
    probs: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    source: str = ""
    result: ResultRecord = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            result = ResultRecord.from_json(dict(self.record))
        except (RecordError, TypeError) as exc:
            raise LeaderboardError(f"{self.source or 'a result'}: {exc}") from exc
        object.__setattr__(self, "result", result)

    @property
    def task(self) -> str:
        return self.result.task

    @property
    def method(self) -> str:
        return self.result.method

    @property
    def seed(self) -> int:
        return int(self.result.seed)

    @property
    def model(self) -> str:
        return self.result.model

    @property
    def fingerprint(self) -> str:
        return self.result.fingerprint

    @property
    def name(self) -> str:
        """``task/method/seed N`` and where it came from: how errors name a run."""
        return f"{self.task}/{self.method}/seed {self.seed} ({self.source or self.record.get('key', '?')})"


def load_store_runs(store_dir: str | Path) -> list[Run]:
    """Every result in the store at ``store_dir`` with its stored test probabilities.

    The probabilities are the ``probs`` artifact of each result (``test_probs``,
    ``test_labels``); a missing or corrupt artifact is an error naming the result, since the
    leaderboard recomputes every number from it.
    """
    from calibench.store.artifacts import PROBS, ArtifactCorrupt, ArtifactMissing
    from calibench.store.db import Store

    store = Store(store_dir, read_only=True)
    try:
        runs = []
        for rec in store.results():
            try:
                arrays = store.artifacts.read(PROBS, rec["key"]).arrays
            except (ArtifactMissing, ArtifactCorrupt) as exc:
                raise LeaderboardError(
                    f"result {rec['task']}/{rec['method']}/seed {rec['seed']} (key {rec['key']}): its test "
                    f"probabilities cannot be read ({exc}); rerun `calibench run` to regenerate them"
                ) from exc
            training = rec.get("training") or {}
            if training.get("train_log") and not training.get("timings"):  # evaluated before results kept them
                row = store.training(rec["training_key"]) or {}
                if row.get("spec") and row.get("record"):
                    rec["training"] = {**training, "timings": training_timings(row["spec"], row["record"])}
            runs.append(Run(rec, arrays["test_probs"], arrays["test_labels"], f"store result {rec['key']}"))
        return runs
    finally:
        store.close()


def unmatched(
    runs: Sequence[Run],
    *,
    tasks: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    model: str | None = None,
) -> list[tuple[str, list[str], list[str]]]:
    """``(what, names without runs, names with runs)`` for each selection that names something
    ``runs`` lack: ``("method", ["ebm-hidden"], ["baseline"])``."""
    out = []
    for what, wanted, have in (
        ("task", tasks, {r.task for r in runs}),
        ("method", methods, {r.method for r in runs}),
        ("model", [model] if model else None, {r.model for r in runs}),
    ):
        missing = sorted(set(wanted or ()) - have)
        if missing:
            out.append((what, missing, sorted(have)))
    return out


def select_runs(
    runs: Iterable[Run],
    *,
    tasks: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    model: str | None = None,
    missing_ok: bool = False,
) -> list[Run]:
    """The runs of the given tasks, methods and encoder (None = all). A name with no run is an
    error (a typo, most often) unless ``missing_ok``: a grid exporting what it has so far."""
    runs = list(runs)
    for what, missing, have in unmatched(runs, tasks=tasks, methods=methods, model=model):
        if not missing_ok:
            raise LeaderboardError(f"no results for {what}(s) {', '.join(missing)}; have: {', '.join(have)}")
    return [
        r
        for r in runs
        if (tasks is None or r.task in tasks)
        and (methods is None or r.method in methods)
        and (model is None or r.model == model)
    ]


# ------------------------------------------------------------------------------ estimators
def spec_from_estimator(key: str, estimator: str) -> MetricSpec:
    """:func:`calibench.metrics.spec_from_estimator`, refusing as a :class:`LeaderboardError`."""
    try:
        return _spec_from_estimator(key, estimator)
    except (EstimatorMismatch, TypeError) as exc:
        raise LeaderboardError(str(exc)) from exc


def recompute_stored(metrics: dict[str, Any], probs: np.ndarray, labels: np.ndarray) -> dict[str, dict[str, Any]]:
    """Every metric in ``metrics`` (stored form) recomputed from ``probs`` with its stored estimator.

    Same shape as the stored ``metrics``: ``{key: {"value": float, "estimator": str}}``.
    """
    out = {}
    for key, stored in sorted(metrics.items()):
        spec = spec_from_estimator(key, stored["estimator"])
        out[key] = {"value": spec.fn(probs, labels), "estimator": spec.estimator}
    return out


def recompute_metrics(run: Run) -> dict[str, dict[str, Any]]:
    """Every metric stored in ``run.record`` recomputed from ``run.probs`` with its stored estimator."""
    return recompute_stored(run.result.metrics, run.probs, run.labels)


def disagrees(stored: float, recomputed: float, atol: float) -> bool:
    """A stored value differs from its recomputation: by more than ``atol``, or one NaN alone
    (both NaN is an undefined metric, e.g. AUROC without errors, and agrees)."""
    return not (abs(stored - recomputed) <= atol or (math.isnan(stored) and math.isnan(recomputed)))


@dataclass(frozen=True)
class Disagreement:
    """A stored metric value and its recomputation from the stored probabilities."""

    run: str
    metric: str
    estimator: str
    stored: float
    recomputed: float

    def __str__(self) -> str:
        return (
            f"{self.run}: {self.metric} [{self.estimator}] stored {self.stored!r}, recomputed {self.recomputed!r} "
            f"(difference {self.stored - self.recomputed:+.3g})"
        )


def metric_disagreements(runs: Iterable[Run], atol: float) -> list[Disagreement]:
    """Stored metric values that differ from their recomputation by more than ``atol``."""
    out = []
    for run in runs:
        for key, fresh in recompute_metrics(run).items():
            stored = float(run.result.metrics[key]["value"])
            if disagrees(stored, fresh["value"], atol):
                out.append(Disagreement(run.name, key, fresh["estimator"], stored, fresh["value"]))
    return out
