"""The leaderboard model: every number against an independent computation, and every refusal."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from calibench.metrics import evaluation_specs, metric_fn, metric_spec, parse_estimator
from calibench.report.leaderboard import LeaderboardOptions, _stable_seed, build_leaderboard
from calibench.report.runs import (
    LeaderboardError,
    Run,
    metric_disagreements,
    select_runs,
    spec_from_estimator,
)
from calibench.stats import holm, nemenyi_cd, paired_bootstrap

METHODS = ("baseline", "temp-scaling", "copy", "sharpened")


@pytest.fixture(scope="module")
def runs(make_runs):
    return make_runs(methods=METHODS, n=400)


@pytest.fixture(scope="module")
def board_ece_acc(runs):
    return build_leaderboard(runs, LeaderboardOptions(metrics=("ece", "accuracy")))


def _seed_values(runs, task, method, key="ece"):
    fn = metric_fn(key)
    sel = sorted((r for r in runs if r.task == task and r.method == method), key=lambda r: r.seed)
    return np.array([fn(r.probs, r.labels) for r in sel]), sel


def test_cells_are_seed_means_with_t_intervals(runs, board_ece_acc):
    board = board_ece_acc.board("ece")
    for task in board_ece_acc.tasks:
        for method in METHODS:
            values, _ = _seed_values(runs, task, method)
            cell = board.cells[(task, method)]
            assert cell.values == pytest.approx(values, abs=0)
            assert cell.mean == pytest.approx(values.mean(), rel=1e-15)
            t = sps.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=sps.sem(values))
            assert (cell.seed_interval.low, cell.seed_interval.high) == pytest.approx(t, rel=1e-12)
            assert cell.bootstrap_low < cell.bootstrap_high


def test_bootstrap_interval_resamples_examples_shared_across_seeds(runs):
    """The cell's bootstrap interval: the seed mean of the metric on shared example resamples."""
    lb = build_leaderboard(runs, LeaderboardOptions(metrics=("nll",), n_resamples=200, ci="bootstrap"))
    cell = lb.board("nll").cells[("rte", "baseline")]
    _, sel = _seed_values(runs, "rte", "baseline", "nll")
    # NLL is a mean of per-example losses: the statistic is the mean over examples of the
    # per-example seed-mean loss, which scipy can bootstrap directly with the same resamples.
    per_example = np.mean(
        [-np.log(r.probs.astype(np.float64)[np.arange(len(r.labels)), r.labels]) for r in sel], axis=0
    )
    rng = np.random.default_rng(_stable_seed(0, "cell", metric_spec("nll").estimator, "rte"))
    ref = sps.bootstrap((per_example,), np.mean, n_resamples=200, method="percentile", rng=rng, vectorized=True)
    assert (cell.bootstrap_low, cell.bootstrap_high) == pytest.approx(
        (ref.confidence_interval.low, ref.confidence_interval.high), rel=1e-9
    )
    assert lb.ci == "bootstrap"
    assert cell.bootstrap_low < cell.mean < cell.bootstrap_high  # NLL is a mean: no resampling bias


def test_comparisons_tests_and_holm_over_the_whole_board(runs, board_ece_acc):
    lb = board_ece_acc
    family = []
    for board in lb.boards:
        for (task, method), comp in sorted(board.comparisons.items()):
            assert method != "baseline" and comp.reference == "baseline"
            a, sel_a = _seed_values(runs, task, method, board.metric)
            b, sel_b = _seed_values(runs, task, "baseline", board.metric)
            seed = _stable_seed(0, "paired", metric_spec(board.metric).estimator, task)
            boot = paired_bootstrap(
                [r.probs for r in sel_a],
                [r.probs for r in sel_b],
                sel_a[0].labels,
                board.metric,
                n_resamples=1000,
                seed=seed,
            )
            assert comp.pvalue == boot.pvalue
            assert comp.difference == pytest.approx(a.mean() - b.mean(), abs=1e-12)
            if np.any(a != b):
                assert comp.seed_tests.t_test.pvalue == pytest.approx(sps.ttest_rel(a, b).pvalue, rel=1e-12)
            family.append((board.metric, task, method, comp.pvalue, comp.pvalue_holm))
    # Holm over all 2 metrics x 3 tasks x 3 methods at once, not per metric or per task
    assert len(family) == lb.n_comparisons == 18
    adjusted = holm([f[3] for f in family])
    assert [f[4] for f in family] == pytest.approx(list(adjusted))


