"""The planner resolves each method part once; the driver and the evaluation stage reuse it."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from fake_jobs import fake_output
from scipy.special import softmax

from calibench.config import Hyper
from calibench.execution.driver import run_trainings
from calibench.execution.evaluate import run_evaluations
from calibench.execution.planner import make_plan
from calibench.methods.base import Calibrator
from calibench.methods.compose import parse_methods
from calibench.store.db import Store


class Counting(Calibrator):
    """Counts how often it is built."""

    built: ClassVar[int] = 0
    defaults: ClassVar[dict[str, Any]] = {"fit_on": "dev", "power": 1.0}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        type(self).built += 1
        self.fitted = False

    def fit(self, logits: np.ndarray, labels: np.ndarray) -> Counting:
        assert not self.fitted, "one instance fitted twice: evaluations must not share fitted state"
        self.fitted = True
        return self

    def predict_proba(self, logits: np.ndarray) -> np.ndarray:
        return softmax(np.asarray(logits) * self.options["power"], axis=1)


def test_each_calibrator_is_built_once_by_the_planner(tmp_path, shared_glue_dir, restore_registry):
    restore_registry.register("calibrator", "counting", Counting, source="test")
    Counting.built = 0
    plan = make_plan(
        parse_methods("counting,counting(power=2.0)"),
        ["rte"],
        [0, 1, 2],
        model="minilm",
        hyper_for=lambda t: Hyper(),
        train_size=64,
        data_dir=str(shared_glue_dir),
    )
    assert Counting.built == 2 and len(plan.evaluations) == 6  # two methods, three seeds each
    store = Store(tmp_path / "store")
    summary = run_trainings(plan, store, lambda spec: fake_output(spec))
    assert Counting.built == 2
    run_evaluations(plan, store, summary, {})
    assert summary.evaluated == 6 and Counting.built == 2
    calibrators = {r["method"]: r["calibrator"]["identity"]["power"] for r in store.results()}
    assert calibrators == {"counting": 1.0, "counting(power=2.0)": 2.0}
