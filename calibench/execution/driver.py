"""Run a plan's trainings against a store: skip finished work, claim, isolate failures.

:func:`run_trainings` is the one driver for every executor (the in-process
:class:`~calibench.execution.local.LocalExecutor`, or
:class:`~calibench.execution.ray_executor.RayExecutor`). The driver alone writes the
store. For each training: skip it if it is done and has every prediction it needs; claim
it just before the executor starts it (a lease, so a concurrent sweep on the same store
skips it), and keep renewing that lease (:class:`~calibench.execution.leases.LeaseKeeper`)
while it runs; then write its logits artifacts and mark it done with its prediction rows
in one transaction. A job that raises -- or whose worker process dies -- is recorded as
failed with its traceback and the sweep goes on. Scoring the stored logits is the next
stage (:func:`calibench.execution.evaluate.run_evaluations`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from calibench.config import TrainingSpec, inference_key
from calibench.execution.costs import noise_group
from calibench.execution.executor import Executor, Job, JobFailed
from calibench.execution.leases import LeaseKeeper
from calibench.execution.local import LocalExecutor
from calibench.execution.planner import Plan
from calibench.execution.sweep import SweepProgress
from calibench.store.artifacts import LOGITS
from calibench.store.db import LEASE_S, RowState, Store, default_owner, row_state

if TYPE_CHECKING:
    from calibench.execution.jobs import TrainingOutput
    from calibench.tracking import Tracker

T = TypeVar("T")


@dataclass
class Summary:
    trained: list[str] = field(default_factory=list)
    predicted: list[str] = field(default_factory=list)  # outputs added from a kept model, no training
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # training key -> error
    busy: list[str] = field(default_factory=list)  # claimed by another live sweep
    lost: list[str] = field(default_factory=list)  # our claim was taken over while the job ran
    evaluated: int = 0
    reused_evaluations: int = 0
    missing_evaluations: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)  # damaged or missing artifacts found and regenerated


def stored_outputs(store: Store, spec: TrainingSpec, damaged: list[str] | None = None) -> tuple[list[str], bool]:
    """The prediction keys this plan needs that are stored with an intact artifact (in-domain
    and on every extra evaluation set), and whether that is all of them.

    A logits artifact that is missing or fails its checksum counts as absent; ``damaged``
    collects what was found.
    """
    from calibench.config import evalset_key

    have, complete = [], True

    def intact(pkey: str) -> bool:
        problem = store.artifacts.damage(LOGITS, pkey)
        if problem is not None and damaged is not None:
            damaged.append(f"{spec.data.task} {spec.recipe} seed {spec.seed}: logits {pkey} {problem}; regenerated")
        return problem is None

    for name, opts in spec.inferences:  # the options the planner resolved: nothing is rebuilt here
        pkey = inference_key(spec.key, name, dict(opts))
        pred = store.prediction(pkey)
        if pred is None or not intact(pkey) or (spec.predicts_train(name, opts) and "train" not in pred["splits"]):
            complete = False
        else:
            have.append(pkey)
        for set_id, _definition, fingerprint in spec.eval_sets:
            ekey = evalset_key(pkey, set_id, fingerprint)
            if store.prediction(ekey) is not None and intact(ekey):
                have.append(ekey)
            else:
                complete = False
    return have, complete


def training_complete(store: Store, spec: TrainingSpec, damaged: list[str] | None = None) -> bool:
    """Done, and every prediction this plan needs is stored with an intact artifact.

    A logits artifact that is missing or fails its checksum counts as absent, so the
    training runs again (from its kept model where it has one); ``damaged`` collects what
    was found.
    """
    return row_complete(store, spec, store.training(spec.key), damaged)


def row_complete(
    store: Store, spec: TrainingSpec, row: dict[str, Any] | None, damaged: list[str] | None = None
) -> bool:
    """:func:`training_complete` judged from a training row the caller has already read."""
    if not row or row["status"] != "done":
        return False
    return stored_outputs(store, spec, damaged)[1]


def with_outputs_only(store: Store, spec: TrainingSpec) -> TrainingSpec:
    """A done training that lacks outputs becomes a predictions-only job from its kept model
    (the job trains after all where that model is missing or unusable)."""
    from dataclasses import replace

    row = store.training(spec.key)
    if not row or row["status"] != "done":
        return spec
    return replace(spec, outputs_only=True, stored=tuple(stored_outputs(store, spec)[0]))


def store_output(store: Store, owner: str, out: TrainingOutput) -> bool:
    """Artifacts first, then the row that points at them (one transaction).

    False when ``owner`` no longer holds the claim; the artifacts written are then those
    of the new owner's job too (same keys, same content), so nothing is left dangling.
    """
    preds = []
    # a prediction stored before whose logits are now rewritten (they were damaged or deleted):
    # the results computed from the old logits are dropped with the new row and recomputed
    stale = [
        pkey
        for pkey in out.predictions
        if store.prediction(pkey) is not None and not store.artifacts.verify(LOGITS, pkey)
    ]
    claimed = store.training(out.key) or {}
    record = out.record
    if record.get("outputs_only"):  # predicted from the kept model: the training's own record stays
        earlier = claimed.get("record") or {}
        sets = {**earlier.get("eval_sets", {}), **record.get("eval_sets", {})}
        fitted = {**earlier.get("inference_params", {}), **record.get("inference_params", {})}
        record = {
            **earlier,
            "eval_sets": sets,
            "inference_params": fitted,
            "added_outputs": [*earlier.get("added_outputs", []), record],
        }
    for pkey, p in out.predictions.items():
        # the artifact carries its rows too, so a damaged database can be rebuilt from the artifacts
        meta = {
            "inference": p["inference"],
            "options": p["options"],
            "training_key": out.key,
            "splits": p["splits"],
            "spec": claimed.get("spec"),
            "record": record,
        }
        if "eval_set" in p:  # logits on an extra evaluation set
            meta.update(parent=p["parent"], eval_set=p["eval_set"])
        store.artifacts.write(LOGITS, pkey, arrays=p["arrays"], json_data=meta)
        preds.append((pkey, p["inference"], p["options"], p["splits"]))
    return store.finish_training(out.key, owner, record, preds, drop_results_of=stale)


def shared_builds_apart(items: list[T], group: Callable[[T], str | None]) -> list[T]:
    """Trainings that build one artifact between them (an EBM task's noise LM and corpus),
    started together, would all wait on the first one's build lock while cores idle: keep
    the first of each group in its place and move the others after every other training, so
    those fill the wait. Order changes no result (each training is keyed and seeded alone)."""
    seen: set[str] = set()
    now: list[T] = []
    later: list[T] = []
    for item in items:
        g = group(item)
        (later if g is not None and g in seen else now).append(item)
        if g is not None:
            seen.add(g)
    return now + later


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
    tracker: Tracker | None = None,
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

    def needs_run(spec: TrainingSpec) -> RowState | None:
        """The row state a claim must find, or None (with its event) if it needs no run here.

        One read decides: a second read could see a job that another sweep finished since
        the first, and the claim would then take a done job as unfinished.
        """
        row = store.training(spec.key)
        if row_complete(store, spec, row, summary.repaired):
            summary.skipped.append(spec.key)
            notify("skipped", spec)
            track(spec.key)
            return None
        if row and row["status"] == "failed" and not retry_failed:
            summary.failed[spec.key] = row["error"] or "failed earlier"
            notify("failed", spec, "failed in an earlier run (use --retry-failed)")
            track(spec.key)
            return None
        return row_state(row)

    def claim(spec: TrainingSpec, seen: RowState) -> bool:
        while True:
            if store.claim(spec.key, spec.to_json(), owner, lease_s, expect=seen):
                return True
            again = needs_run(spec)  # refused: look again
            if again is None:  # another sweep finished it (or it failed) since we looked
                return False
            if again == seen:  # unchanged: a live claim elsewhere
                summary.busy.append(spec.key)
                notify("busy", spec, "running in another sweep")
                return False
            seen = again

    def settle(spec: TrainingSpec, outcome: Any) -> None:
        key = spec.key
        if not isinstance(outcome, JobFailed):
            try:
                stored = store_output(store, owner, outcome)
            except Exception as exc:  # e.g. a full disk: record it like a job failure, go on
                outcome = JobFailed.from_exception(exc)
            else:
                leases.discard(key)
                if stored and outcome.record.get("outputs_only"):
                    summary.predicted.append(key)
                    notify("done", spec, "predictions only, from the kept model")
                elif stored:
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
            notify("lost", spec, f"another sweep took this job over; its failure here is discarded ({outcome.error})")
        track(key)

    store.artifacts.remove_stale_tmp()  # folders of writers killed mid-write
    pending = [
        (with_outputs_only(store, spec), attempts)
        for spec in plan.trainings
        if (attempts := needs_run(spec)) is not None
    ]
    if not executor.in_process:
        pending = shared_builds_apart(pending, lambda item: noise_group(item[0].to_json()))

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
