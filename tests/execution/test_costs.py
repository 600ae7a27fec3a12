"""The dry run's cost model: timings recorded, exported, read back, and scaled honestly."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from _tiny_run import tiny_run_args

from calibench.cli import main
from calibench.execution.costs import (
    DEFAULT,
    DEFAULT_TRAIN_S_PER_EXAMPLE,
    EXTRAPOLATED,
    MEASURED,
    CostModel,
    Planned,
    Timing,
    _signature,
    compute_line,
    fmt_seconds,
    timing_table,
    timings_from_results,
    timings_from_store,
    training_timings,
)

METHODS = "baseline,temp-scaling,mc-dropout(passes=2)"


@pytest.fixture(scope="module")
def timed_store(tmp_path_factory: pytest.TempPathFactory, tiny_bert: str, glue_dir: str) -> tuple[Path, Path]:
    """One tiny RTE baseline training (seed 0), with its export."""
    root = tmp_path_factory.mktemp("costs")
    store, results = root / "store", root / "results"
    args = tiny_run_args(task="rte", train_size=48, steps=4, batch_size=8, max_length=64, seeds=1)
    assert (
        main(["run", "--methods", METHODS, *args, "--model", tiny_bert, "--data-dir", glue_dir, "-o", str(store)]) == 0
    )
    assert main(["export", "-o", str(store), "--output", str(results)]) == 0
    return store, results


def test_exports_carry_the_training_timings(timed_store: tuple[Path, Path]) -> None:
    store, results = timed_store
    [from_store] = timings_from_store(store)
    [from_export] = timings_from_results(results)  # three methods, one training: counted once
    assert replace(from_export, source="") == replace(from_store, source="")
    assert from_store.train_s > 0 and from_store.examples == 4 * 8 and from_store.steps == 4
    # dev + test halves of RTE (138 + 138 rows), deterministic once and MC dropout twice
    assert from_store.predict_units == 3 * 276
    assert from_store.words and from_store.words > 20  # RTE pairs are long
    assert from_store.fixed_s is not None and from_store.fixed_s >= 0


def test_timings_command_prints_the_table(timed_store: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _store, results = timed_store
    assert main(["timings", str(results)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["task", "recipe", "n_train", "n"]
    assert out[1].split()[:4] == ["rte", "baseline", "48", "1"]
    [total] = [line for line in out if line.startswith("total:")]
    assert total.startswith("total: 1 distinct trainings (0 of them ensemble members past the first), ")


def test_the_compute_total_counts_each_training_once_and_the_members_only_an_ensemble_has(
    timed_store: tuple[Path, Path],
) -> None:
    _store, results = timed_store
    [timed] = timings_from_results(results)
    members = {timed.training_key: 5.0, "member-1": 100.0, "member-2": None}  # the first is the timed training
    assert compute_line([timed], {}) == (
        f"total: 1 distinct trainings (0 of them ensemble members past the first), {fmt_seconds(timed.total_s)} of job time"
    )
    assert compute_line([timed], members) == (
        "total: 3 distinct trainings (2 of them ensemble members past the first), "
        f"{fmt_seconds(timed.total_s + 100.0)} of job time; 1 recorded no total and are not counted"
    )


def test_dry_run_estimates_skips_done_work_and_calibrates_from_exports(
    timed_store: tuple[Path, Path], tiny_bert: str, glue_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, results = timed_store
    args = tiny_run_args(task="rte", train_size=48, steps=4, batch_size=8, max_length=64, seeds=2)
    common = ["run", "--methods", METHODS, *args, "--model", tiny_bert, "--data-dir", glue_dir, "--dry-run"]
    assert main([*common, "-o", str(store)]) == 0
    out = capsys.readouterr().out
    assert "rte      baseline                 2 training(s), 1 done (skipped): 1 x" in out
    assert "train" in out and "measured: mean of 1 timed" in out
    assert "evaluations: 3 to compute (3 stored)" in out
    assert "total: 1 training(s) to run (1 done, skipped)" in out
    # a fresh machine: an empty store, only the exported results to learn from
    assert main([*common, "-o", str(tmp_path / "fresh"), "--timings-from", str(results)]) == 0
    out = capsys.readouterr().out
    assert "2 training(s): 2 x" in out and "measured: mean of 1 timed" in out
    assert "total: 2 training(s) to run (0 done, skipped)" in out
    assert not (tmp_path / "fresh").exists()  # a dry run writes nothing


def _timing(task: str = "rte", recipe: str = "baseline", steps: int = 10, train_s: float = 10.0, **kw) -> Timing:
    base = dict(
        training_key=f"{task}-{recipe}-{steps}",
        task=task,
        recipe=recipe,
        recipe_options="{}",
        model="m",
        train_size=100,
        n_train=100,
        batch_size=10,
        max_length=64,
        steps=steps,
        examples=steps * 10,
        words=50.0,
        eval_words=50.0,
        train_s=train_s,
        noise_lm_s=0.0,
        noise_sampling_s=0.0,
        noise_wait_s=0.0,
        noise_samples=None,
        noise_group=None,
        predict_s=2.0,
        predict_units=200,
        total_s=train_s + 5.0,
        source="test",
    )
    return Timing(**{**base, **kw})


def _planned(task: str = "rte", recipe: str = "baseline", steps: int = 10, words: float = 50.0) -> Planned:
    return Planned(
        task=task,
        recipe=recipe,
        recipe_options="{}",
        model="m",
        signature=_signature(task, recipe, "{}", "m", 100, steps, 10, 64),
        examples=steps * 10,
        n_train=100,
        words=words,
        eval_words=words,
        predict_units=200,
        noise_group=None,
        noise_samples=None,
    )


def test_the_model_measures_scales_and_falls_back_to_stated_defaults() -> None:
    model = CostModel([_timing(train_s=10.0), _timing(train_s=14.0, training_key="b")])
    exact = model.train(_planned())
    assert (exact.basis, exact.seconds) == (MEASURED, 12.0)
    longer = model.train(_planned(steps=30))  # 3x the examples: 3x the loop
    assert longer.basis == EXTRAPOLATED and longer.seconds == pytest.approx(36.0)
    other_task = model.train(_planned(task="cola", words=25.0))  # half the words per example
    assert other_task.basis == EXTRAPOLATED and other_task.seconds == pytest.approx(6.0)
    assert "by example x words" in other_task.how
    unknown = CostModel([_timing(words=None)]).train(_planned(task="cola", steps=20))  # a record without word counts
    assert unknown.basis == EXTRAPOLATED and unknown.seconds == pytest.approx(20.0) and "lengths unknown" in unknown.how
    ebm = model.train(_planned(recipe="ebm-hidden"))  # baseline timed here, EBM nowhere
    assert ebm.basis == EXTRAPOLATED and ebm.seconds == pytest.approx(12.0 * 2.5) and "default factor" in ebm.how
    nothing = CostModel([]).train(_planned(steps=30))
    assert nothing.basis == DEFAULT and nothing.seconds == pytest.approx(DEFAULT_TRAIN_S_PER_EXAMPLE * 300)
    assert model.fixed(_planned()).basis == MEASURED and model.fixed(_planned()).seconds == pytest.approx(5.0 - 2.0)


def test_noise_seconds_belong_to_the_training_that_paid_them() -> None:
    spec = {"inferences": [["deterministic", {}]], "need_train_logits": False}
    corpus = {"noise_model_train_seconds": 100.0, "generation_seconds": 20.0, "count": 400}
    trained = {"train_log": {"seconds": 5.0, "steps": 4, "examples": 32}, "split": {"n_dev": 3, "n_test": 3}}
    first = training_timings(
        spec,
        {
            **trained,
            "recipe_record": {"noise_corpus": {**corpus, "from_cache": False, "noise_model_source": "trained"}},
        },
    )  # noqa: E501
    later = training_timings(
        spec,
        {
            **trained,
            "recipe_record": {
                "noise_corpus": {**corpus, "from_cache": True, "noise_model_source": "trained", "wait_seconds": 700.0}
            },
        },
    )
    resampled = training_timings(
        spec,
        {**trained, "recipe_record": {"noise_corpus": {**corpus, "from_cache": False, "noise_model_source": "cache"}}},
    )  # noqa: E501
    assert (first["noise_lm_seconds"], first["noise_sampling_seconds"], first["noise_samples"]) == (100.0, 20.0, 400)
    assert (later["noise_lm_seconds"], later["noise_sampling_seconds"], later["noise_samples"]) == (0.0, 0.0, None)
    assert (resampled["noise_lm_seconds"], resampled["noise_sampling_seconds"]) == (0.0, 20.0)
    assert (first["noise_wait_seconds"], later["noise_wait_seconds"]) == (0.0, 700.0)
    assert first["predict_units"] == 6


def test_waiting_for_a_concurrent_noise_build_is_not_a_trainings_fixed_cost() -> None:
    waited = _timing(train_s=10.0, total_s=800.0, noise_wait_s=700.0)  # predict 2 s
    assert waited.fixed_s == pytest.approx(88.0)
    plain = _timing(train_s=10.0, total_s=800.0)
    assert plain.fixed_s == pytest.approx(788.0)


def test_timing_table_groups_by_task_recipe_and_size() -> None:
    rows = timing_table([_timing(train_s=10.0), _timing(train_s=20.0, training_key="b"), _timing(task="cola")])
    assert [(r.task, r.recipe, r.n) for r in rows] == [("cola", "baseline", 1), ("rte", "baseline", 2)]
    assert (rows[1].mean, rows[1].min, rows[1].max) == (20.0, 15.0, 25.0)


def test_results_evaluated_before_timings_were_kept_export_them_from_the_training(
    timed_store: tuple[Path, Path], tmp_path: Path
) -> None:
    import json
    import shutil
    import sqlite3

    store = tmp_path / "old"
    shutil.copytree(timed_store[0], store)
    con = sqlite3.connect(store / "calibench.sqlite")
    for key, text in con.execute("SELECT key, record FROM results").fetchall():
        record = json.loads(text)
        del record["training"]["timings"], record["eval_seconds"]  # as an older calibench stored it
        con.execute("UPDATE results SET record = ? WHERE key = ?", (json.dumps(record), key))
    con.commit()
    con.close()
    assert main(["export", "-o", str(store), "--output", str(tmp_path / "res")]) == 0
    [old] = timings_from_results(tmp_path / "res")
    [new] = timings_from_results(timed_store[1])
    assert replace(old, source="") == replace(new, source="")
