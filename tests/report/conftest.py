"""Synthetic results with a known truth, as run records + stored test probabilities.

Each task has true logits and labels drawn from their softmax. A method is a temperature
applied to the true logits plus per-seed noise that every method of that seed shares (as
methods sharing one finetuning do), so paired comparisons see correlated runs:
temperature 1 is calibrated, below 1 over-confident. Records carry the metrics
``calibench.metrics.evaluate`` computes in float64, and the probabilities are kept as
float32, exactly as ``run_evaluations`` stores them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from calibench.metrics import evaluate
from calibench.presets import PRESETS
from calibench.report.runs import Run

#: method -> temperature: baseline over-confident, temp-scaling calibrated, copy = baseline exactly
TEMPERATURES = {"baseline": 0.4, "temp-scaling": 1.0, "copy": 0.4, "sharpened": 0.2}


def _key(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:20]


def make_record(
    task: str,
    method: str,
    seed: int,
    probs: np.ndarray,
    labels: np.ndarray,
    *,
    fingerprint: str | None = None,
    model: str = "minilm",
    ece_bins: int = 15,
    hyper: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A result record shaped like ``run_evaluations``'s, metrics computed in float64."""
    fingerprint = fingerprint or _key("fp", task)[:16]
    hyper = hyper or asdict(PRESETS["cpu"].hyper_for(task, max_steps=6, batch_size=8, precision="fp32"))
    recipe = method.split("+")[0] if method in ("baseline", "copy", "sharpened") else "baseline"
    config = {
        "data": {"task": task, "train_size": 48, "data_seed": 0, "fingerprint": fingerprint},
        "data_dir": "/somewhere/local/glue",
        "hyper": hyper,
        "inferences": [["deterministic", {}]],
        "model": model,
        "need_train_logits": False,
        "protocol": "calibench-train-v1",
        "recipe": recipe,
        "recipe_options": {},
        "seed": seed,
    }
    training_key = _key("training", task, recipe, seed, fingerprint, model)
    n = len(labels)
    return {
        "key": _key("result", task, method, seed, fingerprint, model, ece_bins),
        "method": method,
        "task": task,
        "seed": seed,
        "model": model,
        "fingerprint": fingerprint,
        "training_key": training_key,
        "prediction_key": _key("prediction", training_key),
        "recipe": {"name": recipe, "options": {}},
        "inference": {"name": "deterministic", "options": {}},
        "calibrator": None,
        "metrics": evaluate(probs, labels, "accuracy", ece_bins=ece_bins),
        "n_test": n,
        "config": config,
        "training": {
            "split": {
                "fingerprint": fingerprint,
                "protocol": "dev-halves-v2",
                "n_train": 48,
                "n_dev": n,
                "n_test": n,
                "train_size": 48,
                "data_seed": 0,
                "source": "parquet:/somewhere/local/glue",
            },
            "precision": "fp32",
            "versions": {"calibench": "0.1.0"},
            "train_log": {"seconds": 1.0},
        },
    }


def synthetic_runs(
    tasks: Sequence[str] = ("rte", "mrpc", "sst2"),
    methods: Sequence[str] = ("baseline", "temp-scaling"),
    seeds: Sequence[int] = (0, 1, 2),
    n: int = 300,
    *,
    temperatures: dict[str, float] | None = None,
    n_classes: int = 2,
    **record_kwargs: Any,
) -> list[Run]:
    """Runs of ``methods`` x ``tasks`` x ``seeds``; unknown methods get temperature 0.7."""
    temps = {**TEMPERATURES, **(temperatures or {})}
    runs = []
    for ti, task in enumerate(tasks):
        rng = np.random.default_rng(1000 + ti)
        logits = rng.normal(size=(n, n_classes)) * 1.5
        true = np.exp(logits - logits.max(axis=1, keepdims=True))
        true /= true.sum(axis=1, keepdims=True)
        labels = (rng.random((n, 1)) > np.cumsum(true, axis=1)).sum(axis=1)
        for seed in seeds:
            noise = np.random.default_rng([ti, seed]).normal(scale=0.3, size=logits.shape)
            for method in methods:
                z = logits / temps.get(method, 0.7) + noise
                p = np.exp(z - z.max(axis=1, keepdims=True))
                p /= p.sum(axis=1, keepdims=True)
                record = make_record(task, method, seed, p, labels, **record_kwargs)
                runs.append(Run(record, p.astype(np.float32), labels, f"synthetic {task}/{method}/{seed}"))
    return runs


def write_store(root: Path, runs: Sequence[Run]) -> Path:
    """A real results store holding ``runs`` (records + ``probs`` artifacts), as ``calibench run`` writes it."""
    from calibench.store.db import Store

    store = Store(root)
    for r in runs:
        store.artifacts.write("probs", r.record["key"], arrays={"test_probs": r.probs, "test_labels": r.labels})
        store.put_result(r.record["key"], dict(r.record))
    store.close()
    return root


@pytest.fixture(scope="session")
def make_runs() -> Callable[..., list[Run]]:
    return synthetic_runs


@pytest.fixture
def store_of() -> Callable[[Path, Sequence[Run]], Path]:
    return write_store


def synthetic_extra_runs(runs: Sequence[Run], n_out: int = 200) -> list[Any]:
    """For each in-domain run, a shifted-set result and an OOD result (``calibench.report.shift.ExtraRun``)
    shaped like ``run_eval_set_evaluations``'s; the OOD inputs get flatter scores."""
    from calibench.report.shift import ExtraRun

    out = []
    for r in runs:
        rng = np.random.default_rng([r.seed, len(r.method)])
        z = rng.normal(size=(n_out, 2)) * 2.0
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
        labels = rng.integers(0, 2, n_out)
        common = {"method": r.method, "task": r.task, "seed": r.seed, "model": r.model, "n_test": n_out}
        rec = {
            **common,
            "key": f"shift-{r.record['key']}",
            "eval_kind": "shift",
            "eval_set": "shift-qnli",
            "pair": f"{r.task}→qnli",
            "metrics": evaluate(p.astype(np.float64), labels, "accuracy"),
        }
        out.append(
            ExtraRun(
                rec,
                {"test_probs": p, "test_labels": labels},
                dict(r.record),
                {"test_probs": r.probs, "test_labels": r.labels},
            )
        )
        in_msp = r.probs.max(axis=1)
        out_msp = rng.uniform(0.5, 0.8, n_out).astype(np.float32)
        ood = {
            **common,
            "key": f"ood-{r.record['key']}",
            "eval_kind": "ood",
            "eval_set": "ood-sst2",
            "pair": f"{r.task}→sst2",
            "metrics": {},
        }
        out.append(
            ExtraRun(
                ood,
                {"in_msp": in_msp, "out_msp": out_msp, "in_neg_energy": in_msp * 2, "out_neg_energy": out_msp * 2},
                dict(r.record),
                None,
            )
        )
    return out


@pytest.fixture(scope="session")
def make_extra_runs() -> Callable[..., list[Any]]:
    return synthetic_extra_runs
