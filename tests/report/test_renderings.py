"""Terminal, markdown and the command lines: readable, deterministic, escaped, reproducible."""

from __future__ import annotations

import re
from dataclasses import asdict

import pytest
from rich.console import Console

from calibench import __version__
from calibench.cli import main
from calibench.presets import PRESETS
from calibench.report.leaderboard import LeaderboardOptions, build_leaderboard
from calibench.report.markdown import code, render_markdown
from calibench.report.provenance import command_line, run_commands
from calibench.report.runs import Run
from calibench.report.terminal import render_terminal

#: a realistic board: 6 methods with long composed labels, 3 tasks
SIX = ("baseline", "temp-scaling", "label-smoothing+temp-scaling", "mc-dropout+temp-scaling", "mixup", "ebm-nce")


@pytest.fixture(scope="module")
def six_by_three(make_runs):
    runs = make_runs(methods=SIX, n=150, temperatures={"temp-scaling": 1.0, "mixup": 0.6, "ebm-nce": 0.9})
    return runs, build_leaderboard(runs, LeaderboardOptions(metrics=("ece",), n_resamples=300))


def _render(lb, width=100) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(render_terminal(lb))
    return console.export_text()


def test_terminal_six_by_three_fits_100_columns(six_by_three):
    _, lb = six_by_three
    out = _render(lb)
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 100
    board = lb.board("ece")
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.startswith("│")}
    for m in SIX:
        row = rows[m + (" (ref)" if m == "baseline" else "")]
        for t in lb.tasks:  # every cell whole, on the method's own line
            c = board.cells[(t, m)]
            assert f"{c.mean:.3f} ±{c.seed_interval.half_width:.3f}" in row
        assert f"{board.ranks[m]:.2f}" in row
    assert "ece(bins=15,scheme=width,norm=l1,confidence=top-label)" in out
    assert "Holm-corrected over all 15 comparisons" in out and "Student-t" in out


def test_terminal_marks_best_and_significance(make_runs):
    runs = make_runs(
        methods=("baseline", "temp-scaling", "sharpened"), n=600, temperatures={"baseline": 0.3, "sharpened": 0.12}
    )
    lb = build_leaderboard(runs, LeaderboardOptions(metrics=("ece",), n_resamples=1000))
    from calibench.report.terminal import board_table

    table = board_table(lb, lb.board("ece"))
    method_col = [str(c) for c in table.columns[0]._cells]
    ts = method_col.index("temp-scaling")
    for col in table.columns[1:-1]:
        cell = col._cells[ts]
        assert cell.style == "bold" and cell.plain.endswith("▲")  # best and significantly better
        assert col._cells[method_col.index("sharpened")].plain.endswith("▼")
        assert col._cells[method_col.index("baseline (ref)")].plain.endswith(" ")  # the reference: no mark
    out = _render(lb)
    assert out.count("▲") == 3 + 1 and out.count("▼") == 3 + 1  # cells + the caption's legend


def test_names_are_printed_not_interpreted(make_runs):
    runs = make_runs(tasks=("rte",), methods=("baseline", "[red]x[/red]"), n=60)
    out = _render(build_leaderboard(runs, LeaderboardOptions(n_resamples=200)))
    assert "[red]x[/red]" in out


def test_markdown_is_deterministic_and_self_describing(six_by_three):
    runs, lb = six_by_three
    cmds, problems = run_commands(runs)
    a = render_markdown(lb, command="calibench leaderboard --from r --format markdown", run_commands=cmds)
    b = render_markdown(
        build_leaderboard(list(reversed(runs)), lb.options),
        command="calibench leaderboard --from r --format markdown",
        run_commands=run_commands(list(reversed(runs)))[0],
    )
    assert a == b  # input order does not matter
    for needle in (
        "ece(bins=15,scheme=width,norm=l1,confidence=top-label)",
        "Holm-corrected over all 15 comparisons",
        "`dev-halves-v2`",
        f"calibench {__version__}",
        "`minilm`",
        "0, 1, 2",
        lb.task_info["rte"].fingerprint,
        "calibench leaderboard --from r --format markdown",
        "Friedman test over 3 tasks and 6 methods",
        "Nemenyi critical difference",
    ):
        assert needle in a
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}", a)  # no dates or times
    main_table = [line for line in a.splitlines() if line.startswith("| `")][:6]
    assert [line.split("`")[1] for line in main_table] == list(lb.board("ece").methods)
    assert all(line.count(" | ") == 4 for line in main_table)  # method, 3 tasks, rank


def test_markdown_escapes_names_in_tables(make_runs):
    runs = make_runs(tasks=("rte",), methods=("baseline", "a|b `c`"), n=60)
    lb = build_leaderboard(runs, LeaderboardOptions(n_resamples=200))
    text = render_markdown(lb, command="calibench leaderboard")
    row = next(line for line in text.splitlines() if "a\\|b" in line and line.startswith("| "))
    assert re.split(r"(?<!\\)\|", row)[1:-1] == [" `` a\\|b `c` `` ", " 0.102 ±0.100 ", " 2.00 "]
    assert code("x`y") == "``x`y``" and code("`x") == "`` `x ``"


