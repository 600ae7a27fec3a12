"""Scoring methods on the extra evaluation sets of their trainings (shifted and OOD sets).

A *shift* result scores the method on the shifted set with the task's metrics, its
calibrator fitted on the in-domain split it asks for (the dev half by default) -- never on
the shifted rows: whether an in-domain calibration survives the shift is the question.
An *ood* result ignores the set's labels: it asks whether the method's scores tell the
in-domain test half (positives) from the OOD rows. Three scores, higher = more
in-distribution: the maximum softmax probability (of the calibrated probabilities),
``logsumexp`` of the logits (the negated energy of Liu et al. 2020) and, where the model has
a scalar energy head (``ebm-scalar``), the negated EBM energy.

Results are stored beside the in-domain ones with ``eval_set`` naming the set; their keys
extend the in-domain key, so adding a set never changes an existing result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from calibench.config import config_hash, evalset_key

if TYPE_CHECKING:
    from calibench.execution.driver import Summary
    from calibench.execution.planner import Plan
    from calibench.store.db import Store

#: OOD scores stored per example, by name: how each is computed from a prediction
OOD_SCORES: tuple[str, ...] = ("msp", "neg_energy", "neg_ebm_energy")


def _as_stored(scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Scores rounded to the float32 they are stored in, so that the recorded OOD metrics are
    the ones the stored arrays give: rounding can tie two near-1 MSPs (or part a tie), which
    moved an AUROC by 4e-6 between the record and a recomputation from the arrays."""
    return {k: v.astype(np.float32).astype(np.float64) for k, v in scores.items()}


def eval_set_result_key(in_domain_key: str, set_id: str, fingerprint: str) -> str:
    return config_hash({"result": in_domain_key, "eval_set": set_id, "fingerprint": fingerprint})