def test_verdicts_follow_the_corrected_p_values(make_runs):
    runs = make_runs(
        methods=("baseline", "temp-scaling", "copy", "sharpened"),
        n=600,
        temperatures={"baseline": 0.3, "copy": 0.3, "sharpened": 0.12},
    )
    lb = build_leaderboard(runs, LeaderboardOptions(metrics=("ece",), n_resamples=2000))
    board = lb.board("ece")
    for task in lb.tasks:
        assert board.comparisons[(task, "temp-scaling")].verdict == "better"  # calibrated vs over-confident
        assert board.comparisons[(task, "sharpened")].verdict == "worse"
        copy = board.comparisons[(task, "copy")]  # identical predictions: difference exactly 0
        assert copy.difference == 0 and copy.verdict == "n.s." and copy.pvalue == 1.0
        assert board.best[task] == ("temp-scaling",)
    for comp in board.comparisons.values():
        significant = comp.pvalue_holm <= 0.05
        assert (comp.verdict in ("better", "worse")) == significant
    assert not lb.notes


def test_t_test_as_primary(make_runs):
    runs = make_runs(methods=("baseline", "temp-scaling", "copy"), n=300, seeds=(0, 1, 2, 3))
    lb = build_leaderboard(runs, LeaderboardOptions(test="t-test"))
    board = lb.board("ece")
    for task in lb.tasks:
        a, _ = _seed_values(runs, task, "temp-scaling")
        b, _ = _seed_values(runs, task, "baseline")
        assert board.comparisons[(task, "temp-scaling")].pvalue == pytest.approx(sps.ttest_rel(a, b).pvalue)
        assert board.comparisons[(task, "copy")].pvalue == 1.0  # no difference at all: not "untested"
    assert lb.n_comparisons == 6 and "paired t-test over seeds" in lb.test_description()


def test_ranks_friedman_and_cd_agree_with_scipy(runs, board_ece_acc):
    board = board_ece_acc.board("ece")
    tasks = board_ece_acc.tasks
    means = np.array([[board.cells[(t, m)].mean for t in tasks] for m in METHODS])
    expected = sps.rankdata(means, axis=0).mean(axis=1)  # lower ECE = rank 1, ties averaged
    assert [board.ranks[m] for m in METHODS] == pytest.approx(list(expected))
    assert list(board.methods) == sorted(METHODS, key=lambda m: (board.ranks[m], m))
    fr = sps.friedmanchisquare(*means)
    assert board.friedman.statistic == pytest.approx(fr.statistic) and board.friedman.pvalue == pytest.approx(fr.pvalue)
    assert board.cd == pytest.approx(nemenyi_cd(len(METHODS), len(tasks), 0.05))
    acc = board_ece_acc.board("accuracy")
    acc_means = np.array([[acc.cells[(t, m)].mean for t in tasks] for m in METHODS])
    assert [acc.ranks[m] for m in METHODS] == pytest.approx(list(sps.rankdata(-acc_means, axis=0).mean(axis=1)))


def test_two_methods_get_a_cd_but_no_friedman(make_runs):
    lb = build_leaderboard(make_runs(methods=("baseline", "temp-scaling"), n=100))
    board = lb.board("ece")
    assert board.friedman is None and "3 methods" in board.friedman_note
    assert board.cd == pytest.approx(nemenyi_cd(2, 3))


def test_one_task_has_ranks_but_no_rank_tests(make_runs):
    lb = build_leaderboard(make_runs(tasks=("rte",), methods=METHODS, n=100))
    board = lb.board("ece")
    assert board.cd is None and board.friedman is None and "2 tasks" in board.friedman_note
    assert sorted(board.ranks.values()) == [1.0, 2.5, 2.5, 4.0]


def test_one_seed_falls_back_to_the_bootstrap_interval(make_runs):
    lb = build_leaderboard(make_runs(seeds=(0,), n=100))
    assert lb.ci == "bootstrap"
    cell = lb.board("ece").cells[("rte", "temp-scaling")]
    assert np.isnan(cell.seed_interval.half_width)
    assert lb.board("ece").comparisons[("rte", "temp-scaling")].seed_tests is None
    assert "one seed" in lb.test_description()
    t_only = build_leaderboard(make_runs(seeds=(0,), n=100), LeaderboardOptions(test="t-test"))
    assert all(c.verdict == "untested" for c in t_only.board("ece").comparisons.values())
    assert t_only.n_comparisons == 0 and any("2 seeds" in n for n in t_only.notes)


def test_adding_a_method_leaves_other_intervals_unchanged(make_runs):
    small = build_leaderboard(make_runs(methods=("baseline", "temp-scaling"), n=150))
    large = build_leaderboard(make_runs(methods=("baseline", "temp-scaling", "sharpened"), n=150))
    a, b = small.board("ece"), large.board("ece")
    for key in a.cells:
        assert (a.cells[key].bootstrap_low, a.cells[key].bootstrap_high) == (
            b.cells[key].bootstrap_low,
            b.cells[key].bootstrap_high,
        )
    for key in a.comparisons:
        assert a.comparisons[key].pvalue == b.comparisons[key].pvalue


