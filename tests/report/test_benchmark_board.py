"""The benchmark layout (``calibench leaderboard --layout benchmark``): the learnt-task flag,
the claims' verdict logic, figures that are the same bytes on every run, and ``--check``
failing on a changed figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import rankdata

from calibench.cli import main
from calibench.metrics import metric_spec
from calibench.report.claims import combine, judge, paper_claims, plan_seeds
from calibench.report.leaderboard import LeaderboardOptions, Resamples, build_leaderboard
from calibench.report.learnt import judge_learnt, majority_score
from calibench.report.pooled import Pooled
from calibench.report.runs import MetricMismatch, Run
from calibench.stats import paired_bootstrap, seed_ci

# ebm-hidden calibrated (as temp-scaling), ebm-scalar close to it, ebm-sharp-hidden over-confident
TEMPS = {
    "baseline": 0.4,
    "temp-scaling": 1.0,
    "temp-scaling(fit_on=train)": 1.0,
    "label-smoothing": 0.8,
    "ebm-scalar": 0.9,
    "ebm-hidden": 1.0,
    "ebm-sharp-hidden": 0.25,
}
FAST = LeaderboardOptions(metrics=("ece", "accuracy"), n_resamples=400, layout="benchmark")


def _shuffled(runs: list[Run], task: str) -> list[Run]:
    """``task``'s runs with labels drawn independently of the predictions: a model that learnt nothing."""
    labels = np.random.default_rng(7).permutation(next(r.labels for r in runs if r.task == task))
    return [Run(r.record, r.probs, labels, r.source) if r.task == task else r for r in runs]


@pytest.fixture(scope="module")
def bench_runs(make_runs) -> list[Run]:
    runs = make_runs(tasks=("rte", "sst2", "wnli"), methods=tuple(TEMPS), n=200, temperatures=TEMPS)
    return _shuffled(runs, "wnli")


@pytest.fixture(scope="module")
def bench_board(bench_runs):
    return build_leaderboard(bench_runs, FAST)


# ------------------------------------------------------------------------------- verdicts
@pytest.mark.parametrize(
    ("low", "high", "side", "bound", "verdict"),
    [
        (-0.05, -0.01, "below", 0.0, "holds"),
        (0.0, 0.02, "below", 0.0, "does not hold"),  # the whole interval at or above the bound
        (-0.02, 0.01, "below", 0.0, "inconclusive"),
        (-0.005, 0.03, "above", -0.01, "holds"),  # non-inferior within the margin
        (-0.04, -0.02, "above", -0.01, "does not hold"),
        (-0.02, 0.0, "above", -0.01, "inconclusive"),
        (0.011, 0.02, "below", 0.01, "does not hold"),  # competitive: more than the margin worse
    ],
)
def test_each_verdict_comes_out_of_its_interval(low, high, side, bound, verdict):
    assert judge(low, high, side, bound) == verdict


def test_a_claim_holds_only_when_every_test_holds():
    assert combine(["holds", "holds"]) == "holds"
    assert combine(["holds", "inconclusive"]) == "inconclusive"
    assert combine(["inconclusive", "does not hold", "holds"]) == "does not hold"
    assert combine([]) == "not run"


def _pooled(difference: float, seed_differences: tuple[float, ...]) -> Pooled:
    return Pooled(
        "ece", "a", "b", ("t",), difference, difference - 0.01, difference + 0.01, 0.95, seed_differences, np.zeros(3)
    )


def test_the_seed_planner_settles_an_inconclusive_test_or_says_why_not():
    plan = plan_seeds(_pooled(-0.004, (-0.002, -0.006, -0.004)), 0.0, 0.05)
    assert plan.seeds is not None and plan.seeds > 3 and plan.note == f"about {plan.seeds} seeds"
    assert plan_seeds(_pooled(-0.004, (-0.004,)), 0.0, 0.05).note == "the planner needs at least 2 seeds"
    assert plan_seeds(_pooled(-0.004, (-0.004, -0.004)), 0.0, 0.05).seeds is None  # no spread
    assert plan_seeds(_pooled(1e-6, (-0.3, 0.3, 0.0)), 0.0, 0.05).note == "more than 1000 seeds"