def ood_scores(probs: np.ndarray, logits: np.ndarray, ebm_energy: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per-example OOD scores (higher = more in-distribution) from one set's predictions."""
    from calibench.metrics.ood import msp, neg_energy

    out = {"msp": msp(probs), "neg_energy": neg_energy(logits)}
    if ebm_energy is not None:
        out["neg_ebm_energy"] = -np.asarray(ebm_energy, dtype=np.float64)
    return out


def ood_result_metrics(in_scores: dict[str, np.ndarray], out_scores: dict[str, np.ndarray]) -> dict[str, dict]:
    """``{ood_<metric>_<score>: {value, estimator}}`` for every score both sides have."""
    from calibench.metrics.ood import ood_metrics

    metrics: dict[str, dict] = {}
    for score in OOD_SCORES:
        if score in in_scores and score in out_scores:
            for name, value in ood_metrics(in_scores[score], out_scores[score]).items():
                estimator = f"ood_{name}(score={score},positive=in-distribution)"
                metrics[f"ood_{name}_{score}"] = {"value": float(value), "estimator": estimator}
    return metrics


def _set_arrays(store: Store, pkeys: tuple[str, ...], set_id: str, fingerprint: str) -> dict[str, np.ndarray]:
    """One set's arrays (``logits``, ``labels`` and, for one training with a scalar energy head,
    ``energy`` and ``test_energy``) for a prediction, or an ensemble's members' predictions combined
    the way their in-domain logits are (log mean softmax). An ensemble has no EBM energy of its own:
    its members' are not combined, so its OOD scores are the softmax ones."""
    from calibench.methods.ensemble import combine_logits
    from calibench.store.artifacts import LOGITS

    members = [store.artifacts.read(LOGITS, evalset_key(k, set_id, fingerprint)).arrays for k in pkeys]
    if len(members) == 1:
        return members[0]
    labels = members[0]["labels"]
    if any(not np.array_equal(m["labels"], labels) for m in members[1:]):
        raise ValueError(f"ensemble members disagree on the {set_id} labels: they were not trained on the same data")
    return {"logits": combine_logits([m["logits"] for m in members]), "labels": labels}


def run_eval_set_evaluations(
    plan: Plan, store: Store, summary: Summary, metric_options: dict[str, Any], after: str | None = None
) -> None:
    """Score each planned method on each extra set of its training; reuse stored scores.
    ``after`` (a training key) limits it to the methods that training has just completed.

    An ensemble is scored on its members' predictions of each set, combined; each member
    training predicts the sets like any other training of the task.
    """
    from calibench.execution.evaluate import calibrate, member_arrays, result_key
    from calibench.metrics import evaluate
    from calibench.store.artifacts import LOGITS, PROBS
    from calibench.tasks import get_task

    specs = {s.key: s for s in plan.trainings}
    sets = {es.spec.id: es for ess in plan.eval_sets.values() for es in ess}
    for ev in plan.evaluations_after(after):
        spec = specs[ev.training_key]
        pkeys = ev.member_keys or (ev.prediction_key,)
        if not spec.eval_sets or any(store.prediction(k) is None for k in pkeys):
            continue
        cal_id = ev.calibrator.identity() if ev.calibrator is not None else None
        base_key = result_key(ev.method, ev.prediction_key, cal_id, metric_options)
        in_domain = store.result(base_key)
        arrays = None
        for set_id, _definition, fingerprint in spec.eval_sets:
            ekey = evalset_key(ev.prediction_key, set_id, fingerprint)  # an ensemble's: of its combined key
            rkey = eval_set_result_key(base_key, set_id, fingerprint)
            if store.has_result(rkey):
                summary.reused_evaluations += 1
                continue
            if any(store.prediction(evalset_key(k, set_id, fingerprint)) is None for k in pkeys):
                summary.missing_evaluations.append(f"{ev.task}/{ev.method.label}/seed{ev.seed}/{set_id}")
                continue
            if arrays is None:
                arrays = (
                    member_arrays(store, ev.member_keys)
                    if ev.member_keys
                    else store.artifacts.read(LOGITS, ev.prediction_key).arrays
                )
            extra = _set_arrays(store, pkeys, set_id, fingerprint)
            es = sets[set_id]
            task = get_task(ev.task)
            probs, cal_record = calibrate(ev.method, ev.calibrator, arrays, extra["logits"])
            probs = probs.astype(np.float32)
            if es.spec.kind == "shift":
                metrics = evaluate(probs.astype(np.float64), extra["labels"], task.metric, **metric_options)
                saved = {"test_probs": probs, "test_labels": extra["labels"]}
            else:
                test_probs, _ = calibrate(ev.method, ev.calibrator, arrays)
                in_s = _as_stored(
                    ood_scores(
                        test_probs.astype(np.float32).astype(np.float64),
                        arrays["test_logits"],
                        extra.get("test_energy"),
                    )
                )
                out_s = _as_stored(ood_scores(probs.astype(np.float64), extra["logits"], extra.get("energy")))
                metrics = ood_result_metrics(in_s, out_s)
                saved = {f"in_{k}": v.astype(np.float32) for k, v in in_s.items()}
                saved.update({f"out_{k}": v.astype(np.float32) for k, v in out_s.items()})
            record = {
                **{
                    k: v
                    for k, v in (in_domain or {}).items()
                    if k in ("recipe", "inference", "model", "config", "training", "members")
                },
                "key": rkey,
                "method": ev.method.label,
                "task": ev.task,
                "seed": ev.seed,
                "model": spec.model,
                "eval_set": set_id,
                "eval_kind": es.spec.kind,
                "pair": es.spec.pair,
                "eval_set_stats": es.stats,
                "in_domain_key": base_key,
                "fingerprint": spec.data.fingerprint,
                "eval_set_fingerprint": fingerprint,
                "training_key": ev.training_key,
                "prediction_key": ekey,
                "calibrator": cal_record,
                "metrics": metrics,
                "n_test": len(extra["labels"]),
            }
            # the record travels with its arrays, so a damaged database can be rebuilt from them
            store.artifacts.write(PROBS, rkey, arrays=saved, json_data={"record": record})
            store.put_result(rkey, record)
            summary.evaluated += 1