def test_too_few_resamples_for_the_family_is_said(make_runs):
    lb = build_leaderboard(
        make_runs(methods=METHODS, n=100), LeaderboardOptions(metrics=("ece", "nll"), n_resamples=100)
    )
    assert lb.n_comparisons == 18
    (note,) = lb.notes
    assert "nothing can be significant" in note and "--resamples 720" in note


# ------------------------------------------------------------------------------ refusals
def _with(run: Run, **changes) -> Run:
    record = {**run.record, **changes}
    return Run(record, run.probs, run.labels, run.source)


def test_refuses_different_fingerprints_in_one_column(make_runs):
    runs = make_runs(tasks=("rte",), n=50)
    runs[-1] = _with(runs[-1], fingerprint="ffffffffffffffff")
    with pytest.raises(LeaderboardError, match=r"task rte: results with different data fingerprints") as err:
        build_leaderboard(runs)
    assert "ffffffffffffffff" in str(err.value) and "rte/temp-scaling/seed 2" in str(err.value)


def test_refuses_different_encoders(make_runs):
    runs = make_runs(tasks=("rte",), n=50)
    runs[0] = _with(runs[0], model="roberta-base")
    with pytest.raises(LeaderboardError, match="different encoders"):
        build_leaderboard(runs)
    assert {r.model for r in select_runs(runs, model="minilm")} == {"minilm"}


def test_refuses_different_estimators_naming_them(make_runs):
    runs = make_runs(tasks=("rte",), n=50, seeds=(0, 1))
    other = make_runs(tasks=("rte",), n=50, seeds=(0, 1), ece_bins=10)
    mixed = [r for r in runs if r.method == "baseline"] + [r for r in other if r.method == "temp-scaling"]
    with pytest.raises(LeaderboardError, match=r"ece was computed with different estimators") as err:
        build_leaderboard(mixed)
    assert "ece(bins=10," in str(err.value) and "ece(bins=15," in str(err.value)
    # a metric no record disagrees on still works on the same runs
    assert build_leaderboard(mixed, LeaderboardOptions(metrics=("nll",))).board("nll")


def test_uses_the_stored_estimator_not_the_default(make_runs):
    runs = make_runs(tasks=("rte",), n=200, ece_bins=10)
    board = build_leaderboard(runs).board("ece")
    assert board.estimator == "ece(bins=10,scheme=width,norm=l1,confidence=top-label)"
    r = runs[0]
    assert board.cells[("rte", r.method)].values[0] == metric_fn("ece", bins=10)(r.probs, r.labels)


def test_refuses_unequal_seed_sets_and_duplicate_seeds(make_runs):
    runs = make_runs(tasks=("rte",), n=50)
    missing = [r for r in runs if not (r.method == "temp-scaling" and r.seed == 2)]
    with pytest.raises(LeaderboardError, match=r"different seeds \(baseline: \[0, 1, 2\]; temp-scaling: \[0, 1\]\)"):
        build_leaderboard(missing)
    twin = _with(runs[0], key="another-result")
    with pytest.raises(LeaderboardError, match=r"more than one result for seed\(s\) \[0\]"):
        build_leaderboard(runs + [twin])


def test_leave_out_drops_the_seeds_some_methods_lack_and_says_so(make_runs):
    """A grid that lands a seed method group by group: the board of the complete seeds, exactly
    as if the partial seed had never landed, and the partial seed listed as pending."""
    runs = make_runs(tasks=("rte", "sst2"), n=50)
    partial = [r for r in runs if not (r.task == "rte" and r.method == "temp-scaling" and r.seed == 2)]
    opts = LeaderboardOptions(metrics=("ece",), incomplete_seeds="leave-out")
    lb = build_leaderboard(partial, opts)
    without = build_leaderboard([r for r in runs if not (r.task == "rte" and r.seed == 2)], opts)
    assert lb.task_info["rte"].seeds == (0, 1) and lb.task_info["sst2"].seeds == (0, 1, 2)
    assert lb.board("ece").cells == without.board("ece").cells
    assert lb.board("ece").comparisons == without.board("ece").comparisons
    assert lb.pending == {"rte": {2: ("baseline",)}} and not without.pending
    assert lb.n_runs == without.n_runs == len(runs) - 2
    assert any("left out of every statistic" in n and "rte seed 2 (1 of 2 methods)" in n for n in lb.notes)
    # complete results: the option changes nothing
    assert build_leaderboard(runs, opts).board("ece").cells == build_leaderboard(runs).board("ece").cells
    # no seed complete on a task: still refused, with who has what
    none = [r for r in runs if not (r.task == "rte" and r.method == "temp-scaling")]
    none += [r for r in runs if r.task == "rte" and r.method == "temp-scaling" and r.seed == 0]
    none = [r for r in none if not (r.task == "rte" and r.method == "baseline" and r.seed == 0)]
    with pytest.raises(LeaderboardError, match=r"different seeds \(baseline: \[1, 2\]; temp-scaling: \[0\]\)"):
        build_leaderboard(none, opts)