def test_claims_on_a_board_give_each_verdict_and_not_run(bench_board, bench_runs):
    claims = {c.number: c for c in paper_claims(bench_board)}
    ece_tests = {t.method: t for t in claims[1].tests if t.metric == "ece"}
    assert ece_tests["ebm-hidden"].verdict == "holds"  # calibrated vs a baseline at temperature 0.4
    # sharpened far beyond temp-scaling: not competitive (claim 3), does not beat train-fitted TS (claim 4)
    assert {t.method: t.verdict for t in claims[3].tests}["ebm-sharp-hidden"] == "does not hold"
    assert claims[3].verdict == "does not hold"
    assert {t.method: t.verdict for t in claims[4].tests}["ebm-sharp-hidden"] == "does not hold"
    assert all(t.effect is not None and t.effect.tasks == ("rte", "sst2") for t in claims[1].tests)  # wnli out
    # the same board without the train-fitted temperature: claim 4 is not run, naming what is missing
    runs = [r for r in bench_runs if r.method != "temp-scaling(fit_on=train)"]
    claim4 = paper_claims(build_leaderboard(runs, FAST))[3]
    assert claim4.verdict == "not run" and claim4.missing == ("temp-scaling(fit_on=train)",)


def test_an_inconclusive_claim_gets_a_seed_plan(make_runs):
    # two energies one temperature step apart, 2 seeds, small test sets: the order cannot be settled
    temps = {**TEMPS, "ebm-scalar": 0.97, "ebm-sharp-hidden": 1.03}
    runs = make_runs(tasks=("rte", "sst2"), methods=tuple(temps), n=120, seeds=(0, 1), temperatures=temps)
    claim2 = paper_claims(build_leaderboard(runs, FAST))[1]
    inconclusive = [t for t in claim2.tests if t.verdict == "inconclusive"]
    assert claim2.verdict in ("inconclusive", "does not hold") and inconclusive
    assert all(t.plan is not None and t.plan.note for t in inconclusive)


# ------------------------------------------------------------------------------ learnt tasks
def test_a_task_is_learnt_only_above_the_majority_class_on_both_intervals():
    labels = np.array([0] * 60 + [1] * 40)
    assert majority_score("accuracy", labels) == 0.6 and majority_score("mcc", labels) == 0.0

    class _Cell:
        def __init__(self, values, boot_low):
            self.mean = float(np.mean(values))
            self.seed_interval = seed_ci(values)
            self.bootstrap_low = boot_low

    assert judge_learnt("t", "accuracy", _Cell([0.70, 0.72, 0.71], 0.65), labels).learnt
    assert not judge_learnt("t", "accuracy", _Cell([0.70, 0.72, 0.71], 0.58), labels).learnt  # bootstrap too low
    assert not judge_learnt("t", "accuracy", _Cell([0.55, 0.85, 0.70], 0.65), labels).learnt  # seeds too spread
    assert judge_learnt("t", "mcc", _Cell([0.2], 0.05), labels).learnt  # one seed: the bootstrap decides


def test_a_task_not_learnt_is_flagged_and_left_out_of_ranks(bench_board):
    lb = bench_board
    assert lb.learnt["rte"].learnt and lb.learnt["sst2"].learnt and not lb.learnt["wnli"].learnt
    assert lb.rank_tasks == ("rte", "sst2")
    ece = lb.board("ece")
    assert ece.friedman is not None and ece.friedman.n_tasks == 2
    # ranks over rte and sst2 only: recompute them from the cells of those two tasks
    ranks = [rankdata([ece.cells[(t, m)].mean for m in lb.methods]) for t in ("rte", "sst2")]
    expected = dict(zip(lb.methods, np.mean(ranks, axis=0), strict=True))
    assert ece.ranks == pytest.approx(expected)


