"""Run a plan against a store: skip finished work, isolate failures, then evaluate.

The driver alone writes the store. For each training: skip it if it is done and has
every prediction it needs; claim it (a lease, so a concurrent sweep on the same store
skips it); run the pure job; write its logits artifacts, then mark it done with its
prediction rows in one transaction. A job that raises is recorded as failed with its
traceback and the sweep goes on. Evaluations are recomputed only where missing.
"""

from __future__ import annotations

import traceback as tb
from dataclasses import dataclass, field
from typing import Any, Callable

from calibench.config import TrainingSpec
from calibench.execution.planner import Plan
from calibench.store.db import Store, default_owner

LOGITS = "logits"
PROBS = "probs"


@dataclass
class Summary:
    trained: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # training key -> error
    busy: list[str] = field(default_factory=list)  # claimed by another live sweep
    evaluated: int = 0
    reused_evaluations: int = 0
    missing_evaluations: list[str] = field(default_factory=list)


def training_complete(store: Store, spec: TrainingSpec) -> bool:
    """Done, and every prediction this plan needs is stored with an intact artifact."""
    from calibench.config import inference_key
    from calibench import registry

    row = store.training(spec.key)
    if not row or row["status"] != "done":
        return False
    for name, opts in spec.inferences:
        options = registry.get("inference", name)(**dict(opts)).options
        pkey = inference_key(spec.key, name, options)
        pred = store.prediction(pkey)
        if pred is None or not store.artifacts.exists(LOGITS, pkey):
            return False
        if spec.need_train_logits and "train" not in pred["splits"]:
            return False
    return True


def store_output(store: Store, owner: str, out: Any) -> None:
    """Artifacts first, then the row that points at them (one transaction)."""
    preds = []
    for pkey, p in out.predictions.items():
        store.artifacts.write(LOGITS, pkey, arrays=p["arrays"], json_data={"inference": p["inference"],
                                                                           "options": p["options"]})
        preds.append((pkey, p["inference"], p["options"], p["splits"]))
    store.finish_training(out.key, owner, out.record, preds)


def run_trainings(
    plan: Plan,
    store: Store,
    job: Callable[[TrainingSpec], Any],
    *,
    retry_failed: bool = False,
    owner: str | None = None,
    on_event: Callable[[str, TrainingSpec, str], None] | None = None,
) -> Summary:
    """Run every training the plan still needs, one at a time, in this process."""
    owner = owner or default_owner()
    summary = Summary()
    notify = on_event or (lambda *_: None)
    for spec in plan.trainings:
        key = spec.key
        if training_complete(store, spec):
            summary.skipped.append(key)
            notify("skipped", spec, "")
            continue
        row = store.training(key)
        if row and row["status"] == "failed" and not retry_failed:
            summary.failed[key] = row["error"] or "failed earlier"
            notify("failed", spec, "failed in an earlier run (use --retry-failed)")
            continue
        if not store.claim(key, spec.to_json(), owner):
            summary.busy.append(key)
            notify("busy", spec, "running in another sweep")
            continue
        notify("start", spec, "")
        try:
            out = job(spec)
            store_output(store, owner, out)
        except KeyboardInterrupt:
            store.release(key, owner)
            raise
        except Exception as exc:  # isolate: record it, go on with the grid
            msg = f"{type(exc).__name__}: {exc}"
            store.fail_training(key, owner, msg, tb.format_exc())
            summary.failed[key] = msg
            notify("failed", spec, msg)
            continue
        summary.trained.append(key)
        notify("done", spec, "")
    return summary


def run_evaluations(plan: Plan, store: Store, summary: Summary, metric_options: dict[str, Any]) -> None:
    """Score each method whose logits exist; reuse stored scores."""
    from calibench.execution.evaluate import evaluate_method, result_key
    from calibench.tasks import get_task

    specs = {s.key: s for s in plan.trainings}
    cache: dict[str, dict[str, Any]] = {}
    for ev in plan.evaluations:
        pred = store.prediction(ev.prediction_key)
        if pred is None:
            summary.missing_evaluations.append(f"{ev.task}/{ev.method.label}/seed{ev.seed}")
            continue
        cal_id = ev.method.calibrator.instantiate("calibrator").identity() if ev.method.calibrator else None
        rkey = result_key(ev.method, ev.prediction_key, cal_id, metric_options)
        if store.has_result(rkey):
            summary.reused_evaluations += 1
            continue
        if ev.prediction_key not in cache:
            cache = {ev.prediction_key: store.artifacts.read(LOGITS, ev.prediction_key).arrays}
        arrays = cache[ev.prediction_key]
        task = get_task(ev.task)
        probs, metrics, cal_record = evaluate_method(ev.method, arrays, task.metric, metric_options)
        store.artifacts.write(PROBS, rkey, arrays={"test_probs": probs.astype("float32"),
                                                   "test_labels": arrays["test_labels"]})
        spec = specs[ev.training_key]
        training = store.training(ev.training_key) or {}
        record = {
            "key": rkey,
            "method": ev.method.label,
            "recipe": {"name": ev.method.recipe.name, "options": spec.recipe_options},
            "inference": {"name": ev.method.inference.name, "options": pred["options"]},
            "calibrator": cal_record,
            "task": ev.task,
            "seed": ev.seed,
            "model": spec.model,
            "fingerprint": spec.data.fingerprint,
            "training_key": ev.training_key,
            "prediction_key": ev.prediction_key,
            "metrics": metrics,
            "n_test": int(len(arrays["test_labels"])),
            "config": spec.to_json(),
            "training": {k: (training.get("record") or {}).get(k) for k in
                         ("train_log", "device", "precision", "versions", "recipe_record", "split")},
        }
        if record["training"].get("train_log"):
            record["training"]["train_log"] = {k: v for k, v in record["training"]["train_log"].items()
                                               if k != "history"}
        store.put_result(rkey, record)
        summary.evaluated += 1
