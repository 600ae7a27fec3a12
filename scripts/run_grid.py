#!/usr/bin/env python
"""Run a benchmark grid unit by unit, exporting and committing as it goes, so that a stop at
any moment loses at most the unit in progress.

A unit is one (task, seed), taken seed-major (seed 0 on every task first, so a partial board
covers every task early). For each unit:

1. skip it if every method's result file is already in the results folder (complete: its
   header's test count matches its rows), so a fresh clone that has only the repository
   resumes where the committed results end;
2. otherwise ``calibench run --preset P --methods M --tasks T --seeds S -o STORE`` (a
   surviving store skips the trainings it finished), then ``calibench export`` of that unit
   into the results folder (each file written to a temporary name and renamed, so a
   half-written file never looks complete);
3. regenerate the board with ``--board-cmd`` and, with ``--commit``, ``git add`` the results
   and the board and commit, naming the unit, its result count and its minutes.

A failing unit is logged and reported; the grid goes on with the next one (exit 1 at the
end). Safe to kill at any moment (an interrupted unit is redone next time); run it in the
background with ``nohup python scripts/run_grid.py ... &`` and follow ``--log``.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Unit:
    task: str
    seed: int

    def __str__(self) -> str:
        return f"{self.task} seed {self.seed}"


def units(tasks: Sequence[str], seeds: Sequence[int]) -> list[Unit]:
    """Seed-major: every task of seed 0, then of seed 1, ..."""
    return [Unit(t, s) for s in seeds for t in tasks]


def expected_files(results: Path, unit: Unit, methods: Sequence[str]) -> list[Path]:
    from calibench.report.export import run_path

    return [results / run_path(unit.task, m, unit.seed) for m in methods]


def is_complete(path: Path) -> bool:
    """A result file that reads back whole (header, and as many rows as it says)."""
    from calibench.errors import CalibenchError
    from calibench.report.export import read_run

    if not path.is_file():
        return False
    try:
        read_run(path)
    except (CalibenchError, OSError, ValueError):
        return False
    return True


class Grid:
    def __init__(self, args: argparse.Namespace, methods: list[str], log: Path) -> None:
        self.args = args
        self.methods = methods
        self.log_path = log
        self.child: subprocess.Popen[bytes] | None = None

    def log(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(f"{stamp} {text}\n")

    def say(self, text: str) -> None:
        self.log(text)
        print(text, flush=True)

    def call(self, argv: list[str], *, shell: bool = False) -> int:
        """Run one command with its output appended to the log; the driver's signals reach it."""
        self.log("$ " + (argv[0] if shell else shlex.join(argv)))
        with open(self.log_path, "ab") as out:
            self.child = subprocess.Popen(argv[0] if shell else argv, stdout=out, stderr=subprocess.STDOUT, shell=shell)
            try:
                return self.child.wait()
            finally:
                self.child = None

    def calibench(self, *argv: str) -> int:
        return self.call([sys.executable, "-m", "calibench.cli", *argv])

    def git(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *argv], capture_output=True, text=True, check=False)

    def run_unit(self, unit: Unit) -> tuple[str, int]:
        """``(what happened, exported results)``; raises RuntimeError naming the failed step."""
        a = self.args
        files = expected_files(a.results, unit, self.methods)
        if all(is_complete(f) for f in files):
            return "skipped (exported)", len(files)
        for f in files:  # leftovers of an export killed mid-write are never kept
            f.with_name(f.name + ".tmp").unlink(missing_ok=True)
        run = ["run", "--preset", a.preset, "--methods", ",".join(self.methods), "--tasks", unit.task]
        run += ["--seeds", f"{unit.seed},", "-o", str(a.store), *a.run_args]
        if self.calibench(*run) != 0:
            raise RuntimeError("calibench run failed")
        export = ["export", "-o", str(a.store), "--output", str(a.results), "--keep-existing"]
        if self.calibench(*export, "--tasks", unit.task, "--methods", ",".join(self.methods)) != 0:
            raise RuntimeError("calibench export failed")
        missing = [str(f) for f in files if not is_complete(f)]
        if missing:
            raise RuntimeError(f"the export lacks {', '.join(missing)}")
        if a.board_cmd and self.call([a.board_cmd], shell=True) != 0:
            raise RuntimeError(f"the board command failed: {a.board_cmd}")
        return "done", len(files)

    def commit(self, unit: Unit, n_results: int, minutes: float) -> str:
        paths = [str(p) for p in (self.args.add or [self.args.results.parent])]
        added = self.git("add", "--", *paths)
        if added.returncode != 0:
            raise RuntimeError(f"git add failed: {added.stderr.strip()}")
        if self.git("diff", "--cached", "--quiet").returncode == 0:
            return "nothing new to commit"
        msg = f"grid: {unit.task} seed {unit.seed} ({n_results} results of {self.args.preset}, {minutes:.1f} min)"
        done = self.git("commit", "-q", "-m", msg, "--", *paths)
        if done.returncode != 0:
            raise RuntimeError(f"git commit failed: {done.stderr.strip()}")
        return "committed " + self.git("rev-parse", "--short", "HEAD").stdout.strip()

    def run(self, todo: list[Unit]) -> int:
        failed = []
        self.say(
            f"grid: {len(todo)} unit(s), {len(self.methods)} method(s), store {self.args.store}, log {self.log_path}"
        )
        for i, unit in enumerate(todo, start=1):
            t0 = time.monotonic()
            try:
                what, n = self.run_unit(unit)
                minutes = (time.monotonic() - t0) / 60
                if what == "done" and self.args.commit:
                    what += ", " + self.commit(unit, n, minutes)
                self.say(f"[{i}/{len(todo)}] {unit}: {what}; {n} results, {minutes:.1f} min")
            except RuntimeError as exc:
                failed.append(unit)
                self.say(f"[{i}/{len(todo)}] {unit}: FAILED ({exc}); see {self.log_path}; going on")
        self.say(f"grid: {len(todo) - len(failed)} of {len(todo)} unit(s) complete" + (
            f"; failed: {', '.join(map(str, failed))}" if failed else ""))  # fmt: skip
        return 1 if failed else 0

    def stop(self, signum: int, _frame: object) -> None:
        """Killed: stop the running command too (its unit is redone next time), then exit."""
        if self.child is not None and self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.child.kill()
        self.log(f"stopped by signal {signum}")
        sys.exit(128 + signum)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", default="benchmark", help="the grid's preset (default: benchmark)")
    p.add_argument("--store", type=Path, required=True, help="the calibench results store (-o of calibench run)")
    p.add_argument("--results", type=Path, default=Path("leaderboard/results"), help="exported results folder")
    p.add_argument("--board-cmd", help="shell command that regenerates the board after each unit")
    p.add_argument("--commit", action="store_true", help="git add and commit the results and board after each unit")
    p.add_argument("--add", type=Path, action="append", help="paths to commit (default: the results folder's parent)")
    p.add_argument("--tasks", help="comma-separated tasks (default: the preset's)")
    p.add_argument("--seeds", help="a count (3) or a list (0,1,5) (default: the preset's)")
    p.add_argument("--methods", help="comma-separated methods (default: the preset's)")
    p.add_argument("--log", type=Path, help="log file (default: STORE/grid.log)")
    p.add_argument("run_args", nargs="*", help="after --: more `calibench run` options, e.g. -- --train-size 32")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    from calibench.cli import _csv, _seeds
    from calibench.methods.compose import parse_methods
    from calibench.presets import get_preset

    preset = get_preset(args.preset)
    methods_text = args.methods or ",".join(getattr(preset, "methods", None) or ())
    if not methods_text:
        print(f"run_grid: preset {args.preset!r} names no methods; pass --methods", file=sys.stderr)
        return 2
    methods = [m.label for m in parse_methods(methods_text)]
    tasks = _csv(args.tasks) if args.tasks else list(preset.tasks)
    seeds = _seeds(args.seeds) if args.seeds else list(preset.seeds)
    seeds = list(range(seeds)) if isinstance(seeds, int) else seeds
    args.store.mkdir(parents=True, exist_ok=True)
    grid = Grid(args, methods, args.log or args.store / "grid.log")
    signal.signal(signal.SIGTERM, grid.stop)
    signal.signal(signal.SIGINT, grid.stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # nohup or not: a closed terminal does not stop the grid
    return grid.run(units(tasks, seeds))


if __name__ == "__main__":
    sys.exit(main())
