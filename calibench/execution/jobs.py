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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calibench import __version__, registry
from calibench.config import TrainingSpec, inference_key


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
    from calibench.training.batching import encode_dataset
    from calibench.training.context import TrainContext
    from calibench.training.precision import autocast_factory, resolve_device, resolve_precision

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
    enc = {
        name: encode_dataset(tokenizer, ds, fields_, max_len)
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


def run_training(
    spec: TrainingSpec,
    *,
    device: str | None = None,
    cache_dir: str | None = None,
    progress: Any = None,
) -> TrainingOutput:
    """Train once, predict with each requested inference procedure; return arrays + record."""
    from calibench.methods.lora import lora_adapters
    from calibench.training.loop import train

    t_start = time.perf_counter()
    ctx, enc = build_context(spec, device=device, cache_dir=cache_dir, progress=progress)
    model = ctx.model
    recipe = registry.create("recipe", spec.recipe, **spec.recipe_options)  # as the planner resolved it
    # LoRA: adapters in the encoder for training and inference, removed afterwards (base checked unchanged)
    lora = getattr(recipe, "lora", None)
    with lora_adapters(model, lora) if lora is not None else contextlib.nullcontext():
        log = train(ctx, recipe)

        out = TrainingOutput(key=spec.key)
        wanted = ["dev", "test"] + (["train"] if spec.need_train_logits else [])
        t_pred = time.perf_counter()
        fitted: dict[str, dict[str, Any]] = {}  # prediction key -> what its inference procedure fitted
        for name, opts in spec.inferences:
            options = dict(opts)
            inference = registry.create("inference", name, **options)
            seed_everything(spec.seed + 1)  # stochastic inference is reproducible too
            inference.fit(model, ctx, enc["dev"])  # the dev half only: the test half stays unseen
            arrays: dict[str, np.ndarray] = {}
            for split in wanted:
                arrays[f"{split}_logits"] = inference.predict(model, enc[split], ctx)
                arrays[f"{split}_labels"] = enc[split].labels
            pkey = inference_key(spec.key, name, inference.options)
            out.predictions[pkey] = {
                "inference": name,
                "options": inference.options,
                "arrays": arrays,
                "splits": wanted,
            }
            if inference.fitted_params():
                fitted[pkey] = inference.fitted_params()
    import torch

    out.record = {
        "training_key": spec.key,
        "train_log": log.to_json(),
        "predict_seconds": round(time.perf_counter() - t_pred, 3),
        "total_seconds": round(time.perf_counter() - t_start, 3),
        "split": ctx.state["split"],
        "device": str(ctx.device),
        "precision": ctx.state["precision"],
        "torch_threads": torch.get_num_threads(),
        "recipe_record": recipe.record(ctx),
        "inference_params": fitted,
        "versions": versions(),
    }
    return out
