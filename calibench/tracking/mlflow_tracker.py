"""MLflow tracking: one run per training attempt, one child run per evaluation.

* A training run carries the training spec as params (flattened: ``hyper.lr``,
  ``data.task``...), the train log's history as step-indexed metrics (loss, lr and the
  recipe's own terms) plus its timings, and ends FINISHED or FAILED (error in a tag).
* An evaluation run, nested under its training's run, carries the method and the final
  metrics of the test half, each metric's estimator in an ``estimator.<name>`` tag.

Runs are keyed by a ``calibench.id`` tag (training key + attempt, or result key), so
logging the same store twice -- a rerun, a sweep that reuses earlier work -- adds nothing.
Uses :class:`mlflow.tracking.MlflowClient` with explicit run ids rather than the fluent
``mlflow.start_run`` API, which keeps one global active run and would leak state across
sweeps in one process.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

ID_TAG = "calibench.id"
PARENT_TAG = "mlflow.parentRunId"
MAX_PARAM = 6000  # MLflow's limit on a param value
MAX_TAG = 4000  # below MLflow's limit on a tag value (5000 or 8000 by version)
BATCH = 100  # params per log_batch call (MLflow's limit), metrics well under its 1000


def _name(key: str) -> str:
    """A param/metric name MLflow accepts (alphanumerics, ``_ - . / space``)."""
    return re.sub(r"[^\w\-. /]", "_", key)


def flatten(obj: Any, prefix: str = "") -> dict[str, str]:
    """Nested dicts as dotted names; lists and scalars as compact JSON strings."""
    out: dict[str, str] = {}
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif prefix:
        text = obj if isinstance(obj, str) else json.dumps(obj, sort_keys=True, default=str)
        out[_name(prefix)] = text[:MAX_PARAM]
    return out


def _ms(seconds: float | None) -> int:
    return int((seconds if seconds is not None else time.time()) * 1000)


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


class MlflowTracker:
    """Logs a calibench store's trainings and evaluations into one MLflow experiment."""

    def __init__(self, uri: str, experiment: str = "calibench", artifact_root: str | Path | None = None) -> None:
        """``artifact_root`` is given explicitly: MLflow's default (``./mlruns``) would write
        into whatever directory the sweep was started from."""
        for name in ("mlflow", "alembic", "sqlalchemy"):  # schema migrations log at INFO on first use
            logging.getLogger(name).setLevel(logging.WARNING)
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(experiment)
        if exp is None:
            location = Path(artifact_root).resolve().as_uri() if artifact_root is not None else None
            self.experiment_id = self.client.create_experiment(experiment, artifact_location=location)
        else:
            self.experiment_id = exp.experiment_id
        self._runs: dict[str, str] = {}  # calibench id -> run id, terminated runs only
        self._training_run: dict[str, str] = {}  # training key -> run of its latest done attempt
        self._load()

    def _load(self) -> None:
        """Index the experiment's runs; delete half-logged ones (a crash between create and end)."""
        token = None
        while True:
            page = self.client.search_runs([self.experiment_id], max_results=1000, page_token=token)
            for run in page:
                cid = run.data.tags.get(ID_TAG)
                if cid is None:
                    continue
                if run.info.status == "RUNNING":
                    self.client.delete_run(run.info.run_id)
                    continue
                self._runs[cid] = run.info.run_id
                key = run.data.tags.get("calibench.training_key")
                if cid.startswith("training/") and run.info.status == "FINISHED" and key:
                    self._training_run[key] = run.info.run_id
            token = page.token
            if not token:
                break

    # -- tracker protocol ---------------------------------------------------------------
    def log_training(self, row: dict[str, Any]) -> None:
        from mlflow.entities import Metric, Param

        status = row["status"]
        if status not in ("done", "failed"):
            return  # not settled yet
        key = row["key"]
        cid = f"training/{key}/{row['attempts']}"
        if cid in self._runs:
            if status == "done":
                self._training_run[key] = self._runs[cid]
            return
        spec = row.get("spec") or {}
        record = row.get("record") or {}
        data = spec.get("data") or {}
        tags = {
            ID_TAG: cid,
            "calibench.kind": "training",
            "calibench.training_key": key,
            "calibench.status": status,
            "calibench.attempt": str(row["attempts"]),
            "task": str(data.get("task")),
            "recipe": str(spec.get("recipe")),
            "seed": str(spec.get("seed")),
            "model": str(spec.get("model")),
        }
        if status == "failed":
            tags["calibench.error"] = (row.get("error") or "")[:MAX_TAG]
            tags["calibench.traceback"] = (row.get("traceback") or "")[-MAX_TAG:]
        for k in ("device", "precision"):
            if record.get(k) is not None:
                tags[k] = str(record[k])
        params = [Param(k, v) for k, v in flatten(spec).items()]
        log = record.get("train_log") or {}
        end = _ms(row.get("finished_at"))
        metrics = [
            Metric(_name(name), float(value), end, int(entry["step"]))
            for entry in log.get("history") or []
            for name, value in entry.items()
            if name != "step" and _number(value) is not None
        ]
        summary = {
            "train_seconds": log.get("seconds"),
            "examples_per_s": log.get("examples_per_s"),
            "train_steps": log.get("steps"),
            "predict_seconds": record.get("predict_seconds"),
            "total_seconds": record.get("total_seconds"),
        }
        metrics += [Metric(k, float(v), end, 0) for k, v in summary.items() if _number(v) is not None]
        run_id = self._create(
            tags,
            f"{data.get('task')} {spec.get('recipe')} seed {spec.get('seed')}",
            row.get("started_at"),
            params,
            metrics,
        )
        self.client.set_terminated(run_id, "FINISHED" if status == "done" else "FAILED", end_time=end)
        self._runs[cid] = run_id
        if status == "done":
            self._training_run[key] = run_id

    def log_evaluation(self, stored: dict[str, Any]) -> None:
        from mlflow.entities import Metric, Param

        from calibench.records import ResultRecord

        rec = ResultRecord.from_json(stored)
        record = rec.to_json()  # every field present, named by the dataclass
        cid = f"evaluation/{rec.key}"
        if cid in self._runs:
            return
        tags = {
            ID_TAG: cid,
            "calibench.kind": "evaluation",
            "calibench.training_key": record["training_key"],
            "calibench.prediction_key": record["prediction_key"],
            "task": record["task"],
            "method": record["method"],
            "seed": str(record["seed"]),
            "model": record["model"],
        }
        parent = self._training_run.get(record["training_key"])
        if parent is not None:
            tags[PARENT_TAG] = parent
        now = _ms(None)
        metrics = []
        for name, m in record["metrics"].items():
            value = _number(m.get("value"))
            if value is not None:
                metrics.append(Metric(_name(name), value, now, 0))
            if m.get("estimator"):
                tags[f"estimator.{_name(name)}"] = str(m["estimator"])[:MAX_TAG]
        calibrator = record.get("calibrator") or {}
        for k, v in (calibrator.get("params") or {}).items():
            if _number(v) is not None:
                metrics.append(Metric(_name(f"calibrator.{k}"), float(v), now, 0))
        if _number(record.get("n_test")) is not None:
            metrics.append(Metric("n_test", float(record["n_test"]), now, 0))
        params = [
            Param(k, v)
            for k, v in flatten(
                {
                    "method": record["method"],
                    "task": record["task"],
                    "seed": record["seed"],
                    "model": record["model"],
                    "recipe": record.get("recipe"),
                    "inference": record.get("inference"),
                    "calibrator": calibrator.get("name"),
                    "fingerprint": record.get("fingerprint"),
                }
            ).items()
        ]
        run_id = self._create(tags, f"{record['task']} {record['method']} seed {record['seed']}", None, params, metrics)
        self.client.set_terminated(run_id, "FINISHED", end_time=now)
        self._runs[cid] = run_id

    def _create(
        self, tags: dict[str, str], name: str, started: float | None, params: list[Any], metrics: list[Any]
    ) -> str:
        run = self.client.create_run(self.experiment_id, start_time=_ms(started), tags=tags, run_name=name)
        run_id = run.info.run_id
        for i in range(0, max(len(params), len(metrics)), BATCH):
            self.client.log_batch(run_id, metrics=metrics[i : i + BATCH], params=params[i : i + BATCH])
        return run_id