def test_the_task_metric_is_each_tasks_own(make_runs):
    runs = make_runs(tasks=("cola", "sst2"), methods=("baseline", "temp-scaling"), n=150)
    mcc = metric_spec("mcc")
    for r in runs:
        if r.task == "cola":
            r.record["metrics"]["mcc"] = {"value": mcc.fn(r.probs, r.labels), "estimator": mcc.estimator}
    rebuilt = [Run(r.record, r.probs, r.labels, r.source) for r in runs]
    lb = build_leaderboard(rebuilt, LeaderboardOptions(metrics=("task_metric",), n_resamples=200))
    board = lb.board("task_metric")
    assert board.estimators == {"cola": "mcc", "sst2": "accuracy"}
    assert board.cells[("cola", "baseline")].mean == pytest.approx(
        np.mean([mcc.fn(r.probs, r.labels) for r in rebuilt if r.task == "cola" and r.method == "baseline"])
    )


# ------------------------------------------------------------------------- speed, unchanged
def test_shared_resamples_give_exactly_the_paired_bootstrap(make_runs):
    """The cached comparisons (each method's batched metric computed once) equal stats.paired_bootstrap."""
    from calibench.report.leaderboard import _stable_seed

    runs = make_runs(tasks=("rte",), methods=("baseline", "temp-scaling", "sharpened"), n=200)
    o = LeaderboardOptions(n_resamples=300)
    by_method: dict[str, list[Run]] = {}
    for r in sorted(runs, key=lambda r: r.seed):
        by_method.setdefault(r.method, []).append(r)
    spec = metric_spec("ece")
    res = Resamples(spec, "rte", runs[0].labels, by_method, o)
    for m in ("temp-scaling", "sharpened"):
        direct = paired_bootstrap(
            [r.probs for r in by_method[m]],
            [r.probs for r in by_method["baseline"]],
            runs[0].labels,
            spec,
            n_resamples=300,
            seed=_stable_seed(0, "paired", spec.estimator, "rte"),
        )
        cached = res.compare(m, "baseline")
        assert (cached.difference, cached.low, cached.high, cached.pvalue) == (
            direct.difference,
            direct.low,
            direct.high,
            direct.pvalue,
        )
        assert np.array_equal(cached.distribution, direct.distribution)


# --------------------------------------------------------------------- figures and the CLI
def test_figures_are_the_same_bytes_in_another_process(bench_board):
    from calibench.report.benchmark import benchmark_sections
    from calibench.report.figures import cd_png

    figures = benchmark_sections(bench_board).figures
    assert set(figures) == {"figures/tradeoff.svg", "figures/cd-ece.svg", "figures/cd-accuracy.svg"}
    assert figures["figures/cd-ece.svg"] == cd_png(bench_board.board("ece"), image_format="svg")
    script = (
        "import sys\n"
        "from calibench.report.figures import TradeoffPoint, tradeoff_svg\n"
        "pts = {'rte': [TradeoffPoint('a', 0.1, 0.6), TradeoffPoint('b', 0.2, 0.7)]}\n"
        "sys.stdout.buffer.write(tradeoff_svg(pts, reference='a', ece_title='ECE'))\n"
    )
    a, b = (subprocess.run([sys.executable, "-c", script], capture_output=True, check=True).stdout for _ in range(2))
    assert a == b and a.startswith(b"<?xml") and b"<dc:date>" not in a


