"""The evaluation stage: score each method on stored logits (fit its calibrator, predict
test, compute every registered metric) and store one :class:`ResultRecord` per result.

Cheap and deterministic: never retrains; a result already stored is reused. Every metric
carries its estimator string.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import softmax

from calibench.config import config_hash
from calibench.execution.driver import Summary
from calibench.execution.planner import Plan
from calibench.methods.base import Calibrator
from calibench.methods.compose import MethodSpec
from calibench.records import PartRecord, ResultRecord, training_timings
from calibench.store.artifacts import LOGITS, PROBS, ArtifactCorrupt, ArtifactMissing
from calibench.store.db import Store

if TYPE_CHECKING:
    from calibench.tracking import Tracker

#: bumped when metric definitions change, so stored evaluations are recomputed
#: (v3: the paper's ECE, SmoothECE, debiased L2 CE and the selective metrics join every result)
EVAL_PROTOCOL = "calibench-eval-v3"


def result_key(
    method: MethodSpec, prediction_key: str, calibrator_identity: dict[str, Any] | None, metric_options: dict[str, Any]
) -> str:
    return config_hash(
        {
            "protocol": EVAL_PROTOCOL,
            "method": method.label,
            "prediction": prediction_key,
            "calibrator": calibrator_identity,
            "metrics": metric_options,
        }
    )


def calibrate(
    method: MethodSpec, calibrator: Calibrator | None, arrays: dict[str, np.ndarray], logits: np.ndarray | None = None
) -> tuple[np.ndarray, dict[str, Any] | None]:
    """Test probabilities for ``method`` from its prediction arrays, and the calibrator's record.

    ``calibrator`` is the planner's resolved (unfitted) instance; a copy of it is fitted, so one
    instance serves every evaluation of the method. ``logits`` (an extra evaluation set's) are
    calibrated instead of the test half's; the calibrator is still fitted on the in-domain
    split it asks for, never on them.
    """
    test_logits = (arrays["test_logits"] if logits is None else logits).astype(np.float64)
    if method.calibrator is None:
        return softmax(test_logits, axis=1), None
    if calibrator is None:
        raise RuntimeError(f"{method.label}: its calibrator was not resolved by the planner")
    cal = copy.deepcopy(calibrator)
    split = cal.fit_on
    if f"{split}_logits" not in arrays:
        raise KeyError(f"{method.label}: calibrator wants {split} logits, which this prediction lacks")
    cal.fit(arrays[f"{split}_logits"].astype(np.float64), arrays[f"{split}_labels"])
    probs = cal.predict_proba(test_logits)
    return probs, {"name": method.calibrator.name, "identity": cal.identity(), "params": cal.fitted_params()}


def evaluate_method(
    method: MethodSpec,
    calibrator: Calibrator | None,
    arrays: dict[str, np.ndarray],
    task_metric: str,
    metric_options: dict[str, Any],
) -> tuple[np.ndarray, dict[str, Any], dict[str, Any] | None]:
    """``(test_probs, metrics, calibrator_record)`` for one method on one prediction."""
    from calibench.metrics import evaluate

    probs, cal_record = calibrate(method, calibrator, arrays)
    # metrics are computed on exactly the float32 probabilities that are stored and exported,
    # so anyone can recompute every stored number from them, bit for bit
    probs = probs.astype(np.float32)
    metrics = evaluate(probs.astype(np.float64), arrays["test_labels"], task_metric, **metric_options)
    return probs, metrics, cal_record


def member_arrays(store: Store, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """An ensemble's prediction arrays: its members' stored logits (prediction ``keys``), combined."""
    from calibench.methods.ensemble import combine_predictions

    return combine_predictions([store.artifacts.read(LOGITS, k).arrays for k in keys])


#: the facts of a training that a result record keeps (the train log without its history)
TRAINING_FACTS = ("train_log", "device", "precision", "versions", "recipe_record", "split")


def run_evaluations(
    plan: Plan,
    store: Store,
    summary: Summary,
    metric_options: dict[str, Any],
    tracker: Tracker | None = None,
    after: str | None = None,
) -> None:
    """Score each method whose logits exist; reuse stored scores. ``tracker`` sees every score;
    ``after`` (a training key) limits it to the methods that training has just completed."""
    from calibench.tasks import get_task

    specs = {s.key: s for s in plan.trainings}
    cache: dict[str, dict[str, Any]] = {}
    for ev in plan.evaluations_after(after):
        member_preds = [store.prediction(k) for k in ev.member_keys or (ev.prediction_key,)]
        if any(p is None for p in member_preds):
            summary.missing_evaluations.append(f"{ev.task}/{ev.method.label}/seed{ev.seed}")
            continue
        # an ensemble's record names its own options; one training's, those its prediction was made with
        inference_options = (
            ev.method.inference.instantiate("inference").options if ev.member_keys else member_preds[0]["options"]
        )
        cal_id = ev.calibrator.identity() if ev.calibrator is not None else None
        rkey = result_key(ev.method, ev.prediction_key, cal_id, metric_options)
        problem = store.artifacts.damage(PROBS, rkey) if store.has_result(rkey) else "missing"
        if problem is None:
            summary.reused_evaluations += 1
            stored = store.result(rkey) if tracker is not None else None
            if stored is not None:
                tracker.log_evaluation(stored)
            continue
        if store.has_result(rkey):
            summary.repaired.append(
                f"{ev.task} {ev.method.label} seed {ev.seed}: test probabilities {rkey} "
                f"{problem}; recalibrated from the logits"
            )
        if ev.prediction_key not in cache:
            try:
                if ev.member_keys:  # an ensemble: its members' stored predictions, combined
                    arrays = member_arrays(store, ev.member_keys)
                else:
                    arrays = store.artifacts.read(LOGITS, ev.prediction_key).arrays
            except (ArtifactMissing, ArtifactCorrupt) as exc:  # its training failed to regenerate them
                summary.missing_evaluations.append(f"{ev.task}/{ev.method.label}/seed{ev.seed} ({exc})")
                continue
            cache = {ev.prediction_key: arrays}
        arrays = cache[ev.prediction_key]
        task = get_task(ev.task)
        t0 = time.perf_counter()
        probs, metrics, cal_record = evaluate_method(ev.method, ev.calibrator, arrays, task.metric, metric_options)
        eval_seconds = round(time.perf_counter() - t0, 4)
        spec = specs[ev.training_key]
        training_record = (store.training(ev.training_key) or {}).get("record") or {}
        training = {k: training_record.get(k) for k in TRAINING_FACTS}
        if training.get("train_log"):
            training["train_log"] = {k: v for k, v in training["train_log"].items() if k != "history"}
            training["timings"] = training_timings(spec.to_json(), training_record)  # exported: calibrates costs
        record = ResultRecord(
            key=rkey,
            method=ev.method.label,
            recipe=PartRecord(ev.method.recipe.name, spec.recipe_options),
            inference=PartRecord(ev.method.inference.name, inference_options),
            calibrator=cal_record,
            task=ev.task,
            seed=ev.seed,
            model=spec.model,
            fingerprint=spec.data.fingerprint,
            training_key=ev.training_key,
            prediction_key=ev.prediction_key,
            metrics=metrics,
            n_test=int(len(arrays["test_labels"])),
            config=spec.to_json(),
            training=training,
            members=[
                {
                    "seed": specs[t].seed,
                    "training_key": t,
                    "prediction_key": k,
                    "seconds": ((store.training(t) or {}).get("record") or {}).get("total_seconds"),
                }
                for t, k in zip(ev.member_trainings, ev.member_keys)
            ],
            eval_seconds=eval_seconds,
        ).to_json()
        store.artifacts.delete(PROBS, rkey)  # a leftover of a dropped result is never kept
        # the record travels with the probabilities, so a damaged database can be rebuilt
        store.artifacts.write(
            PROBS,
            rkey,
            arrays={"test_probs": probs.astype("float32"), "test_labels": arrays["test_labels"]},
            json_data={"record": record},
        )
        store.put_result(rkey, record)
        summary.evaluated += 1
        if tracker is not None:
            tracker.log_evaluation(record)
