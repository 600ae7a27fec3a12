"""Expand ``methods x tasks x seeds`` into deduplicated trainings and cheap evaluations.

Two methods share a training when their recipe (with resolved options), task, seed,
encoder, hyper-parameters and data are equal: ``baseline``, ``temp-scaling`` and
``mc-dropout+temp-scaling`` all reuse one finetuning per (task, seed). Inference
procedures requested by any method are merged into that training's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from calibench import registry
from calibench.errors import OptionError
from calibench.config import DataSpec, Hyper, TrainingSpec, inference_key
from calibench.methods.compose import MethodSpec


@dataclass(frozen=True)
class EvalJob:
    method: MethodSpec
    task: str
    seed: int
    training_key: str
    prediction_key: str


@dataclass
class Plan:
    trainings: list[TrainingSpec] = field(default_factory=list)
    evaluations: list[EvalJob] = field(default_factory=list)
    split_stats: dict[str, dict[str, Any]] = field(default_factory=dict)  # task -> stats incl. fingerprint
    eval_sets: dict[str, list[Any]] = field(default_factory=dict)  # task -> its loaded extra EvalSets

    def describe(self) -> str:
        n_m = len({e.method.label for e in self.evaluations})
        n_sets = sum(len(v) for v in self.eval_sets.values())
        return (f"{len(self.trainings)} distinct training(s), {len(self.evaluations)} evaluation(s) "
                f"of {n_m} method(s) on {len(self.split_stats)} task(s)"
                + (f" and {n_sets} extra evaluation set(s)" if n_sets else ""))


def make_plan(
    methods: list[MethodSpec],
    tasks: list[str],
    seeds: list[int],
    *,
    model: str,
    hyper_for: Callable[[str], Hyper],
    train_size: int | None,
    data_seed: int = 0,
    data_dir: str | None = None,
    recipe_defaults: dict[str, dict[str, Any]] | None = None,
    progress: Any = None,
    eval_sets: Sequence[Any] = (),
) -> Plan:
    """Resolve every part (validating names and options) and build the deduplicated plan.

    ``eval_sets`` (:class:`~calibench.tasks.evalsets.EvalSetSpec`) are loaded and
    fingerprinted here, so a pair that does not fit fails before any training; each becomes
    an output of every training of its task (not part of the training's identity).
    """
    from calibench.tasks import get_task, prepare_splits
    from calibench.tasks.evalsets import load_eval_set

    task_names = [get_task(t).name for t in tasks]
    for es in eval_sets:
        if es.target not in task_names:
            raise OptionError(f"--{es.kind} {es.text}: the run does not train {es.target!r} (its tasks: "
                             f"{', '.join(task_names)}); add it with --tasks")

    recipe_defaults = recipe_defaults or {}
    resolved = []
    for m in methods:
        # the preset's recipe defaults (e.g. EBM's K on CPU), then the user's own options
        opts = {**recipe_defaults.get(m.recipe.name, {}), **m.recipe.opts}
        recipe = registry.get("recipe", m.recipe.name)(**opts)
        inference = m.inference.instantiate("inference")
        calibrator = m.calibrator.instantiate("calibrator") if m.calibrator else None
        resolved.append((m, recipe.options, inference.options, calibrator))

    plan = Plan()
    by_key: dict[str, TrainingSpec] = {}
    task_id = progress.add_task("prepare data", total=len(tasks)) if progress else None
    for task_name in tasks:
        task = get_task(task_name)
        splits = prepare_splits(task, data_dir=data_dir, train_size=train_size, data_seed=data_seed)
        plan.split_stats[task.name] = {"fingerprint": splits.fingerprint, "protocol": splits.protocol, **splits.stats}
        task_def = task.source.definition if task.source is not None and task.source.definition else None
        data = DataSpec(task=task.name, train_size=train_size, data_seed=data_seed, data_dir=data_dir,
                        fingerprint=splits.fingerprint, task_def=task_def)
        loaded = {}
        for es in eval_sets:
            if es.target == task.name and es.id not in loaded:
                loaded[es.id] = load_eval_set(es, data_dir)
        plan.eval_sets[task.name] = list(loaded.values())
        outputs = tuple(sorted((e.spec.id, e.spec.text, e.fingerprint) for e in loaded.values()))
        hyper = hyper_for(task.name)
        hyper.validate()
        for seed in seeds:
            for m, r_opts, i_opts, calibrator in resolved:
                spec = TrainingSpec(data=data, recipe=m.recipe.name, recipe_options=r_opts, model=model,
                                    seed=seed, hyper=hyper, inferences=(), eval_sets=outputs)
                key = spec.key
                prev = by_key.get(key, spec)
                inf = (m.inference.name, tuple(sorted(i_opts.items())))
                infs = prev.inferences if inf in prev.inferences else prev.inferences + (inf,)
                need_train = prev.need_train_logits or (calibrator is not None and calibrator.fit_on == "train")
                by_key[key] = replace(prev, inferences=infs, need_train_logits=need_train)
                plan.evaluations.append(EvalJob(m, task.name, seed, key, inference_key(key, m.inference.name, i_opts)))
        if progress:
            progress.update(task_id, advance=1)
    if progress:
        progress.remove_task(task_id)
    plan.trainings = list(by_key.values())
    return plan

