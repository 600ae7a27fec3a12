"""scripts/run_grid.py end to end on a tiny grid in a throwaway git repository: a commit per
unit, a rerun that skips what is exported (also with no store left), a kill mid-unit that
the next run completes, and a failing unit that does not stop the others."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from _tiny_run import tiny_run_args

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "run_grid.py"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def _script():
    spec = importlib.util.spec_from_file_location("run_grid", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("run_grid", mod)  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_units_are_seed_major() -> None:
    got = [(u.task, u.seed) for u in _script().units(["sst2", "rte"], [0, 1])]
    assert got == [("sst2", 0), ("rte", 0), ("sst2", 1), ("rte", 1)]


def test_a_half_written_result_file_is_not_complete(tmp_path: Path) -> None:
    mod = _script()
    path = tmp_path / "r.jsonl"
    path.write_text('{"format": "calibench-result/1", "task": "t", "method": "m", "seed": 0, "model": "x", '
                    '"fingerprint": "f", "metrics": {}, "n_test": 2, "n_classes": 2}\n[0,0.5,0.5]\n')  # fmt: skip
    assert not mod.is_complete(path)  # the header promises 2 rows
    path.write_text(path.read_text() + "[1,0.25,0.75]\n")
    assert mod.is_complete(path)


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def _grid_commits(repo: Path) -> list[str]:
    return [line for line in _git(repo, "log", "--format=%s").splitlines() if line.startswith("grid:")]


def test_the_grid_commits_per_unit_resumes_and_survives_a_kill(tmp_path: Path, tiny_bert: str, glue_dir: str) -> None:
    repo, store = tmp_path / "repo", tmp_path / "store"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "README.md").write_text("grid test\n")
    _git(repo, "add", "README.md")
    _git(repo, "commit", "-q", "-m", "init")
    tiny = tiny_run_args(task=None, train_size=32, steps=2, batch_size=8, max_length=32, seeds=None)
    board = f"{sys.executable} -m calibench.cli leaderboard --from leaderboard/results --format markdown --output leaderboard/README.md"  # noqa: E501
    cmd = [sys.executable, str(SCRIPT), "--preset", "cpu", "--store", str(store), "--board-cmd", board, "--commit",
           "--methods", "baseline,temp-scaling", "--seeds", "2", "--tasks", "sst2",
           "--", *tiny, "--model", tiny_bert, "--data-dir", glue_dir]  # fmt: skip
    env = {**os.environ, **GIT_ENV, "HF_HUB_OFFLINE": "1"}
    results = repo / "leaderboard" / "results" / "sst2"

    # 1. killed (the whole process group, SIGKILL) while the first unit trains
    proc = subprocess.Popen(cmd, cwd=repo, env=env, start_new_session=True, stdout=subprocess.PIPE, text=True)
    log = store / "grid.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (log.is_file() and "calibench.cli run" in log.read_text()):
        time.sleep(0.2)
    time.sleep(2.0)  # inside `calibench run` (imports, planning or training)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert "[1/2]" not in log.read_text()  # killed inside the first unit
    assert _grid_commits(repo) == []
    assert not (results / "baseline.seed0.jsonl").exists()

    # 2. the rerun completes both units, one commit each, seed 0 first
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.strip() for line in done.stdout.splitlines() if line.lstrip().startswith(("[", "landed"))]
    assert lines[0].startswith("landed sst2 seed 0: baseline: 2 results, committed")
    assert lines[1].startswith("[1/2] sst2 seed 0: done; 2 results")
    assert lines[2].startswith("landed sst2 seed 1: baseline: 2 results, committed")
    assert lines[3].startswith("[2/2] sst2 seed 1: done")
    commits = _grid_commits(repo)
    assert commits == [
        f"grid: sst2 seed 1: baseline (2 results of cpu, {commits[0].split(', ')[1]}",
        f"grid: sst2 seed 0: baseline (2 results of cpu, {commits[1].split(', ')[1]}",
    ]
    assert commits[0].endswith(" min)")
    tracked = _git(repo, "ls-files").split()
    for seed in (0, 1):
        for method in ("baseline", "temp-scaling"):
            assert f"leaderboard/results/sst2/{method}.seed{seed}.jsonl" in tracked
    assert "leaderboard/README.md" in tracked and _git(repo, "status", "--porcelain", "leaderboard") == ""

    # 3. a fresh machine (no store) skips the exported units; a failing unit is reported and the grid goes on
    import shutil

    shutil.rmtree(store)
    again = [*cmd[: cmd.index("--tasks") + 1], "nope,sst2", *cmd[cmd.index("--tasks") + 2 :]]
    rerun = subprocess.run(again, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 1
    out = rerun.stdout
    assert "[1/4] nope seed 0: FAILED (calibench run failed)" in out
    assert "[2/4] sst2 seed 0: skipped (exported); 2 results" in out
    assert "[4/4] sst2 seed 1: skipped (exported); 2 results" in out
    assert "grid: 2 of 4 unit(s) complete; failed: nope seed 0, nope seed 1" in out
    assert _grid_commits(repo) == commits

    # 4. the dry run on a fresh machine: what is exported counts as done, the rest is estimated
    shutil.rmtree(store)
    dry = cmd[: cmd.index("--")] + ["--dry-run"] + cmd[cmd.index("--") :]
    dry[dry.index("--methods") + 1] = "baseline,temp-scaling,label-smoothing"
    planned = subprocess.run(dry, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    out = planned.stdout
    assert "[1/2] sst2 seed 0: 1 method(s) to run: label-smoothing" in out
    assert "cost model from 2 timed training(s)" in out  # the exported results' timings
    assert "sst2     label-smoothing          1 training(s)" in out and "baseline " not in out
    assert "grid: 2 of 2 unit(s) to run, 2 training(s), about " in out
    assert not store.exists() and _grid_commits(repo) == commits  # nothing ran, nothing was written


def test_methods_group_by_the_recipe_they_share_trainings_of() -> None:
    got = _script().recipe_groups(
        ["baseline", "temp-scaling", "label-smoothing", "mc-dropout+temp-scaling", "label-smoothing+temp-scaling"]
    )
    assert got == [
        ("baseline", ["baseline", "temp-scaling", "mc-dropout+temp-scaling"]),
        ("label-smoothing", ["label-smoothing", "label-smoothing+temp-scaling"]),
    ]


def _result(path: Path, method: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'{{"format": "calibench-result/1", "task": "sst2", "method": "{method}", "seed": 0, "model": "x", '
                    '"fingerprint": "f", "metrics": {}, "n_test": 1, "n_classes": 2}\n[0,0.5,0.5]\n')  # fmt: skip


def test_a_group_lands_as_soon_as_its_results_are_exported(tmp_path: Path, monkeypatch) -> None:
    """The landing step on its own (the export stubbed): a group whose results are all there is
    committed while the others train; the final landing commits the rest or names what is missing."""
    mod = _script()
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "init")
    for k, v in GIT_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(repo)
    args = mod.parse(["--store", str(tmp_path / "store"), "--commit", "--preset", "cpu"])
    grid = mod.Grid(args, ["baseline", "temp-scaling", "label-smoothing"], tmp_path / "grid.log")
    exports = []
    monkeypatch.setattr(grid, "calibench", lambda *argv, main=True: exports.append(argv) or 0)
    unit, groups = mod.Unit("sst2", 0), mod.recipe_groups(grid.methods)
    results = repo / "leaderboard" / "results"
    _result(results / "sst2" / "baseline.seed0.jsonl", "baseline")
    landed: list[str] = []
    grid.land(unit, groups, landed, time.monotonic(), final=False)
    assert landed == [] and _grid_commits(repo) == []  # temp-scaling, of the same training, is not there yet
    _result(results / "sst2" / "temp-scaling.seed0.jsonl", "temp-scaling")
    grid.land(unit, groups, landed, time.monotonic(), final=False)
    assert landed == ["baseline"]
    assert _grid_commits(repo)[0].startswith("grid: sst2 seed 0: baseline (2 results of cpu, ")
    assert "--keep-existing" in exports[-1] and "baseline,temp-scaling,label-smoothing" in exports[-1]
    assert "--partial" in exports[-1]  # label-smoothing has no result in the store yet
    try:
        grid.land(unit, groups, landed, time.monotonic(), final=True)
    except RuntimeError as exc:
        assert "the export lacks" in str(exc) and "label-smoothing.seed0.jsonl" in str(exc)
    else:
        raise AssertionError("a final landing with a result missing must fail")
    _result(results / "sst2" / "label-smoothing.seed0.jsonl", "label-smoothing")
    grid.land(unit, groups, landed, time.monotonic(), final=True)
    assert landed == ["baseline", "label-smoothing"]
    assert _grid_commits(repo)[0].startswith("grid: sst2 seed 0: label-smoothing (1 results of cpu, ")
    assert len(_grid_commits(repo)) == 2 and _git(repo, "status", "--porcelain") == ""


def test_a_stop_signal_ends_the_grid_as_soon_as_its_command_has_ended(
    tmp_path: Path, tiny_bert: str, glue_dir: str
) -> None:
    """SIGTERM mid-unit: the command is terminated and the grid exits with it, not after the
    30 s kill deadline (the handler once waited on a child the main thread was reaping)."""
    tiny = tiny_run_args(task=None, train_size=32, steps=2, batch_size=8, max_length=32, seeds=None)
    cmd = [sys.executable, str(SCRIPT), "--preset", "cpu", "--store", str(tmp_path / "store"),
           "--methods", "baseline", "--seeds", "1", "--tasks", "sst2",
           "--", *tiny, "--model", tiny_bert, "--data-dir", glue_dir]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.PIPE)
    log = tmp_path / "store" / "grid.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (log.is_file() and "calibench.cli run" in log.read_text()):
        time.sleep(0.2)
    time.sleep(2.0)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert time.monotonic() - t0 < 25, "the grid waited for the kill deadline"
    assert log.read_text().rstrip().endswith("stopped by signal 15")


def test_the_script_explains_itself() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=True).stdout
    assert "--board-cmd" in out and "--commit" in out