def test_refuses_a_missing_reference_and_differing_labels(make_runs):
    runs = make_runs(tasks=("rte",), n=50)
    with pytest.raises(LeaderboardError, match="reference method 'nope' has no results; have: baseline, temp-scaling"):
        build_leaderboard(runs, LeaderboardOptions(reference="nope"))
    flipped = Run(runs[1].record, runs[1].probs, 1 - runs[1].labels, "flipped")
    with pytest.raises(LeaderboardError, match="test labels differ"):
        build_leaderboard([runs[0], flipped, *runs[2:]])


def test_a_method_missing_on_a_task_has_no_rank(make_runs):
    runs = [r for r in make_runs(methods=METHODS, n=80) if not (r.method == "copy" and r.task == "sst2")]
    board = build_leaderboard(runs).board("ece")
    assert "copy" not in board.ranks and "no rank for copy" in board.rank_note
    assert ("sst2", "copy") not in board.cells and ("rte", "copy") in board.cells
    assert board.methods[-1] == "copy"


def test_select_runs_names_unknown_selections(make_runs):
    runs = make_runs(tasks=("rte",), n=50)
    with pytest.raises(LeaderboardError, match=r"no results for method\(s\) nope; have: baseline, temp-scaling"):
        select_runs(runs, methods=["nope"])


# ---------------------------------------------------------------------------- estimators
@pytest.mark.parametrize("task_metric", ["accuracy", "mcc", "f1"])
@pytest.mark.parametrize("ece_bins", [15, 7])
def test_every_reported_estimator_can_be_rebuilt(task_metric, ece_bins):
    for key, spec in evaluation_specs(task_metric, ece_bins=ece_bins).items():
        rebuilt = spec_from_estimator(key, spec.estimator)
        assert rebuilt.estimator == spec.estimator and rebuilt.params == spec.params


def test_unreproducible_estimators_are_refused():
    assert parse_estimator("ece(bins=15,scheme=width)") == ("ece", {"bins": 15, "scheme": "width"})
    with pytest.raises(LeaderboardError, match="cannot be reproduced"):
        spec_from_estimator("ece", "ece(bins=15,scheme=width,norm=l1,confidence=top-label,extra=1)")
    with pytest.raises(LeaderboardError, match="cannot rebuild"):
        spec_from_estimator("ece", "ece(bins=15,scheme=diagonal,norm=l1,confidence=top-label)")
    with pytest.raises(ValueError, match="malformed"):
        parse_estimator("ece(bins=15")


def test_store_values_agree_with_the_recomputation_on_float32(make_runs):
    runs = make_runs(n=300)
    assert metric_disagreements(runs, 1e-6) == []
    bad = _with(runs[0], metrics={**runs[0].record["metrics"], "nll": {"value": 9.0, "estimator": "nll(eps=1e-12)"}})
    (d,) = metric_disagreements([bad], 1e-6)
    assert d.metric == "nll" and d.stored == 9.0 and "rte/baseline/seed 0" in str(d)


def test_a_configuration_only_some_seeds_used_names_its_seeds(make_runs):
    """Seeds trained on machines of two kinds (bf16 on one, fp32 on another) show as two rows of
    the protocol table, each with its seeds; a configuration every seed shares names none."""
    import copy

    runs = make_runs(tasks=("rte",), methods=("baseline", "temp-scaling"), n=60, seeds=(0, 1, 2))
    mixed = []
    for r in runs:
        record = copy.deepcopy(r.record)
        if r.seed == 2:
            record["config"]["hyper"]["precision"] = "bf16"
        mixed.append(Run(record, r.probs, r.labels, r.source))
    lb = build_leaderboard(mixed, LeaderboardOptions(n_resamples=100))
    rows = dict((conf, methods) for methods, conf in lb.task_info["rte"].trainings)
    assert len(rows) == 2
    assert all(methods == "baseline, temp-scaling" for methods in rows.values())
    assert any(c.endswith("precision fp32; seeds 0, 1") for c in rows)
    assert any(c.endswith("precision bf16; seeds 2") for c in rows)
    same = build_leaderboard(runs, LeaderboardOptions(n_resamples=100)).task_info["rte"].trainings
    assert len(same) == 1 and "seeds" not in same[0][1]
