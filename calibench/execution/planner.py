"""Expand ``methods x tasks x seeds`` into deduplicated trainings and cheap evaluations.

Two methods share a training when their recipe (with resolved options), task, seed,
encoder, hyper-parameters and data are equal: ``baseline``, ``temp-scaling`` and
``mc-dropout+temp-scaling`` all reuse one finetuning per (task, seed). Inference
procedures requested by any method are merged into that training's job. An ensemble
(:mod:`calibench.methods.ensemble`) expands into its member trainings, which are shared the
same way: member 0 of each seed is that seed's plain training.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from calibench import registry
from calibench.config import DataSpec, Hyper, TrainingSpec, config_hash, inference_key
from calibench.errors import OptionError
from calibench.methods.base import Calibrator
from calibench.methods.compose import MethodSpec
from calibench.methods.ensemble import Ensemble


@dataclass(frozen=True)
class EvalJob:
    """One evaluation; ``calibrator`` is the method's calibrator as the planner resolved it
    (unfitted, options validated), shared by the method's evaluations, or None."""

    method: MethodSpec
    task: str
    seed: int
    training_key: str
    prediction_key: str
    calibrator: Calibrator | None = field(default=None, compare=False)
    #: an ensemble's member predictions (keys), combined at evaluation; () for one training
    member_keys: tuple[str, ...] = ()
    member_trainings: tuple[str, ...] = ()


@dataclass
class Plan:
    trainings: list[TrainingSpec] = field(default_factory=list)
    evaluations: list[EvalJob] = field(default_factory=list)
    split_stats: dict[str, dict[str, Any]] = field(default_factory=dict)  # task -> stats incl. fingerprint
    eval_sets: dict[str, list[Any]] = field(default_factory=dict)  # task -> its loaded extra EvalSets

    def evaluations_after(self, training_key: str | None) -> list[EvalJob]:
        """The evaluations that the training ``training_key`` completes (all of them for None):
        a training's own methods and each ensemble it is a member of."""
        if training_key is None:
            return self.evaluations
        return [ev for ev in self.evaluations if ev.training_key == training_key or training_key in ev.member_trainings]

    def describe(self) -> str:
        n_m = len({e.method.label for e in self.evaluations})
        n_sets = sum(len(v) for v in self.eval_sets.values())
        return (
            f"{len(self.trainings)} distinct training(s), {len(self.evaluations)} evaluation(s) "
            f"of {n_m} method(s) on {len(self.split_stats)} task(s)"
            + (f" and {n_sets} extra evaluation set(s)" if n_sets else "")
        )


def _request(
    by_key: dict[str, TrainingSpec], spec: TrainingSpec, inference: str, options: dict[str, Any], train_logits: bool
) -> tuple[str, str]:
    """Ask ``spec``'s training (added once, by key) for one prediction: ``(training key, prediction key)``."""
    key = spec.key
    prev = by_key.get(key, spec)
    inf = (inference, tuple(sorted(options.items())))
    infs = prev.inferences if inf in prev.inferences else prev.inferences + (inf,)
    train_infs = prev.train_inferences + ((inf,) if train_logits and inf not in prev.train_inferences else ())
    by_key[key] = replace(
        prev, inferences=infs, need_train_logits=prev.need_train_logits or train_logits, train_inferences=train_infs
    )
    return key, inference_key(key, inference, options)


