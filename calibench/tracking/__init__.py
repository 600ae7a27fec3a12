"""Optional experiment tracking: a projection of calibench's store into a tracking server.

calibench's own store stays the source of truth. A tracker is told about each training
row (spec, status, train log) and each evaluation record as the sweep settles them --
including ones reused from earlier runs, so a tracker switched on later catches up --
and must be idempotent. Tracking is best effort: :class:`SafeTracker` turns every
tracker error into a :class:`TrackingWarning` and the sweep goes on.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Protocol

from calibench.errors import MissingDependency

TRACKERS = ("mlflow",)


class TrackingWarning(UserWarning):
    """Tracking failed; the results store is unaffected."""


class TrackingNotInstalled(MissingDependency):
    """``--track mlflow`` without mlflow: said before the sweep starts, not after."""


class Tracker(Protocol):
    def log_training(self, row: dict[str, Any]) -> None:
        """One ``trainings`` row of the store (key, spec, status, attempts, record, error...)."""
        ...

    def log_evaluation(self, record: dict[str, Any]) -> None:
        """One evaluation record (method, task, seed, metrics with estimators, training_key...)."""
        ...


class SafeTracker:
    """Wraps a tracker so its failures warn instead of failing the sweep.

    After ``max_errors`` failures it stops calling the tracker: a backend that is down
    would otherwise cost its timeout on every job.
    """

    def __init__(self, inner: Tracker, max_errors: int = 3) -> None:
        self.inner: Tracker | None = inner
        self.max_errors = max_errors
        self.errors = 0

    def _call(self, what: str, *args: Any) -> None:
        if self.inner is None:
            return
        try:
            getattr(self.inner, what)(*args)
        except Exception as exc:
            self.errors += 1
            stop = self.errors >= self.max_errors
            warnings.warn(
                f"tracking: {what} failed ({type(exc).__name__}: {exc}); calibench's store is "
                f"unaffected" + ("; tracking is off for the rest of this run" if stop else ""),
                TrackingWarning,
                stacklevel=3,
            )
            if stop:
                self.inner = None

    def log_training(self, row: dict[str, Any]) -> None:
        self._call("log_training", row)

    def log_evaluation(self, record: dict[str, Any]) -> None:
        self._call("log_evaluation", record)


def default_tracking_uri(output_dir: str | Path) -> str:
    """An MLflow database beside the results store: offline, and one per store."""
    return f"sqlite:///{(Path(output_dir) / 'mlflow.db').resolve()}"


def open_tracker(
    name: str, output_dir: str | Path, uri: str | None = None, experiment: str = "calibench"
) -> SafeTracker | None:
    """The tracker ``name`` logging to ``uri`` (default: beside the store).

    A missing package raises :class:`TrackingNotInstalled` (the user asked for tracking
    and can fix that before a long sweep); any other failure to open it warns and returns
    None: tracking never blocks a sweep.
    """
    if name not in TRACKERS:
        raise ValueError(f"unknown tracker {name!r}; choose one of {', '.join(TRACKERS)}")
    try:
        import mlflow  # noqa: F401
    except ImportError as exc:
        raise TrackingNotInstalled(
            "--track mlflow needs mlflow, an optional dependency: pip install 'calibench[mlflow]'"
        ) from exc
    try:
        from calibench.tracking.mlflow_tracker import MlflowTracker

        inner = MlflowTracker(
            uri or default_tracking_uri(output_dir),
            experiment=experiment,
            artifact_root=Path(output_dir) / "mlflow-artifacts",
        )
    except Exception as exc:
        warnings.warn(
            f"tracking: could not open {name} ({type(exc).__name__}: {exc}); the sweep runs without it",
            TrackingWarning,
            stacklevel=2,
        )
        return None
    return SafeTracker(inner)
