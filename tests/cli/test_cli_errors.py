"""The CLI shows a user error as one line and keeps the traceback of anything else."""

from __future__ import annotations

import numpy as np
import pytest

from calibench import cli
from calibench.errors import CalibenchError, OptionError


def _failing_results(exc: BaseException):
    def cmd(args):  # stands in for a command whose work raises
        raise exc

    return cmd


def test_a_user_error_is_one_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "results", _failing_results(OptionError("--seeds must be >= 1 (got 0)")))
    assert cli.main(["results"]) == 2
    err = capsys.readouterr().err
    assert err == "calibench: error: --seeds must be >= 1 (got 0)\n"


def test_an_internal_value_error_keeps_its_traceback(monkeypatch):
    """numpy's own ValueError is a bug to report, not a user error to print."""

    def cmd(args):
        return int(np.zeros(3) @ np.zeros(4))  # shapes (3,) and (4,) not aligned

    monkeypatch.setitem(cli.COMMANDS, "results", cmd)
    with pytest.raises(ValueError, match="not aligned|mismatch"):
        cli.main(["results"])


def test_user_errors_share_one_base_and_keep_the_builtin_callers_catch():
    from calibench.execution.ray_executor import ClusterTooSmall, RayNotInstalled
    from calibench.methods.compose import MethodSyntaxError
    from calibench.models.encoders import ModelLoadError
    from calibench.registry import RegistryError
    from calibench.report.leaderboard import LeaderboardError
    from calibench.tasks.errors import DataError
    from calibench.tracking import TrackingNotInstalled

    for cls, builtin in (
        (DataError, ValueError),
        (RegistryError, KeyError),
        (LeaderboardError, ValueError),
        (MethodSyntaxError, ValueError),
        (ModelLoadError, RuntimeError),
        (RayNotInstalled, ImportError),
        (ClusterTooSmall, RuntimeError),
        (TrackingNotInstalled, ImportError),
        (OptionError, ValueError),
    ):
        assert issubclass(cls, CalibenchError) and issubclass(cls, builtin), cls


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--methods", "baseline", "--seeds", "0", "--dry-run"], "--seeds must be >= 1"),
        (["run", "--methods", "baseline", "--preset", "nope", "--dry-run"], "unknown preset 'nope'"),
        (["run", "--methods", "label-smoothing(alpha=2)", "--dry-run"], "alpha must be a number in [0, 1)"),
    ],
)
def test_bad_run_options_are_one_line(argv, message, capsys, tmp_path):
    assert cli.main([*argv, "-o", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_timings_without_timed_trainings_names_the_command_that_takes_a_folder(tmp_path, capsys):
    assert cli.main(["timings", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"calibench: error: no timed trainings in {tmp_path}")
    assert "calibench timings DIR" in err and "--from" not in err  # `timings` takes folders, not --from


def test_jobs_auto_on_ray_is_the_ray_refusal_not_a_traceback(tmp_path, glue_dir, monkeypatch):
    from calibench import api

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = api.resolve_run(["baseline"], tasks=["rte"], output_dir=str(tmp_path), data_dir=glue_dir)
    with pytest.raises(OptionError, match="--jobs applies to --executor local"):
        api.run(cfg, executor="ray", jobs="auto")