def test_cli_writes_board_and_figures_and_check_fails_on_a_changed_figure(tmp_path, bench_runs, capsys, monkeypatch):
    from calibench.report.export import export_runs

    monkeypatch.chdir(tmp_path)
    keep = {"baseline", "temp-scaling", "ebm-hidden", "ebm-sharp-hidden"}
    export_runs([r for r in bench_runs if r.method in keep], "results")
    args = [
        "leaderboard",
        "--from",
        "results",
        "--layout",
        "benchmark",
        "--metric",
        "ece,accuracy",
        "--resamples",
        "300",
    ]
    assert main([*args, "--format", "markdown"]) == 2  # figures need a place next to the markdown
    assert "give --output FILE" in capsys.readouterr().err
    assert main([*args, "--format", "markdown", "--output", "lb/README.md"]) == 0
    text = Path("lb/README.md").read_text()
    assert "calibench leaderboard --from results --layout benchmark --metric ece,accuracy --resamples 300" in text
    for section in (
        "## Tasks: did the reference learn them?",
        "## Across tasks",
        "## Head to head",
        "## The trade-off",
        "## The paper's claims, tested",
    ):
        assert section in text
    assert "`wnli` (not learnt)" in text and "not learnt: ranks here are noise" in text
    assert "![Accuracy against ECE per method and task](figures/tradeoff.svg)" in text
    assert "**Not run**: `ebm-scalar`, `temp-scaling(fit_on=train)` absent from the results." in text
    assert Path("lb/figures/cd-ece.svg").is_file()
    capsys.readouterr()
    assert main([*args, "--check", "lb/README.md"]) == 0
    assert "up to date (3 figures)" in capsys.readouterr().out
    figure = Path("lb/figures/tradeoff.svg")
    figure.write_bytes(figure.read_bytes().replace(b"</svg>", b"<!-- edited --></svg>"))
    assert main([*args, "--check", "lb/README.md"]) == 1
    captured = capsys.readouterr()
    assert "lb/figures/tradeoff.svg: differs from the regenerated figure" in captured.out
    assert "lb/figures/tradeoff.svg differs from the regenerated leaderboard" in captured.err
    figure.unlink()
    assert main([*args, "--check", "lb/README.md"]) == 1
    assert "lb/figures/tradeoff.svg: missing" in capsys.readouterr().out


def test_shift_and_ood_results_survive_the_export_and_reach_the_board(tmp_path, make_runs, make_extra_runs):
    from calibench.report.export import export_runs, load_result_runs
    from calibench.report.export_extra import export_extra_runs, load_extra_result_runs
    from calibench.report.shift import ExtraRun, markdown_section

    runs = make_runs(tasks=("rte",), methods=("baseline", "temp-scaling"), n=120)
    extra = [
        ExtraRun({**e.record, "in_domain_key": e.in_domain["key"]}, e.arrays, e.in_domain, e.in_arrays)
        for e in make_extra_runs(runs)
    ]
    export_runs(runs, tmp_path)
    assert len(export_extra_runs(extra, tmp_path)) == len(extra)
    loaded = load_result_runs(tmp_path)  # the extra-set files are not in-domain results
    assert len(loaded) == len(runs)
    back = load_extra_result_runs(tmp_path, loaded)
    assert markdown_section(back) == markdown_section(extra)
    assert "## In-domain vs out-of-domain" in "\n".join(markdown_section(back))
    out = tmp_path / "board.md"
    assert (
        main(
            ["leaderboard", "--from", str(tmp_path), "--resamples", "100", "--format", "markdown", "--output", str(out)]
        )
        == 0
    )
    assert "## In-domain vs out-of-domain" in out.read_text() and "## OOD detection" in out.read_text()
    # a seed only baseline has is pending: left out of the shift tables too, as of every statistic
    (tmp_path / "rte" / "temp-scaling.seed2.jsonl").unlink()
    argv = ["leaderboard", "--from", str(tmp_path), "--resamples", "100", "--format", "markdown"]
    assert main([*argv, "--incomplete-seeds", "leave-out", "--output", str(out)]) == 0
    rows = [line for line in out.read_text().splitlines() if line.startswith("| `rte→")]
    assert rows and all(" | 2 | " in line and " | 3 | " not in line for line in rows)  # the Seeds column
    assert "rte seed 2 (1 of 2 methods)" in out.read_text()
    # a re-export replaces the extra files; an edited shifted-set metric is caught on load
    out.unlink()
    export_runs(runs, tmp_path)
    assert load_extra_result_runs(tmp_path, loaded) == []
    export_extra_runs(extra, tmp_path)
    path = next(p for p in sorted(tmp_path.rglob("*.shift-qnli.jsonl")))
    head, rest = path.read_text().split("\n", 1)
    header = json.loads(head)
    header["record"]["metrics"]["ece"]["value"] += 0.01
    path.write_text(json.dumps(header) + "\n" + rest)
    with pytest.raises(MetricMismatch, match="ece: stored"):
        load_extra_result_runs(tmp_path, loaded)


