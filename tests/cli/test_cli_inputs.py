"""Inputs that used to be accepted silently are refused with one line; a run that found jobs busy says so."""

from __future__ import annotations

import pytest

from calibench import api
from calibench.cli import EXIT_INCOMPLETE, main
from calibench.methods.compose import MethodSyntaxError, parse_method
from calibench.store.db import Store, default_owner

TINY = [
    "--tasks",
    "rte",
    "--train-size",
    "16",
    "--max-steps",
    "1",
    "--batch-size",
    "8",
    "--max-length",
    "32",
    "--seeds",
    "1",
]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--tasks", ""], "--tasks names no task"),
        (["--tasks", " , "], "--tasks names no task"),
        (["--ece-bins", "0"], "--ece-bins must be >= 1 (got 0)"),
        (["--methods", "label-smoothing(alpha=0.1,alpha=0.3)"], "option 'alpha' is given twice"),
        (["--tasks", "no-such-task"], "no-such-task"),
    ],
)
def test_refused_with_one_line_and_no_store_left_behind(argv, message, tmp_path, capsys):
    store = tmp_path / "store"
    methods = [] if "--methods" in argv else ["--methods", "baseline"]
    assert main(["run", *methods, *argv, "-o", str(store)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not store.exists()  # a run refused at validation creates no store


def test_a_duplicated_option_is_refused_by_the_parser():
    with pytest.raises(MethodSyntaxError, match="given twice"):
        parse_method("temp-scaling(fit_on=dev,fit_on=train)")


def test_a_sweep_that_found_jobs_busy_elsewhere_exits_with_its_own_status(tmp_path, tiny_bert, glue_dir, capsys):
    out = tmp_path / "runs"
    argv = ["run", "--methods", "baseline", *TINY, "--model", tiny_bert, "--data-dir", glue_dir, "-o", str(out)]
    cfg = api.resolve_run(
        "baseline",
        tasks=["rte"],
        seeds=1,
        train_size=16,
        max_steps=1,
        batch_size=8,
        max_length=32,
        model=tiny_bert,
        data_dir=glue_dir,
        output_dir=str(out),
    )
    (spec,) = api.plan_run(cfg).trainings
    store = Store(out)
    assert store.claim(spec.key, spec.to_json(), default_owner())  # another live sweep (this process) holds it
    store.close()
    assert main(argv) == EXIT_INCOMPLETE != 0
    text = " ".join(capsys.readouterr().out.split())
    assert "busy elsewhere 1" in text and "incomplete" in text and "Rerun this command" in text
