"""The training job: a pure function from a resolved :class:`TrainingSpec` to its outputs.

It loads the splits (checking their fingerprint), builds encoder + head, trains with the
recipe's loss, and runs every requested inference procedure on the dev and test halves
(and the training set when a calibrator is fitted there). It writes nothing to the
results store: the driver does, so an executor only has to map this function. (Recipes
may read and write their own content-addressed caches, e.g. EBM's noise corpus.)
"""

from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calibench import __version__, registry
from calibench.config import TrainingSpec, config_hash, evalset_key, inference_key


class FingerprintMismatch(RuntimeError):
    pass


@dataclass
class TrainingOutput:
    key: str
    #: inference key -> {"inference": name, "options": {...}, "arrays": {"dev_logits": ..., "dev_labels": ...}}
    predictions: dict[str, dict[str, Any]] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def versions() -> dict[str, str]:
    import torch
    import transformers

    return {
        "calibench": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def build_context(
    spec: TrainingSpec,
    *,
    device: str | None = None,
    cache_dir: str | None = None,
    progress: Any = None,
):
    """Everything a training needs, built exactly as the job builds it: ``(ctx, encoded)``
    with ``encoded`` the tokenised train/dev/test splits. Seeds the RNGs first."""
    import torch

    from calibench.methods.lora import lora_settings, shared_base
    from calibench.models.classifier import Classifier
    from calibench.models.encoders import load_encoder_and_tokenizer
    from calibench.store.artifacts import ArtifactStore
    from calibench.tasks import get_task, prepare_splits
    from calibench.training.context import TrainContext
    from calibench.training.encoded_cache import encode_dataset_cached
    from calibench.training.precision import autocast_factory, resolve_device, resolve_precision

    if spec.data.task_def and spec.data.task not in registry.names("task"):  # e.g. on a Ray worker
        from calibench.tasks.custom import register_task_def

        register_task_def(spec.data.task_def)
    task = get_task(spec.data.task)
    splits = prepare_splits(
        task, data_dir=spec.data.data_dir, train_size=spec.data.train_size, data_seed=spec.data.data_seed
    )
    if spec.data.fingerprint and splits.fingerprint != spec.data.fingerprint:
        raise FingerprintMismatch(
            f"{task.name}: the data changed since this job was planned (fingerprint {splits.fingerprint} "
            f"!= {spec.data.fingerprint}); re-run the command to plan against the current data"
        )
    dev = torch.device(resolve_device(device))
    precision = resolve_precision(spec.hyper.precision, dev)

    if lora_settings(spec.recipe_options) is not None:
        # LoRA trainings share one loaded, frozen base per process (calibench.methods.lora); it is
        # taken before seeding, so a training draws the same numbers whether it loaded the base or not
        encoder, tokenizer = shared_base(spec.model)
        seed_everything(spec.seed)
    else:
        seed_everything(spec.seed)
        encoder, tokenizer = load_encoder_and_tokenizer(spec.model)
    model = Classifier(encoder, task.num_labels)  # head init draws from the seeded RNG
    fields_ = task.text_fields
    max_len = spec.hyper.max_length
    enc = {  # tokenised once per process and split content (the fingerprint hashes all three splits)
        name: encode_dataset_cached(tokenizer, ds, fields_, max_len, content_key=(splits.fingerprint, name))
        for name, ds in (("train", splits.train), ("dev", splits.dev), ("test", splits.test))
    }
    texts = {name: list(zip(*[ds[f] for f in fields_])) for name, ds in (("train", splits.train), ("dev", splits.dev))}
    ctx = TrainContext(
        spec=spec,
        task=task,
        model=model,
        tokenizer=tokenizer,
        train=enc["train"],
        train_texts=texts["train"],
        dev_texts=texts["dev"],
        device=dev,
        autocast=autocast_factory(precision, dev),
        rng=np.random.default_rng(spec.seed),
        artifacts=ArtifactStore(cache_dir) if cache_dir else None,
        progress=progress,
    )
    ctx.state["split"] = {"fingerprint": splits.fingerprint, "protocol": splits.protocol, **splits.stats}
    ctx.state["precision"] = precision
    return ctx, enc


@contextlib.contextmanager
def finetuned(
    spec: TrainingSpec, recipe: Any, build: Any, keep_model: bool
) -> Iterator[tuple[Any, Any, Any, str | None]]:
    """``(ctx, encoded, train_log, why_trained)`` with the spec's finetuned model, inside its LoRA
    adapters (if the recipe has them) for the ``with`` block.

    With ``spec.outputs_only`` the kept model is loaded (``train_log`` None); where it is
    missing or does not fit, the job starts again from a clean, identically seeded context
    (``build()``) and trains as the first time did, ``why_trained`` saying why. A training
    keeps its weights (adapters included) when ``keep_model`` and there is a cache.
    """
    from calibench.execution.outputs import load_model, save_model
    from calibench.methods.lora import lora_adapters
    from calibench.training.loop import train

    lora = getattr(recipe, "lora", None)

    def adapters(model: Any) -> Any:  # LoRA: adapters in the encoder, removed afterwards (base checked unchanged)
        return lora_adapters(model, lora) if lora is not None else contextlib.nullcontext()

    ctx, enc = build()
    why_trained = None
    with contextlib.ExitStack() as stack:
        stack.enter_context(adapters(ctx.model))
        if spec.outputs_only:
            if ctx.artifacts is None:
                why_trained = "no cache to keep models in"
            else:
                recipe.add_heads(ctx.model)
                why_trained = load_model(ctx.artifacts, spec.key, ctx.model)
                if why_trained is None:
                    yield ctx, enc, None, None
                    return
                stack.close()  # adapters out, then a clean start: heads and adapters drawn as the first time
                ctx, enc = build()
                stack.enter_context(adapters(ctx.model))
        log = train(ctx, recipe)
        if keep_model and ctx.artifacts is not None:
            save_model(ctx.artifacts, spec.key, ctx.model)
        yield ctx, enc, log, why_trained


def run_training(
    spec: TrainingSpec,
    *,
    device: str | None = None,
    cache_dir: str | None = None,
    progress: Any = None,
    keep_model: bool = True,
) -> TrainingOutput:
    """Train once, predict with each requested inference procedure; return arrays + record.

    Predictions cover the dev and test halves (and train when asked) and every extra
    evaluation set of the spec. With ``spec.outputs_only`` (a done training that lacks some
    outputs) the kept model is loaded instead of training, and only the predictions not in
    ``spec.stored`` are made; without a usable kept model it trains as the first time did.
    ``keep_model`` writes the finetuned weights to the cache for such later outputs.
    """
    from calibench.execution.outputs import load_eval_sets, scalar_energy_scores
    from calibench.training.encoded_cache import encode_dataset_cached

    t_start = time.perf_counter()
    eval_sets = load_eval_sets(spec)  # bad data fails before any training
    recipe = registry.create("recipe", spec.recipe, **spec.recipe_options)  # as the planner resolved it

    def build() -> tuple[Any, Any]:
        return build_context(spec, device=device, cache_dir=cache_dir, progress=progress)

    with finetuned(spec, recipe, build, keep_model) as (ctx, enc, log, why_trained):
        model = ctx.model
        restored = log is None
        stored = set(spec.stored) if restored else set()
        fields_ = ctx.task.text_fields
        enc_sets = {
            es.spec.id: encode_dataset_cached(
                ctx.tokenizer, es.data, fields_, spec.hyper.max_length, content_key=(es.fingerprint, es.spec.id)
            )
            for es in eval_sets
        }

        out = TrainingOutput(key=spec.key)
        t_pred = time.perf_counter()
        fitted: dict[str, dict[str, Any]] = {}  # prediction key -> what its inference procedure fitted
        energies: dict[str, Any] = {}

        def energy(name: str, encoded: Any) -> Any:
            if name not in energies:
                energies[name] = scalar_energy_scores(model, encoded, ctx)
            return energies[name]

        for name, opts in spec.inferences:
            inference = registry.create("inference", name, **dict(opts))
            pkey = inference_key(spec.key, name, inference.options)
            todo = [evalset_key(pkey, es.spec.id, es.fingerprint) for es in eval_sets]
            if pkey in stored and all(k in stored for k in todo):
                continue
            seed_everything(spec.seed + 1)  # stochastic inference is reproducible too
            inference.fit(model, ctx, enc["dev"])  # the dev half only: the test half stays unseen
            if pkey not in stored:
                arrays: dict[str, np.ndarray] = {}
                wanted = ["dev", "test"] + (["train"] if spec.predicts_train(name, opts) else [])
                for split in wanted:
                    arrays[f"{split}_logits"] = inference.predict(model, enc[split], ctx)
                    arrays[f"{split}_labels"] = enc[split].labels
                out.predictions[pkey] = {
                    "inference": name,
                    "options": inference.options,
                    "arrays": arrays,
                    "splits": wanted,
                }
            if inference.fitted_params():
                fitted[pkey] = inference.fitted_params()
            for es, ekey in zip(eval_sets, todo):
                if ekey in stored:
                    continue
                # seeded per set, so a set predicted in a later run gets the same numbers
                seed_everything(spec.seed + 1 + int(config_hash(es.spec.id, 8), 16) % 100_000)
                e_arrays = {
                    "logits": inference.predict(model, enc_sets[es.spec.id], ctx),
                    "labels": enc_sets[es.spec.id].labels,
                }
                e_out, e_in = energy(es.spec.id, enc_sets[es.spec.id]), energy("test", enc["test"])
                if e_out is not None:
                    e_arrays["energy"], e_arrays["test_energy"] = e_out, e_in
                out.predictions[ekey] = {
                    "inference": name,
                    "options": inference.options,
                    "arrays": e_arrays,
                    "splits": [es.spec.id],
                    "parent": pkey,
                    "eval_set": es.stats,
                }
    import torch

    common = {
        "training_key": spec.key,
        "predict_seconds": round(time.perf_counter() - t_pred, 3),
        "total_seconds": round(time.perf_counter() - t_start, 3),
        "eval_sets": {es.spec.id: es.stats for es in eval_sets},
        "inference_params": fitted,
    }
    if restored:
        out.record = {**common, "outputs_only": True, "predicted": sorted(out.predictions)}
        return out
    out.record = {
        **common,
        "train_log": log.to_json(),
        "split": ctx.state["split"],
        "device": str(ctx.device),
        "precision": ctx.state["precision"],
        "torch_threads": torch.get_num_threads(),
        "recipe_record": recipe.record(ctx),
        "versions": versions(),
        "model_kept": bool(keep_model and ctx.artifacts is not None),
    }
    if why_trained:
        out.record["trained_again_because"] = why_trained
    return out
