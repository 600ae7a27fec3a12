"""Run a plan against a store: skip finished work, isolate failures, then evaluate.

:func:`run_trainings` is the one driver for every executor (this module's in-process
:class:`LocalExecutor`, or :class:`~calibench.execution.ray_executor.RayExecutor`). The
driver alone writes the store. For each training: skip it if it is done and has every
prediction it needs; claim it just before the executor starts it (a lease, so a
concurrent sweep on the same store skips it), and keep renewing that lease from a
background thread while it runs; then write its logits artifacts and mark it done with
its prediction rows in one transaction. A job that raises -- or whose worker process
dies -- is recorded as failed with its traceback and the sweep goes on. Evaluations are
recomputed only where missing.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from calibench.config import TrainingSpec
from calibench.execution.executor import Executor, Job, JobFailed, Outcome
from calibench.execution.planner import Plan
from calibench.execution.sweep import SweepProgress
from calibench.store.db import LEASE_S, Store, default_owner

if TYPE_CHECKING:
    from calibench.tracking import Tracker

LOGITS = "logits"
PROBS = "probs"


@dataclass
class Summary:
    trained: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # training key -> error
    busy: list[str] = field(default_factory=list)  # claimed by another live sweep
    lost: list[str] = field(default_factory=list)  # our claim was taken over while the job ran
    evaluated: int = 0
    reused_evaluations: int = 0
    missing_evaluations: list[str] = field(default_factory=list)


class LocalExecutor:
    """Runs each job in this process, one at a time, in the order the driver hands them out."""

    in_process = True

    def map(self, job: Job, specs: Iterable[TrainingSpec]) -> Iterator[Outcome]:
        for spec in specs:
            try:
                out = job(spec)
            except Exception as exc:  # isolate: the driver records it and goes on
                yield spec, JobFailed.from_exception(exc)
                continue
            yield spec, out

    def resolve_precision(self, precision: str, device: str | None) -> str:
        from calibench.training.precision import resolve_device, resolve_precision

        return resolve_precision(precision, resolve_device(device))  # type: ignore[arg-type]

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class LeaseKeeper:
    """Renews this driver's claims from a background thread while their jobs run.

    Leases are short (``LEASE_S``) so that a crashed driver on another host frees its jobs
    within minutes; a job may run for hours, so its live driver keeps extending the lease.
    The thread uses its own SQLite connection (the store's connections are per thread).
    """

    def __init__(self, store: Store, owner: str, lease_s: float = LEASE_S) -> None:
        self.store = store
        self.owner = owner
        self.lease_s = lease_s
        self._keys: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="calibench-lease-keeper", daemon=True)

    def add(self, key: str) -> None:
        with self._lock:
            self._keys.add(key)

    def discard(self, key: str) -> None:
        with self._lock:
            self._keys.discard(key)

    def held(self) -> list[str]:
        with self._lock:
            return sorted(self._keys)

    def _beat(self) -> None:
        import sqlite3

        try:
            while not self._stop.wait(self.lease_s / 4):
                for key in self.held():
                    try:
                        self.store.renew(key, self.owner, self.lease_s)
                    except sqlite3.Error:  # busy for a minute: try again at the next beat
                        pass
        finally:
            self.store.close()

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


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


def store_output(store: Store, owner: str, out: Any) -> bool:
    """Artifacts first, then the row that points at them (one transaction).

    False when ``owner`` no longer holds the claim; the artifacts written are then those
    of the new owner's job too (same keys, same content), so nothing is left dangling.
    """
    preds = []
    for pkey, p in out.predictions.items():
        store.artifacts.write(LOGITS, pkey, arrays=p["arrays"], json_data={"inference": p["inference"],
                                                                           "options": p["options"]})
        preds.append((pkey, p["inference"], p["options"], p["splits"]))
    return store.finish_training(out.key, owner, out.record, preds)


def run_trainings(
    plan: Plan,
    store: Store,
    job: Job,
    *,
    executor: Executor | None = None,
    retry_failed: bool = False,
    owner: str | None = None,
    on_event: Callable[[str, TrainingSpec, str], None] | None = None,
    progress: Any = None,
    tracker: "Tracker | None" = None,
    lease_s: float = LEASE_S,
) -> Summary:
    """Run every training the plan still needs on ``executor`` (default: in this process).

    Events passed to ``on_event(event, spec, message)``: ``skipped`` (done earlier),
    ``busy`` (another live sweep holds it), ``start``, ``done``, ``failed`` (here or, not
    retried, earlier) and ``lost`` (our claim was taken over while it ran: the other
    sweep's verdict stands and ours is discarded). ``progress`` gets a sweep-level task.
    """
    executor = executor or LocalExecutor()
    owner = owner or default_owner()
    summary = Summary()
    sweep = SweepProgress(len(plan.trainings), progress)
    leases = LeaseKeeper(store, owner, lease_s)

    def notify(event: str, spec: TrainingSpec, msg: str = "") -> None:
        sweep.update(event, spec.key)
        if on_event is not None:
            on_event(event, spec, msg)

    def track(key: str) -> None:
        if tracker is not None:
            row = store.training(key)
            if row is not None:
                tracker.log_training(row)

    def needs_run(spec: TrainingSpec) -> int | None:
        """The attempt count a claim must find, or None (with its event) if it needs no run here."""
        if training_complete(store, spec):
            summary.skipped.append(spec.key)
            notify("skipped", spec)
            track(spec.key)
            return None
        row = store.training(spec.key)
        if row and row["status"] == "failed" and not retry_failed:
            summary.failed[spec.key] = row["error"] or "failed earlier"
            notify("failed", spec, "failed in an earlier run (use --retry-failed)")
            track(spec.key)
            return None
        return row["attempts"] if row else 0

    def claim(spec: TrainingSpec, attempts: int) -> bool:
        while True:
            if store.claim(spec.key, spec.to_json(), owner, lease_s, expect_attempts=attempts):
                return True
            row = store.training(spec.key)
            if row is not None and row["attempts"] == attempts:  # unchanged: a live claim elsewhere
                summary.busy.append(spec.key)
                notify("busy", spec, "running in another sweep")
                return False
            again = needs_run(spec)  # another sweep changed it since we looked: look again
            if again is None:
                return False
            attempts = again

    def settle(spec: TrainingSpec, outcome: Any) -> None:
        key = spec.key
        if not isinstance(outcome, JobFailed):
            try:
                stored = store_output(store, owner, outcome)
            except Exception as exc:  # e.g. a full disk: record it like a job failure, go on
                outcome = JobFailed.from_exception(exc)
            else:
                leases.discard(key)
                if stored:
                    summary.trained.append(key)
                    notify("done", spec)
                else:
                    summary.lost.append(key)
                    notify("lost", spec, "another sweep took this job over (lease expired); result discarded")
                track(key)
                return
        leases.discard(key)
        if store.fail_training(key, owner, outcome.error, outcome.traceback):
            summary.failed[key] = outcome.error
            notify("failed", spec, outcome.error)
        else:
            summary.lost.append(key)
            notify("lost", spec, f"another sweep took this job over; its failure here is discarded "
                                 f"({outcome.error})")
        track(key)

    store.artifacts.remove_stale_tmp()  # folders of writers killed mid-write
    pending = [(spec, attempts) for spec in plan.trainings if (attempts := needs_run(spec)) is not None]

    with leases:

        def claimed() -> Iterator[TrainingSpec]:
            for spec, attempts in pending:
                if claim(spec, attempts):
                    leases.add(spec.key)
                    notify("start", spec)
                    yield spec

        try:
            if pending:
                with contextlib.closing(executor.map(job, claimed())) as outcomes:
                    for spec, outcome in outcomes:
                        settle(spec, outcome)
        finally:
            for key in leases.held():  # interrupted: give unfinished claims back at once
                store.release(key, owner)
    sweep.close()
    return summary


def run_evaluations(plan: Plan, store: Store, summary: Summary, metric_options: dict[str, Any],
                    tracker: "Tracker | None" = None) -> None:
    """Score each method whose logits exist; reuse stored scores. ``tracker`` sees every score."""
    from calibench.execution.evaluate import evaluate_method, result_key
    from calibench.tasks import get_task

    specs = {s.key: s for s in plan.trainings}
    cache: dict[str, dict[str, Any]] = {}
    for ev in plan.evaluations:
        member_preds = [store.prediction(k) for k in ev.member_keys or (ev.prediction_key,)]
        if any(p is None for p in member_preds):
            summary.missing_evaluations.append(f"{ev.task}/{ev.method.label}/seed{ev.seed}")
            continue
        # an ensemble's record names its own options; one training's, those its prediction was made with
        inference_options = (ev.method.inference.instantiate("inference").options if ev.member_keys
                             else member_preds[0]["options"])
        cal_id = ev.method.calibrator.instantiate("calibrator").identity() if ev.method.calibrator else None
        rkey = result_key(ev.method, ev.prediction_key, cal_id, metric_options)
        if store.has_result(rkey):
            summary.reused_evaluations += 1
            stored = store.result(rkey) if tracker is not None else None
            if stored is not None:
                tracker.log_evaluation(stored)
            continue
        if ev.prediction_key not in cache:
            if ev.member_keys:  # an ensemble: its members' stored predictions, combined
                from calibench.methods.ensemble import combine_predictions

                arrays = combine_predictions([store.artifacts.read(LOGITS, k).arrays for k in ev.member_keys])
            else:
                arrays = store.artifacts.read(LOGITS, ev.prediction_key).arrays
            cache = {ev.prediction_key: arrays}
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
            "inference": {"name": ev.method.inference.name, "options": inference_options},
            "calibrator": cal_record,
            "task": ev.task,
            "seed": ev.seed,
            "model": spec.model,
            "fingerprint": spec.data.fingerprint,
            "training_key": ev.training_key,
            "prediction_key": ev.prediction_key,
            **({"members": [{"seed": specs[t].seed, "training_key": t, "prediction_key": k}
                            for t, k in zip(ev.member_trainings, ev.member_keys)]} if ev.member_keys else {}),
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
        if tracker is not None:
            tracker.log_evaluation(record)
