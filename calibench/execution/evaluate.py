"""Scoring one method on stored logits: fit its calibrator, predict test, compute metrics.

Cheap and deterministic: never retrains. Every metric carries its estimator string.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import softmax

from calibench.config import config_hash
from calibench.methods.compose import MethodSpec

#: bumped when metric definitions change, so stored evaluations are recomputed
#: (v3: the paper's ECE, SmoothECE, debiased L2 CE and the selective metrics join every result)
EVAL_PROTOCOL = "calibench-eval-v3"


def result_key(method: MethodSpec, prediction_key: str, calibrator_identity: dict[str, Any] | None,
               metric_options: dict[str, Any]) -> str:
    return config_hash({"protocol": EVAL_PROTOCOL, "method": method.label, "prediction": prediction_key,
                        "calibrator": calibrator_identity, "metrics": metric_options})


def calibrate(method: MethodSpec, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, Any] | None]:
    """Test probabilities for ``method`` from its prediction arrays, and the calibrator's record."""
    test_logits = arrays["test_logits"].astype(np.float64)
    if method.calibrator is None:
        return softmax(test_logits, axis=1), None
    cal = method.calibrator.instantiate("calibrator")
    split = cal.fit_on
    if f"{split}_logits" not in arrays:
        raise KeyError(f"{method.label}: calibrator wants {split} logits, which this prediction lacks")
    cal.fit(arrays[f"{split}_logits"].astype(np.float64), arrays[f"{split}_labels"])
    probs = cal.predict_proba(test_logits)
    return probs, {"name": method.calibrator.name, "identity": cal.identity(), "params": cal.fitted_params()}


def evaluate_method(method: MethodSpec, arrays: dict[str, np.ndarray], task_metric: str,
                    metric_options: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any], dict[str, Any] | None]:
    """``(test_probs, metrics, calibrator_record)`` for one method on one prediction."""
    from calibench.metrics import evaluate

    probs, cal_record = calibrate(method, arrays)
    # metrics are computed on exactly the float32 probabilities that are stored and exported,
    # so anyone can recompute every stored number from them, bit for bit
    probs = probs.astype(np.float32)
    metrics = evaluate(probs.astype(np.float64), arrays["test_labels"], task_metric, **metric_options)
    return probs, metrics, cal_record
