"""Exported results: exact round trip from a real store, recomputation checks, directory upkeep."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calibench.report.export import (
    FORMAT,
    export_runs,
    load_result_runs,
    read_run,
    run_path,
)
from calibench.report.leaderboard import LeaderboardOptions, build_leaderboard
from calibench.report.runs import (
    LeaderboardError,
    MetricMismatch,
    Run,
    load_store_runs,
)


@pytest.fixture
def store_runs(tmp_path, make_runs, store_of):
    store = store_of(tmp_path / "store", make_runs(tasks=("rte", "mrpc"), n=120))
    return store, load_store_runs(store)


def test_round_trip_is_exact_and_gives_the_same_leaderboard(tmp_path, store_runs):
    _, runs = store_runs
    summary = export_runs(runs, tmp_path / "results")
    assert len(summary.written) == 12 and not summary.removed and not summary.store_disagreements
    back = {(r.task, r.method, r.seed): r for r in load_result_runs(tmp_path / "results")}
    for r in runs:
        b = back[(r.task, r.method, r.seed)]
        assert b.probs.dtype == np.float32 and np.array_equal(b.probs, r.probs)  # bit for bit
        assert np.array_equal(b.labels, r.labels)
        assert b.record["fingerprint"] == r.fingerprint and b.record["config"]["hyper"] == r.record["config"]["hyper"]
    opts = LeaderboardOptions(metrics=("ece", "accuracy", "nll"), n_resamples=200)
    a, b = build_leaderboard(runs, opts), build_leaderboard(list(back.values()), opts)
    for ba, bb in zip(a.boards, b.boards, strict=True):
        assert ba.cells == bb.cells
        assert {k: (c.pvalue, c.pvalue_holm, c.verdict) for k, c in ba.comparisons.items()} == {
            k: (c.pvalue, c.pvalue_holm, c.verdict) for k, c in bb.comparisons.items()
        }


def test_file_layout_and_header(tmp_path, store_runs):
    _, runs = store_runs
    export_runs(runs, tmp_path / "results")
    path = tmp_path / "results" / "rte" / "temp-scaling.seed1.jsonl"
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["format"] == FORMAT and header["task"] == "rte" and header["seed"] == 1
    assert header["columns"] == ["label", "p0", "p1"] and header["n_test"] == 120 == len(lines) - 1
    assert "data_dir" not in header["config"] and "source" not in header["split"]  # no local paths
    assert '"seconds"' not in json.dumps(header)  # no timings
    row = json.loads(lines[1])
    assert len(row) == 3 and row[0] in (0, 1) and abs(sum(row[1:]) - 1) < 1e-6


def test_reexport_is_byte_identical_and_prunes_stale_files(tmp_path, store_runs):
    _, runs = store_runs
    out = tmp_path / "results"
    export_runs(runs, out)
    before = {p: p.read_bytes() for p in out.rglob("*.jsonl")}
    foreign = out / "NOTES.jsonl"
    foreign.write_text('{"not": "a result"}\n')
    again = export_runs(runs, out)
    assert not again.written and len(again.unchanged) == 12
    assert {p: p.read_bytes() for p in out.rglob("*.jsonl") if p != foreign} == before
    only_rte = [r for r in runs if r.task == "rte"]
    kept = export_runs(only_rte, out, keep_existing=True)
    assert not kept.removed
    pruned = export_runs(only_rte, out)
    assert len(pruned.removed) == 6 and not (out / "mrpc").exists() and foreign.exists()


def test_odd_method_labels_map_to_one_file_and_back(tmp_path, make_runs):
    labels = ["mc-dropout(samples=10)+temp-scaling", "a/b", "<script>alert(1)</script>", "x y%"]
    runs = [
        Run({**r.record, "method": lab}, r.probs, r.labels, r.source)
        for r, lab in zip(
            make_runs(tasks=("rte",), methods=("baseline",), seeds=(0, 1, 2, 3), n=20), labels, strict=True
        )
    ]
    export_runs(runs, tmp_path / "results")
    files = sorted(p.relative_to(tmp_path / "results").as_posix() for p in (tmp_path / "results").rglob("*.jsonl"))
    assert files == sorted(run_path("rte", lab, i).as_posix() for i, lab in enumerate(labels))
    assert all("/" not in f.split("/", 1)[1] for f in files)
    assert (
        run_path("rte", "mc-dropout(samples=10)+temp-scaling", 0).name
        == "mc-dropout(samples=10)+temp-scaling.seed0.jsonl"
    )
    assert sorted(r.method for r in load_result_runs(tmp_path / "results")) == sorted(labels)


def test_two_runs_for_one_file_are_refused(tmp_path, make_runs):
    runs = make_runs(tasks=("rte",), methods=("baseline",), seeds=(0,), n=20)
    other = Run({**runs[0].record, "model": "roberta-base", "key": "other"}, runs[0].probs, runs[0].labels, "other")
    with pytest.raises(LeaderboardError, match=r"would both be exported as rte/baseline.seed0.jsonl"):
        export_runs([runs[0], other], tmp_path / "results")


def _edit(path, fn):
    lines = path.read_text().splitlines()
    fn(lines)
    path.write_text("\n".join(lines) + "\n")


def test_a_submitted_metric_that_disagrees_fails_naming_the_file(tmp_path, store_runs):
    _, runs = store_runs
    out = tmp_path / "results"
    export_runs(runs, out)
    path = out / "mrpc" / "baseline.seed2.jsonl"

    def tamper(lines):
        header = json.loads(lines[0])
        header["metrics"]["ece"]["value"] -= 0.01  # a better-looking ECE than the predictions give
        lines[0] = json.dumps(header)

    _edit(path, tamper)
    with pytest.raises(MetricMismatch, match="1 submitted metric") as err:
        load_result_runs(out)
    assert str(path) in str(err.value) and "ece [ece(bins=15" in str(err.value)
    assert len(load_result_runs(out, verify=False)) == 12


def test_edited_probabilities_fail_the_recomputation(tmp_path, store_runs):
    _, runs = store_runs
    out = tmp_path / "results"
    export_runs(runs, out)
    path = out / "rte" / "temp-scaling.seed0.jsonl"

    def flip(lines):  # swap the two probabilities of every example: accuracy, NLL, Brier, ECE all move
        for i in range(1, len(lines)):
            label, p0, p1 = json.loads(lines[i])
            lines[i] = json.dumps([label, p1, p0])

    _edit(path, flip)
    with pytest.raises(MetricMismatch) as err:
        load_result_runs(out)
    for key in ("accuracy", "nll", "brier", "ece"):
        assert f"seed 0 ({path}): {key} [" in str(err.value)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda lines: lines.pop(), r"header says 120 test examples, the file has 119 rows"),
        (lambda lines: lines.__setitem__(0, "{nope"), r":1: the header is not JSON"),
        (lambda lines: lines.__setitem__(3, "[1, 0.5]"), r"baseline.seed0.jsonl:4: expected a list of 3 numbers"),
        (lambda lines: lines.__setitem__(3, "[0.5, 0.5, 0.5]"), r"labels \(first column\) must be integers"),
    ],
)
def test_malformed_files_are_named(tmp_path, store_runs, edit, message):
    _, runs = store_runs
    export_runs(runs[:1], tmp_path / "results")
    (path,) = (tmp_path / "results").rglob("*.jsonl")
    _edit(path, edit)
    with pytest.raises(LeaderboardError, match=message):
        read_run(path)


def test_store_disagreements_are_reported_not_hidden(tmp_path, make_runs, store_of):
    runs = make_runs(tasks=("rte",), methods=("baseline",), seeds=(0,), n=50)
    rec = json.loads(json.dumps(runs[0].record))
    rec["metrics"]["mce"]["value"] += 0.5
    store = store_of(tmp_path / "store", [Run(rec, runs[0].probs, runs[0].labels)])
    summary = export_runs(load_store_runs(store), tmp_path / "results")
    (d,) = summary.store_disagreements
    assert d.metric == "mce"
    header = json.loads((tmp_path / "results" / "rte" / "baseline.seed0.jsonl").read_text().splitlines()[0])
    assert header["metrics"]["mce"]["value"] == pytest.approx(d.recomputed)  # the file holds the recomputation


def test_a_partial_export_writes_what_the_store_has_and_names_the_rest(tmp_path, store_runs, capsys):
    """How the grid driver lands a unit while it trains: on a fresh store the unit's later
    methods have no result at all, and that must not hold back the finished ones."""
    from calibench.cli import main

    store, runs = store_runs
    method = sorted({r.method for r in runs})[0]
    out = tmp_path / "out"
    argv = [
        "export",
        "-o",
        str(store),
        "--output",
        str(out),
        "--tasks",
        "rte,cola",
        "--methods",
        f"{method},ebm-hidden",
    ]
    assert main(argv) == 2  # without --partial a name with no results is an error: most often a typo
    assert "no results for task(s) cola" in capsys.readouterr().err and not out.exists()
    assert main([*argv, "--partial"]) == 0
    said = capsys.readouterr().out
    assert "no results yet for task(s) cola: left out (--partial)" in said
    assert "no results yet for method(s) ebm-hidden: left out (--partial)" in said
    seeds = sorted(r.seed for r in runs if r.task == "rte" and r.method == method)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jsonl")) == [
        run_path("rte", method, s).as_posix() for s in seeds
    ]