def test_run_command_is_rebuilt_only_when_a_preset_reproduces_it(make_runs):
    runs = make_runs(methods=("baseline", "temp-scaling"), n=30)
    (cmd,), problems = run_commands(runs)
    assert not problems
    assert cmd == (
        "calibench run --preset cpu --methods baseline,temp-scaling --tasks mrpc,rte,sst2 --seeds 3 "
        "--model minilm --train-size 48 --max-steps 6 --batch-size 8 --lr 5e-05 --precision fp32 "
        "--max-length 128"
    )
    odd = asdict(PRESETS["cpu"].hyper_for("rte", max_steps=6, batch_size=8, precision="fp32"))
    odd["warmup_ratio"] = 0.25  # not settable from the command line
    weird = make_runs(tasks=("rte",), n=30, hyper=odd)
    cmds, problems = run_commands(weird)
    assert cmds == () and problems == ("rte: no preset gives the stored hyper-parameters with `calibench run`'s flags",)
    seeds = make_runs(tasks=("rte",), seeds=(3, 7), n=30, ece_bins=10)
    (cmd,), _ = run_commands(seeds)
    assert "--seeds 3,7" in cmd and cmd.endswith("--ece-bins 10")


def test_run_command_survives_metrics_added_since_the_results(make_runs):
    """Results stored before a metric joined `calibench run` are still recreated by it (every
    stored estimator is one the run computes); a stored estimator the run does not compute is not."""
    from calibench.report.runs import Run

    runs = make_runs(tasks=("rte",), methods=("baseline",), n=30)
    older = [
        Run(
            {**r.record, "metrics": {k: v for k, v in r.record["metrics"].items() if k in ("accuracy", "ece")}},
            r.probs,
            r.labels,
            r.source,
        )
        for r in runs
    ]
    (cmd,), problems = run_commands(older)
    assert not problems and cmd.startswith("calibench run --preset cpu")
    foreign = [
        Run(
            {**r.record, "metrics": {**r.record["metrics"], "nll": {"value": 0.0, "estimator": "nll(eps=0.1)"}}},
            r.probs,
            r.labels,
            r.source,
        )
        for r in runs
    ]
    assert run_commands(foreign)[0] == ()


def test_leaderboard_command_lists_only_non_defaults():
    opts = LeaderboardOptions(metrics=("ece", "accuracy"), n_resamples=5000)
    assert command_line(
        "leaderboard", source=("--from", "leaderboard/results"), options=opts, extra=["--format", "markdown"]
    ) == ("calibench leaderboard --from leaderboard/results --metric ece,accuracy --resamples 5000 --format markdown")
    assert (
        command_line(
            "report", source=("-o", "my runs"), options=LeaderboardOptions(), methods=["a"], extra=["--output", "r"]
        )
        == "calibench report -o 'my runs' --methods a --output r"
    )


# -------------------------------------------------------------------------------- CLI
@pytest.fixture
def store(tmp_path, make_runs, store_of):
    return store_of(tmp_path / "store", make_runs(tasks=("rte", "mrpc"), methods=("baseline", "temp-scaling"), n=80))


def test_cli_terminal_markdown_export_and_check(tmp_path, store, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["leaderboard", "-o", "store", "--metric", "ece,accuracy", "--resamples", "300"]) == 0
    out = capsys.readouterr().out
    assert "ECE ↓" in out and "Accuracy ↑" in out and "temp-scaling" in out

    assert main(["export", "--store", "store", "--output", "lb/results"]) == 0
    assert "12 file(s) written" in capsys.readouterr().out
    args = ["leaderboard", "--from", "lb/results", "--resamples", "300"]
    assert main([*args, "--format", "markdown", "--output", "lb/README.md"]) == 0
    text = (tmp_path / "lb" / "README.md").read_text()
    assert "calibench leaderboard --from lb/results --resamples 300 --format markdown --output lb/README.md" in text
    assert "calibench export -o calibench-runs --output lb/results" in text
    capsys.readouterr()
    assert main([*args, "--check", "lb/README.md"]) == 0
    assert "up to date" in capsys.readouterr().out

    (tmp_path / "lb" / "README.md").write_text(text.replace("| `temp-scaling` |", "| `temp-scaling (edited)` |"))
    assert main([*args, "--check", "lb/README.md"]) == 1
    captured = capsys.readouterr()
    assert "-| `temp-scaling (edited)` |" in captured.out and "+| `temp-scaling` |" in captured.out
    assert "differs from the regenerated leaderboard" in captured.err

    # the same numbers from the store and from its export
    assert main(["leaderboard", "-o", "store", "--resamples", "300", "--format", "markdown", "--output", "s.md"]) == 0
    table = [line for line in text.splitlines() if line.startswith("| `")]
    assert table == [line for line in (tmp_path / "s.md").read_text().splitlines() if line.startswith("| `")]


