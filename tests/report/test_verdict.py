"""The line a run ends with: the best-calibrated method and whether that is significant after Holm."""

from __future__ import annotations

from calibench.report.verdict import run_verdict


def test_a_clearly_better_method_is_named_significant(make_runs):
    runs = make_runs(tasks=("sst2",), methods=("baseline", "temp-scaling"))
    line = run_verdict(runs, ["baseline", "temp-scaling"])
    assert line.startswith("Best calibrated by ECE (lower is better): sst2: temp-scaling ")
    assert "significantly lower than baseline" in line and "after Holm, p " in line


def test_no_real_difference_is_not_called_significant(make_runs):
    runs = make_runs(tasks=("rte",), methods=("baseline", "copy"), temperatures={"copy": 0.41})
    line = run_verdict(runs, ["baseline", "copy"])
    assert "not significant after Holm" in line or "no other method did better" in line
    assert "significantly lower" not in line


def test_without_baseline_the_first_method_is_the_reference_and_one_method_has_no_verdict(make_runs):
    runs = make_runs(tasks=("sst2",), methods=("sharpened", "temp-scaling"))
    assert "than sharpened" in run_verdict(runs, ["sharpened", "temp-scaling"])
    assert run_verdict([r for r in runs if r.method == "sharpened"], ["sharpened"]) == ""
