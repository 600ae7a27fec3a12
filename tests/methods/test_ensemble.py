"""Deep ensembles: member seeds, the combination rule, and the planner's reuse of trainings.

The planner tests use the real GLUE slice for the plan and a fake job (seeded logits, the
same labels for every member) for the trainings, so the whole plan -> train -> evaluate path
runs in about a second.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_softmax, softmax

from calibench.config import Hyper, TrainingSpec, inference_key
from calibench.execution.driver import Summary, run_trainings
from calibench.execution.evaluate import evaluate_method, run_evaluations
from calibench.execution.jobs import TrainingOutput
from calibench.execution.planner import make_plan
from calibench.methods.compose import parse_method, parse_methods
from calibench.methods.ensemble import (
    MEMBER_SEED_STRIDE,
    Ensemble,
    combine_logits,
    combine_predictions,
    member_seed,
)
from calibench.store.db import Store

HYPER = Hyper(max_steps=2, epochs=None, precision="fp32")


# -- member seeds ---------------------------------------------------------------------------
def test_member_zero_is_the_run_seed_and_members_of_different_seeds_never_overlap():
    ens = Ensemble(members=5)
    seeds = {s: ens.member_seeds(s) for s in range(50)}
    assert all(ms[0] == s for s, ms in seeds.items())  # reusable: the plain training of seed s
    flat = [x for ms in seeds.values() for x in ms]
    assert len(flat) == len(set(flat)) == 250
    assert member_seed(7, 2) == 7 + 2 * MEMBER_SEED_STRIDE


def test_a_run_seed_at_or_above_the_stride_is_refused_with_the_way_out():
    with pytest.raises(ValueError, match="run seeds in 0..999999.*smaller --seeds"):
        Ensemble(members=2).member_seeds(MEMBER_SEED_STRIDE)


def test_options_are_validated_and_the_members_inference_resolved():
    with pytest.raises(ValueError, match="members must be an integer in 1..1000"):
        Ensemble(members=0)
    with pytest.raises(ValueError, match="cannot itself be an ensemble"):
        Ensemble(inference="ensemble")
    ens = parse_method("ensemble(members=3,inference=mc-dropout(passes=4))").inference.instantiate("inference")
    assert ens.options == {"members": 3, "inference": "mc-dropout(passes=4)"}
    assert ens.member_inference_name == "mc-dropout" and ens.member_inference.options == {"passes": 4}


def test_ensemble_takes_the_inference_slot_of_any_recipe_and_composes_with_a_calibrator():
    m = parse_method("ebm-hidden+ensemble(members=3)+temp-scaling")
    assert (m.recipe.name, m.inference.name, m.inference.opts, m.calibrator.name) == (
        "ebm-hidden",
        "ensemble",
        {"members": 3},
        "temp-scaling",
    )
    assert parse_method("ensemble(members=3)").recipe.name == "baseline"


# -- the combination ------------------------------------------------------------------------
def test_the_combination_is_the_log_of_the_mean_probability():
    rng = np.random.default_rng(0)
    members = [rng.normal(scale=3, size=(40, 3)) for _ in range(4)]
    combined = combine_logits(members)
    np.testing.assert_allclose(np.exp(combined).sum(axis=1), 1.0, atol=1e-12)  # log-probabilities
    np.testing.assert_allclose(
        softmax(combined, axis=1), np.mean([softmax(z, axis=1) for z in members], axis=0), atol=1e-12
    )


def test_an_ensemble_of_identical_members_equals_one_member():
    rng = np.random.default_rng(1)
    z = rng.normal(scale=4, size=(60, 2))
    labels = rng.integers(0, 2, 60)
    one = {"dev_logits": z, "dev_labels": labels, "test_logits": z[::-1].copy(), "test_labels": labels[::-1].copy()}
    ens = combine_predictions([dict(one) for _ in range(3)])
    np.testing.assert_allclose(ens["test_logits"], log_softmax(one["test_logits"], axis=1), atol=1e-12)
    for method in ("baseline", "temp-scaling"):  # the calibrator is fitted on the ensemble's dev half
        m = parse_method(method)
        p1, m1, c1 = evaluate_method(m, m.calibrator and m.calibrator.instantiate("calibrator"), one, "accuracy", {})
        p3, m3, c3 = evaluate_method(m, m.calibrator and m.calibrator.instantiate("calibrator"), ens, "accuracy", {})
        np.testing.assert_allclose(p3, p1, atol=1e-6)
        assert {k: round(v["value"], 6) for k, v in m3.items()} == {k: round(v["value"], 6) for k, v in m1.items()}
        if c1:
            assert c3["params"]["temperature"] == pytest.approx(c1["params"]["temperature"], rel=1e-5)


def test_members_that_saw_different_labels_are_refused():
    a = {"test_logits": np.zeros((3, 2)), "test_labels": np.array([0, 1, 0])}
    b = {"test_logits": np.zeros((3, 2)), "test_labels": np.array([1, 1, 0])}
    with pytest.raises(ValueError, match="disagree on the test labels"):
        combine_predictions([a, b])


# -- the planner and the evaluation ---------------------------------------------------------
class FakeJob:
    """Seeded logits per training (identical across seeds if ``identical``); the same labels for all."""

    def __init__(self, identical: bool = False) -> None:
        self.identical = identical
        self.trained: list[int] = []

    def __call__(self, spec: TrainingSpec) -> TrainingOutput:
        self.trained.append(spec.seed)
        labels = np.random.default_rng(123).integers(0, 2, size=30)
        rng = np.random.default_rng(0 if self.identical else spec.seed)
        splits = ["dev", "test"] + (["train"] if spec.need_train_logits else [])
        arrays = {}
        for split in splits:
            arrays[f"{split}_logits"] = rng.normal(scale=3, size=(30, 2)).astype("float32")
            arrays[f"{split}_labels"] = labels
        preds = {
            inference_key(spec.key, name, dict(opts)): {
                "inference": name,
                "options": dict(opts),
                "arrays": arrays,
                "splits": splits,
            }
            for name, opts in spec.inferences
        }
        return TrainingOutput(key=spec.key, predictions=preds, record={"training_key": spec.key})


def plan_of(methods: str, seeds: list[int], glue_dir: str):
    return make_plan(
        parse_methods(methods),
        ["rte"],
        seeds,
        model="minilm",
        hyper_for=lambda t: HYPER,
        train_size=16,
        data_dir=glue_dir,
    )


def test_the_planner_reuses_member_trainings_and_a_rerun_trains_nothing(tmp_path, glue_dir):
    plan = plan_of("baseline,ensemble(members=3),ensemble(members=3)+temp-scaling", [0, 1], glue_dir)
    # seeds 0 and 1 are baseline's and each ensemble's member 0; members 1 and 2 are new: 2 + 2*2
    assert len(plan.trainings) == 6
    assert sorted(s.seed for s in plan.trainings) == sorted(
        [0, 1, MEMBER_SEED_STRIDE, MEMBER_SEED_STRIDE + 1, 2 * MEMBER_SEED_STRIDE, 2 * MEMBER_SEED_STRIDE + 1]
    )
    assert len(plan.evaluations) == 6
    store, job = Store(tmp_path), FakeJob()
    summary = run_trainings(plan, store, job)
    assert len(summary.trained) == 6 and len(job.trained) == 6
    run_evaluations(plan, store, summary, {})
    rows = {(r["method"], r["seed"]): r for r in store.results()}
    ens = rows[("ensemble(members=3)", 1)]
    assert [m["seed"] for m in ens["members"]] == [1, MEMBER_SEED_STRIDE + 1, 2 * MEMBER_SEED_STRIDE + 1]
    assert all("seconds" in m for m in ens["members"])  # what each member cost (the fake job records none)
    assert ens["training_key"] == rows[("baseline", 1)]["training_key"] == ens["members"][0]["training_key"]
    assert ens["inference"] == {"name": "ensemble", "options": {"members": 3, "inference": "deterministic"}}
    assert ens["seed"] == 1 and ens["metrics"]["nll"]["value"] != rows[("baseline", 1)]["metrics"]["nll"]["value"]

    again = plan_of("baseline,ensemble(members=3),ensemble(members=3)+temp-scaling", [0, 1], glue_dir)
    rerun = FakeJob()
    summary = run_trainings(again, store, rerun)
    run_evaluations(again, store, summary, {})
    assert rerun.trained == [] and len(summary.skipped) == 6
    assert summary.evaluated == 0 and summary.reused_evaluations == 6


def test_scoring_after_a_training_looks_only_at_the_methods_it_completes(tmp_path, glue_dir):
    """The early pass after each finished training (api.run) scores that training's methods and
    the ensembles it is a member of, and leaves every other stored result alone."""
    plan = plan_of("baseline,temp-scaling,label-smoothing,ensemble(members=2)", [0], glue_dir)
    store = Store(tmp_path)
    run_trainings(plan, store, FakeJob())
    by_recipe = {s.recipe: s.key for s in plan.trainings if s.seed == 0}
    member = next(s.key for s in plan.trainings if s.seed == MEMBER_SEED_STRIDE)
    assert [ev.method.label for ev in plan.evaluations_after(member)] == ["ensemble(members=2)"]

    first = Summary()
    run_evaluations(plan, store, first, {}, after=by_recipe["label-smoothing"])
    assert first.evaluated == 1 and [r["method"] for r in store.results()] == ["label-smoothing"]
    second = Summary()
    run_evaluations(plan, store, second, {}, after=by_recipe["baseline"])
    assert second.evaluated == 3 and second.reused_evaluations == 0  # label-smoothing's not looked at
    assert sorted(r["method"] for r in store.results()) == sorted(
        ["baseline", "temp-scaling", "label-smoothing", "ensemble(members=2)"]
    )
    final = Summary()
    run_evaluations(plan, store, final, {})
    assert final.evaluated == 0 and final.reused_evaluations == 4


def test_an_ensemble_of_identical_trainings_scores_exactly_as_one_training(tmp_path, glue_dir):
    plan = plan_of("baseline,temp-scaling,ensemble(members=4),ensemble(members=4)+temp-scaling", [0], glue_dir)
    store = Store(tmp_path)
    summary = run_trainings(plan, store, FakeJob(identical=True))
    run_evaluations(plan, store, summary, {})
    rows = {r["method"]: r["metrics"] for r in store.results()}
    for single, ens in (("baseline", "ensemble(members=4)"), ("temp-scaling", "ensemble(members=4)+temp-scaling")):
        for name, metric in rows[single].items():
            assert rows[ens][name]["value"] == pytest.approx(metric["value"], abs=1e-6), (ens, name)


def test_members_are_trainings_of_the_ensembles_recipe_and_get_what_its_calibrator_needs(glue_dir):
    plan = plan_of("ebm-hidden(k=1)+ensemble(members=2)+temp-scaling(fit_on=train)", [0], glue_dir)
    assert [(s.recipe, s.recipe_options["k"], s.need_train_logits) for s in plan.trainings] == [
        ("ebm-hidden", 1, True)
    ] * 2
    plan = plan_of("ensemble(members=2,inference=mc-dropout(passes=3))", [0], glue_dir)
    assert all(s.inferences == (("mc-dropout", (("passes", 3),)),) for s in plan.trainings)


def test_ensemble_seeds_out_of_range_fail_before_any_data_is_read():
    with pytest.raises(ValueError, match="run seeds in 0..999999"):
        make_plan(
            parse_methods("ensemble(members=2)"),
            ["rte"],
            [MEMBER_SEED_STRIDE],
            model="minilm",
            hyper_for=lambda t: HYPER,
            train_size=16,
            data_dir="/nonexistent",
        )