def test_cli_refusals_are_one_line_errors(tmp_path, store, capsys):
    assert main(["leaderboard", "-o", str(store), "--reference", "nope"]) == 2
    assert "reference method 'nope' has no results" in capsys.readouterr().err
    assert main(["leaderboard", "--from", str(tmp_path / "missing")]) == 2
    assert "no results directory" in capsys.readouterr().err
    assert main(["leaderboard", "-o", str(tmp_path / "nostore")]) == 2
    assert "no results store" in capsys.readouterr().err


def test_cli_warns_about_store_values_the_recomputation_contradicts(tmp_path, make_runs, store_of, capsys):
    (run,) = make_runs(tasks=("rte",), methods=("baseline",), seeds=(0,), n=40)
    rec = {**run.record, "metrics": {**run.record["metrics"], "nll": {"value": 3.0, "estimator": "nll(eps=1e-12)"}}}
    store = store_of(tmp_path / "store", [Run(rec, run.probs, run.labels)])
    assert main(["leaderboard", "-o", str(store), "--resamples", "200"]) == 0
    err = capsys.readouterr().err
    assert "warning: stored value differs" in err and "nll [nll(eps=1e-12)] stored 3.0" in err


def test_cli_console_does_not_cut_numbers_when_output_is_redirected(monkeypatch):
    """Logs and CI have no terminal width; rich's 80-column fallback would cut 0.826±0.010
    to 0.82…. A terminal or an explicit $COLUMNS keeps its own width."""
    import io
    import sys

    from rich.table import Table

    from calibench.cli import _console

    table = Table(*("Task (metric)", "Method", "n", "Acc ↑", "Task ↑", "ECE ↓", "NLL ↓", "Brier ↓"))
    table.add_row("sst2 (accuracy)", "ebm-sharp-hidden", "3", *["0.826±0.010"] * 5)
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    _console().print(table)
    out = sys.stdout.getvalue()
    assert "…" not in out and out.count("0.826±0.010") == 5
    monkeypatch.setenv("COLUMNS", "60")
    assert _console().width == 60


def test_results_of_the_benchmark_presets_grid_are_reproduced_by_its_one_command(make_runs):
    bench = PRESETS["benchmark"]

    def as_benchmark(runs, **hyper_change):
        for r in runs:
            c = r.record["config"]
            c["hyper"] = {**asdict(bench.hyper_for(r.task, precision="bf16")), **hyper_change}
            c["data"]["train_size"] = bench.train_size_for(r.task)
        return runs

    whole = as_benchmark(make_runs(tasks=("rte", "sst2"), methods=("baseline", "temp-scaling"), seeds=(0, 1, 2), n=30))
    assert run_commands(whole) == (
        ("calibench run --preset benchmark --tasks sst2,rte --methods baseline,temp-scaling",),
        (),
    )
    one_seed = as_benchmark(make_runs(tasks=("rte",), methods=("baseline",), seeds=(1,), n=30))
    assert run_commands(one_seed)[0] == ("calibench run --preset benchmark --tasks rte --seeds 1, --methods baseline",)
    other_lr = as_benchmark(make_runs(tasks=("rte",), methods=("baseline",), n=30), lr=1e-4)
    (cmd,), _ = run_commands(other_lr)  # no longer the preset's grid: the per-task flags spell it out
    assert "--preset benchmark" not in cmd and "--lr 0.0001" in cmd


def test_an_auto_recipe_default_of_the_preset_fits_what_either_kind_of_machine_stored(make_runs):
    """The benchmark's ``noise_bf16=auto`` stores True where bf16 is native and nothing (the
    default, False) elsewhere; the board's one command must be the same from both, and the
    preset's other EBM defaults must still be checked."""
    bench = PRESETS["benchmark"]
    fixed = {k: v for k, v in bench.options_for("ebm-hidden").items() if v != "auto"}
    assert bench.options_for("ebm-hidden")["noise_bf16"] == "auto" and fixed

    def ebm_runs(**options):
        runs = make_runs(tasks=("rte",), methods=("ebm-hidden",), n=30)
        for r in runs:
            c = r.record["config"]
            c["hyper"] = asdict(bench.hyper_for(r.task, precision="bf16"))
            c["data"]["train_size"] = bench.train_size_for(r.task)
            c["recipe"], c["recipe_options"] = "ebm-hidden", {**fixed, **options}
        return runs

    one = ("calibench run --preset benchmark --tasks rte --methods ebm-hidden",)
    assert run_commands(ebm_runs(noise_bf16=True))[0] == one
    assert run_commands(ebm_runs())[0] == one
    commands, problems = run_commands(ebm_runs(noise_lr=1e-3))  # a fixed default still has to fit
    assert commands == () and "no preset gives the stored hyper-parameters" in " ".join(problems)
