"""The job fits each inference procedure once, before it predicts, on the training set and the
dev half; the test half is never handed to ``fit`` (last-layer Laplace's prior precision relies on it)."""

from __future__ import annotations

import numpy as np

from calibench import registry
from calibench.config import DataSpec, Hyper, TrainingSpec
from calibench.execution import jobs
from calibench.methods.inference import Deterministic


def test_fit_sees_the_training_set_and_the_dev_half_only_and_its_params_are_recorded(
    tiny_bert, shared_glue_dir, monkeypatch
):
    calls: list[tuple] = []

    class Spy(Deterministic):
        def fit(self, model, ctx, dev):
            calls.append(("fit", ctx.train, dev))
            return self

        def predict(self, model, loader, ctx):
            calls.append(("predict", loader))
            return super().predict(model, loader, ctx)

        def fitted_params(self):
            return {"calls_before_record": len(calls)}

    real_create = registry.create  # the job builds every part through registry.create (i14)
    monkeypatch.setattr(
        jobs.registry, "create", lambda kind, name, **o: Spy(**o) if name == "spy" else real_create(kind, name, **o)
    )
    spec = TrainingSpec(
        data=DataSpec("rte", train_size=16, data_dir=str(shared_glue_dir)),
        recipe="baseline",
        model=tiny_bert,
        hyper=Hyper(batch_size=8, max_steps=1, max_length=32, precision="fp32"),
        inferences=(("spy", ()),),
    )
    out = jobs.run_training(spec)
    _, enc = jobs.build_context(spec)

    assert [c[0] for c in calls] == ["fit", "predict", "predict"]
    _, train, dev = calls[0]
    assert train.input_ids == enc["train"].input_ids
    assert dev.input_ids == enc["dev"].input_ids and np.array_equal(dev.labels, enc["dev"].labels)
    assert dev.input_ids != enc["test"].input_ids
    assert calls[1][1] is dev and calls[2][1].input_ids == enc["test"].input_ids  # then dev, then test
    (pkey,) = out.predictions
    assert out.record["inference_params"] == {pkey: {"calls_before_record": 3}}