# ------------------------------------------------------------------------------ the answer
def test_the_answer_is_the_boards_own_numbers(bench_board):
    from calibench.report.answer import answer_lines

    lb = bench_board
    lines = answer_lines(lb)
    assert all(line.startswith("- ") for line in lines)
    joined = "\n".join(lines)
    assert f"{lb.n_runs} runs, {len(lb.methods)} methods on 3 tasks; seeds per task: rte 3, sst2 3, wnli 3." in joined
    assert "**Not learnt:** `wnli`" in joined
    ece = lb.board("ece")
    best = min(ece.ranks, key=lambda m: (ece.ranks[m], m))
    rte = ece.cells[("rte", best)].mean
    assert f"1. `{best}`, average rank {ece.ranks[best]:.2f} (rte {rte:.3f}, sst2" in joined
    for claim in paper_claims(lb):
        verdict = "inconclusive at this power" if claim.verdict == "inconclusive" else claim.verdict
        assert f"({claim.number}) {claim.text.rstrip('.')}: **{verdict}**" in joined


def test_answer_into_splices_the_readme_block_and_check_catches_an_edit(tmp_path, bench_runs, capsys, monkeypatch):
    from calibench.report.answer import END, START
    from calibench.report.export import export_runs

    monkeypatch.chdir(tmp_path)
    export_runs([r for r in bench_runs if r.method in {"baseline", "temp-scaling", "ebm-hidden"}], "results")
    args = ["leaderboard", "--from", "results", "--layout", "benchmark", "--metric", "ece,accuracy"]
    args += ["--resamples", "200", "--answer-into", "README.md"]
    Path("README.md").write_text("# project\n\nintro\n")
    assert main([*args, "--format", "markdown", "--output", "lb/README.md"]) == 2
    assert "no answer block; put these two lines" in capsys.readouterr().err
    assert not Path("lb/README.md").exists()  # nothing written before the error
    Path("README.md").write_text(f"# project\n\nintro\n{START}\nstale\n{END}\n\nmore\n")
    assert main([*args, "--format", "markdown", "--output", "lb/README.md"]) == 0
    readme = Path("README.md").read_text()
    assert readme.startswith("# project\n\nintro\n" + START + "\n- **Coverage:**") and readme.endswith(
        END + "\n\nmore\n"
    )
    assert "stale" not in readme and "[the board](lb/README.md)" in readme
    board = Path("lb/README.md").read_text()
    block = readme.split(START + "\n")[1].split("\n\nEvery number above")[0]
    assert "## The answer\n\n" + block + "\n" in board  # the README's lines are the board's
    capsys.readouterr()
    assert main([*args, "--check", "lb/README.md"]) == 0
    assert "up to date (3 figures and README.md)" in capsys.readouterr().out
    Path("README.md").write_text(readme.replace("- **Coverage:**", "- **Coverage (edited):**"))
    assert main([*args, "--check", "lb/README.md"]) == 1
    assert "README.md (regenerated)" in capsys.readouterr().out
    plain = [a for a in args if a not in ("--layout", "benchmark")]
    assert main([*plain, "--format", "markdown", "--output", "lb/plain.md"]) == 2
    assert "--answer-into needs --layout benchmark" in capsys.readouterr().err


def test_a_seed_landed_for_some_methods_is_pending_in_the_answer(bench_runs):
    from dataclasses import replace

    from calibench.report.answer import answer_lines
    from calibench.report.leaderboard import layout_defaults

    assert layout_defaults("benchmark")["incomplete_seeds"] == "leave-out"
    partial = [r for r in bench_runs if not (r.task == "sst2" and r.seed == 2 and r.method.startswith("ebm-"))]
    lb = build_leaderboard(partial, replace(FAST, incomplete_seeds="leave-out"))
    coverage = answer_lines(lb)[0]
    assert "seeds per task: rte 3, sst2 2, wnli 3." in coverage
    assert coverage.endswith(f"Pending, left out until every method has them: sst2 seed 2 (4 of {len(TEMPS)} methods).")
