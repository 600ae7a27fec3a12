"""``calibench score``: calibrate and score saved predictions from any model, without running it.

The dev logits fit each method's calibrator, the test logits are scored with every
registered metric, and the results go into the same results store as ``calibench run``'s
(same record shape, same estimator strings, same test-probability artifacts), so the one
leaderboard, export and report machinery shows them with the same statistics.

A method here is ``baseline`` (the logits as they are) or a registered calibrator
(``temp-scaling``, ``isotonic``, ...): training recipes and inference procedures need the
model, which saved logits do not have.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calibench.external.files import PredictionFileError, Predictions, read_predictions

#: Version of how saved predictions become results (enters every key).
SCORE_PROTOCOL = "calibench-score-v1"
#: ``training.split.protocol`` of scored results: their dev/test split is the user's.
SPLIT_PROTOCOL = "external-predictions"


@dataclass(frozen=True)
class SeedPredictions:
    seed: int
    dev: Predictions
    test: Predictions


@dataclass
class ScoreSummary:
    records: list[dict[str, Any]] = field(default_factory=list)
    computed: int = 0
    reused: int = 0


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _read_many(paths: Sequence[str], labels: Sequence[str] | None, flag: str) -> list[dict[int | None, Predictions]]:
    if labels and len(labels) != len(paths):
        raise PredictionFileError(
            f"give one {flag}-labels file per {flag} file ({len(paths)} {flag}, {len(labels)} labels)"
        )
    return [read_predictions(p, labels[i] if labels else None) for i, p in enumerate(paths)]


def collect_seeds(
    dev: Sequence[str],
    test: Sequence[str],
    *,
    dev_labels: Sequence[str] | None = None,
    test_labels: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
) -> list[SeedPredictions]:
    """Pair dev and test prediction sets by seed: files pair by position (seeds 0, 1, ... or
    ``seeds``), unless the files carry a seed field, which then must match between dev and test."""
    if not dev or not test:
        raise PredictionFileError("give at least one --dev and one --test file")
    if len(dev) != len(test):
        raise PredictionFileError(
            f"give one --test file per --dev file (one pair per seed): got {len(dev)} --dev and {len(test)} --test"
        )
    devs, tests = _read_many(dev, dev_labels, "--dev"), _read_many(test, test_labels, "--test")
    positional = [None in d or None in t for d, t in zip(devs, tests)]
    if any(positional) and not all(None in d and None in t for d, t in zip(devs, tests)):
        raise PredictionFileError(
            "either every --dev and --test file has a seed field or none has; "
            "without one, files pair by position (seeds 0, 1, ... or --seeds)"
        )
    out: list[SeedPredictions] = []
    if all(positional):
        chosen = list(seeds) if seeds is not None else list(range(len(dev)))
        if len(chosen) != len(dev):
            raise PredictionFileError(f"--seeds lists {len(chosen)} seed(s) for {len(dev)} --dev/--test pair(s)")
        out = [SeedPredictions(s, d[None], t[None]) for s, d, t in zip(chosen, devs, tests)]
    else:
        if seeds is not None:
            raise PredictionFileError("the files carry their own seed field; leave out --seeds")
        for d, t in zip(devs, tests):
            if set(d) != set(t):
                raise PredictionFileError(
                    f"dev and test seeds differ: {sorted(d)} in {next(iter(d.values())).source} "
                    f"vs {sorted(t)} in {next(iter(t.values())).source}"
                )
            out += [SeedPredictions(int(s), d[s], t[s]) for s in sorted(d)]  # type: ignore[arg-type]
    seen = [p.seed for p in out]
    dup = sorted({s for s in seen if seen.count(s) > 1})
    if dup:
        raise PredictionFileError(f"seed(s) {dup} given more than once")
    first = out[0]
    for p in out:
        if p.dev.logits.shape[1] != p.test.logits.shape[1]:
            raise PredictionFileError(
                f"shape mismatch: {p.dev.source} has {p.dev.logits.shape[1]} classes but "
                f"{p.test.source} has {p.test.logits.shape[1]}"
            )
        for split in ("dev", "test"):
            a, b = getattr(first, split), getattr(p, split)
            if (
                a.labels.shape != b.labels.shape
                or not np.array_equal(a.labels, b.labels)
                or a.logits.shape[1] != b.logits.shape[1]
            ):
                raise PredictionFileError(
                    f"{b.source}: its {split} labels (or classes) differ from {a.source}'s; every seed must predict "
                    "the same examples in the same order"
                )
    return sorted(out, key=lambda p: p.seed)


def _check_method(method: Any) -> None:
    from calibench.methods.compose import DEFAULT_INFERENCE, DEFAULT_RECIPE

    if method.recipe.name != DEFAULT_RECIPE or method.recipe.options:
        raise PredictionFileError(
            f"method {method.label!r}: saved logits cannot be retrained (recipe {method.recipe}); "
            "calibench score takes baseline (the logits as they are) or calibrators such as temp-scaling"
        )
    if method.inference.name != DEFAULT_INFERENCE or method.inference.options:
        raise PredictionFileError(
            f"method {method.label!r}: inference {method.inference} needs the model; saved logits are one deterministic pass"
        )
    if method.calibrator is not None:
        cal = method.calibrator.instantiate("calibrator")
        if cal.fit_on != "dev":
            raise PredictionFileError(
                f"method {method.label!r}: calibench score fits calibrators on the --dev predictions "
                f"(fit_on={cal.fit_on} is not available)"
            )


def score(
    sets: Sequence[SeedPredictions],
    methods: str | list[str],
    *,
    task: str,
    output_dir: str | Path,
    model: str = "external",
    task_metric: str = "accuracy",
    metric_options: dict[str, Any] | None = None,
    command: str = "",
) -> ScoreSummary:
    """Fit every method's calibrator on each seed's dev predictions, score its test predictions,
    and store the results (reused where the same inputs were scored before)."""
    from calibench.execution.evaluate import evaluate_method, result_key
    from calibench.methods.compose import parse_methods
    from calibench.metrics import evaluation_specs
    from calibench.records import PartRecord, ResultRecord
    from calibench.store.db import Store

    metric_options = dict(metric_options or {})
    evaluation_specs(task_metric, **metric_options)  # unknown task metric or option: fail before any work
    specs = parse_methods(methods)
    for m in specs:
        _check_method(m)
    first = sets[0]
    fingerprint = "ext-" + _digest(first.dev.labels, first.test.labels)[:16]
    summary = ScoreSummary()
    # each calibrator resolved once, as the planner does for a run; fit() refits it per seed
    calibrators = [m.calibrator.instantiate("calibrator") if m.calibrator else None for m in specs]
    store = Store(output_dir)
    try:
        for p in sets:
            identity = np.frombuffer(f"{SCORE_PROTOCOL}\x1f{task}\x1f{model}".encode(), np.uint8)
            prediction_key = "ext-" + _digest(p.dev.logits, p.dev.labels, p.test.logits, p.test.labels, identity)[:24]
            arrays = {
                "dev_logits": p.dev.logits,
                "dev_labels": p.dev.labels,
                "test_logits": p.test.logits,
                "test_labels": p.test.labels,
            }
            for m, calibrator in zip(specs, calibrators):
                cal_id = calibrator.identity() if calibrator is not None else None
                rkey = result_key(m, prediction_key, cal_id, {"task_metric": task_metric, **metric_options})
                stored = store.result(rkey)
                if stored is not None:  # the same inputs, task, model and method were scored before
                    summary.records.append(stored)
                    summary.reused += 1
                    continue
                probs, metrics, cal_record = evaluate_method(m, calibrator, arrays, task_metric, metric_options)
                store.artifacts.write(
                    "probs", rkey, arrays={"test_probs": probs.astype("float32"), "test_labels": p.test.labels}
                )
                record = ResultRecord(
                    key=rkey,
                    method=m.label,
                    recipe=PartRecord(m.recipe.name),
                    inference=PartRecord(m.inference.name),
                    calibrator=cal_record,
                    task=task,
                    seed=p.seed,
                    model=model,
                    fingerprint=fingerprint,
                    training_key=prediction_key,
                    prediction_key=prediction_key,
                    metrics=metrics,
                    n_test=len(p.test.labels),
                    config={
                        "external": {
                            "dev": p.dev.source,
                            "test": p.test.source,
                            "command": command,
                            "protocol": SCORE_PROTOCOL,
                        },
                        "model": model,
                        "data": {"task": task, "fingerprint": fingerprint},
                        "seed": p.seed,
                    },
                    training={
                        "split": {
                            "protocol": SPLIT_PROTOCOL,
                            "fingerprint": fingerprint,
                            "n_dev": len(p.dev.labels),
                            "n_test": len(p.test.labels),
                            "n_train": None,
                        }
                    },
                ).to_json()
                store.put_result(rkey, record)
                summary.records.append(record)
                summary.computed += 1
    finally:
        store.close()
    return summary