def make_plan(
    methods: list[MethodSpec],
    tasks: list[str],
    seeds: list[int],
    *,
    model: str,
    hyper_for: Callable[[str], Hyper],
    train_size: int | None,
    train_sizes: Mapping[str, int | None] | None = None,
    data_seed: int = 0,
    data_dir: str | None = None,
    recipe_defaults: dict[str, dict[str, Any]] | None = None,
    progress: Any = None,
    eval_sets: Sequence[Any] = (),
) -> Plan:
    """Resolve every part once (validating names and options) and build the deduplicated plan.

    ``train_sizes``: per-task exceptions to ``train_size`` (None there: the full set).
    ``recipe_defaults`` are keyed by canonical recipe name (``ebm`` serves its aliases).
    ``eval_sets`` (:class:`~calibench.tasks.evalsets.EvalSetSpec`) are loaded and
    fingerprinted here, so a pair that does not fit fails before any training; each becomes
    an output of every training of its task (not part of the training's identity), an
    ensemble's member trainings included.
    """
    from calibench.tasks import get_task, prepare_splits
    from calibench.tasks.evalsets import load_eval_set

    task_names = [get_task(t).name for t in tasks]
    for es in eval_sets:
        if es.target not in task_names:
            raise OptionError(
                f"--{es.kind} {es.text}: the run does not train {es.target!r} (its tasks: "
                f"{', '.join(task_names)}); add it with --tasks"
            )

    recipe_defaults = recipe_defaults or {}
    resolved = []
    for m in methods:
        # the preset's recipe defaults (e.g. EBM's K on CPU), then the user's own options
        opts = {**recipe_defaults.get(registry.canonical_name("recipe", m.recipe.name), {}), **m.recipe.opts}
        recipe = registry.create("recipe", m.recipe.name, **opts)
        inference = m.inference.instantiate("inference")
        calibrator = m.calibrator.instantiate("calibrator") if m.calibrator else None
        if isinstance(inference, Ensemble):
            for seed in seeds:
                inference.member_seeds(seed)  # seeds out of range fail here, before any data is loaded
        resolved.append((m, recipe.training_identity(m.recipe.name), inference, calibrator))

    plan = Plan()
    by_key: dict[str, TrainingSpec] = {}
    task_id = progress.add_task("prepare data", total=len(tasks)) if progress else None
    for task_name in tasks:
        task = get_task(task_name)
        size = (train_sizes or {}).get(task.name, train_size)
        splits = prepare_splits(task, data_dir=data_dir, train_size=size, data_seed=data_seed)
        plan.split_stats[task.name] = {"fingerprint": splits.fingerprint, "protocol": splits.protocol, **splits.stats}
        task_def = task.source.definition if task.source is not None and task.source.definition else None
        data = DataSpec(
            task=task.name,
            train_size=size,
            data_seed=data_seed,
            data_dir=data_dir,
            fingerprint=splits.fingerprint,
            task_def=task_def,
        )
        loaded = {}
        for es in eval_sets:
            if es.target == task.name and es.id not in loaded:
                loaded[es.id] = load_eval_set(es, data_dir)
        plan.eval_sets[task.name] = list(loaded.values())
        outputs = tuple(sorted((e.spec.id, e.spec.text, e.fingerprint) for e in loaded.values()))
        hyper = hyper_for(task.name)
        hyper.validate()
        for seed in seeds:
            for m, (r_name, r_opts), inference, calibrator in resolved:
                spec = TrainingSpec(
                    data=data,
                    recipe=r_name,
                    recipe_options=r_opts,
                    model=model,
                    seed=seed,
                    hyper=hyper,
                    inferences=(),
                    eval_sets=outputs,
                )
                train_logits = calibrator is not None and calibrator.fit_on == "train"
                if isinstance(inference, Ensemble):
                    members = [
                        _request(
                            by_key,
                            replace(spec, seed=s),
                            inference.member_inference_name,
                            inference.member_inference.options,
                            train_logits,
                        )
                        for s in inference.member_seeds(seed)
                    ]
                    tkeys, pkeys = (tuple(x) for x in zip(*members))
                    combined = config_hash({"ensemble": pkeys})
                    plan.evaluations.append(
                        EvalJob(
                            m,
                            task.name,
                            seed,
                            tkeys[0],
                            combined,
                            calibrator,
                            member_keys=pkeys,
                            member_trainings=tkeys,
                        )
                    )
                else:
                    key, pkey = _request(by_key, spec, m.inference.name, inference.options, train_logits)
                    plan.evaluations.append(EvalJob(m, task.name, seed, key, pkey, calibrator))
        if progress:
            progress.update(task_id, advance=1)
    if progress:
        progress.remove_task(task_id)
    plan.trainings = list(by_key.values())
    return plan
