#!/usr/bin/env python
"""Run a benchmark grid unit by unit, exporting and committing as it goes, so that a stop at
any moment loses at most the trainings in progress.

A unit is one (task, seed), taken seed-major (seed 0 on every task first, so a partial board
covers every task early). Its methods fall into groups, one per training recipe: a group's
methods all derive from the same trainings (``temp-scaling`` and ``mc-dropout`` from
``baseline``'s), so a group lands whole or not at all. For each unit:

1. skip it if every method's result file is already in the results folder (complete: its
   header's test count matches its rows), so a fresh clone that has only the repository
   resumes where the committed results end;
2. otherwise ``calibench run --preset P --methods M --tasks T --seeds S -o STORE`` for the
   methods not yet exported (a surviving store skips the trainings it finished); every
   ``--land-every`` seconds while it runs, and once when it ends, ``calibench export`` of the
   unit into the results folder (each file written to a temporary name and renamed, so a
   half-written file never looks complete);
3. for each group whose results are all exported, regenerate the board with ``--board-cmd``
   and, with ``--commit``, ``git add`` the results and the board and commit, naming the unit,
   the groups (by recipe), their result count and the minutes so far. The board command must accept a
   seed that only some methods have (``--layout benchmark`` leaves it out of the statistics
   and lists it as pending). ``--land-every 0`` lands a unit only once it is complete.

A failing unit is logged and reported; the grid goes on with the next one (exit 1 at the
end). Safe to kill at any moment (an interrupted group is redone next time); run it in the
background with ``nohup python scripts/run_grid.py ... &`` and follow ``--log``.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import subprocess
import sys
import threading
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


def recipe_groups(methods: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``(recipe, methods)`` in order of first appearance: the methods that share trainings."""
    from calibench.methods.compose import parse_method

    groups: dict[str, list[str]] = {}
    for m in methods:
        groups.setdefault(str(parse_method(m).recipe), []).append(m)
    return list(groups.items())


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
        self.stopping: int | None = None  # the signal that stops the grid
        self.lock = threading.RLock()  # one export, board and commit at a time

    def log(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(f"{stamp} {text}\n")

    def say(self, text: str) -> None:
        self.log(text)
        print(text, flush=True)

    def call(self, argv: list[str], *, shell: bool = False, main: bool = True) -> int:
        """Run one command with its output appended to the log. The main thread's command is the
        one a stop signal terminates; the grid exits as soon as it has ended."""
        if main:
            self.exit_if_stopping()
        self.log("$ " + (argv[0] if shell else shlex.join(argv)))
        with open(self.log_path, "ab") as out:
            child = subprocess.Popen(argv[0] if shell else argv, stdout=out, stderr=subprocess.STDOUT, shell=shell)
            if not main:
                return child.wait()
            self.child = child
            try:
                code = child.wait()
            finally:
                self.child = None
        self.exit_if_stopping()
        return code

    def exit_if_stopping(self) -> None:
        """Exit on a stop signal, once a landing in progress (an export, the board, a commit) is over."""
        if self.stopping is not None:
            with self.lock:
                self.log(f"stopped by signal {self.stopping}")
                sys.exit(128 + self.stopping)

    def calibench(self, *argv: str, main: bool = True) -> int:
        return self.call([sys.executable, "-m", "calibench.cli", *argv], main=main)

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
        todo = self.todo_groups(unit)
        methods = [m for _, ms in todo for m in ms]
        t0 = time.monotonic()
        landed: list[str] = []
        done = threading.Event()
        watcher = None
        if a.land_every > 0:

            def watch() -> None:
                while not done.wait(a.land_every):
                    try:
                        self.land(unit, todo, landed, t0, final=False)
                    except RuntimeError as exc:  # a failed git step: the final landing retries it
                        self.log(f"{unit}: landing failed ({exc}); retried later")

            watcher = threading.Thread(target=watch, name="land", daemon=True)
            watcher.start()
        code = self.calibench(*self.run_argv(unit, methods))
        done.set()
        if watcher is not None:
            watcher.join()
        if code != 0:
            self.land(unit, todo, landed, t0, final=False)  # what finished before the failure
            raise RuntimeError("calibench run failed")
        self.land(unit, todo, landed, t0, final=True)
        return "done", len(files)

    def todo_groups(self, unit: Unit) -> list[tuple[str, list[str]]]:
        """The unit's recipe groups whose results are not all exported yet."""
        return [(r, ms) for r, ms in recipe_groups(self.methods) if not self.exported(unit, ms)]

    def run_argv(self, unit: Unit, methods: Sequence[str]) -> list[str]:
        a = self.args
        run = ["run", "--preset", a.preset, "--methods", ",".join(methods), "--tasks", unit.task]
        return run + ["--seeds", f"{unit.seed},", "-o", str(a.store), *a.run_args]

    def estimate(self, todo: list[Unit]) -> int:
        """``--dry-run``: what each unit still has to run and its estimated wall time, from the
        exported results (what they hold is done) and the store; the grid's total counts each
        task's noise LM once, since every seed of a task shares it."""
        from calibench import api
        from calibench.cli import build_parser, run_config
        from calibench.execution.costs import estimate_lines, fmt_seconds

        total, n_trainings, pending, noise_tasks = 0.0, 0, 0, set()
        print(f"grid dry run: {len(todo)} unit(s), {len(self.methods)} method(s), preset {self.args.preset}")
        for i, unit in enumerate(todo, start=1):
            methods = [m for _, ms in self.todo_groups(unit) for m in ms]
            if not methods:
                print(f"[{i}/{len(todo)}] {unit}: complete (exported)")
                continue
            args = build_parser().parse_args([*self.run_argv(unit, methods), "--dry-run"])
            cfg = run_config(args)
            est = api.estimate(cfg, api.plan_run(cfg), args.timings_from or [str(self.args.results)])
            shared = sum(p.seconds for task, p in est.noise if task in noise_tasks)
            noise_tasks |= {task for task, _ in est.noise}
            total += est.total_s - shared
            n_trainings += sum(not t.done for t in est.trainings)
            pending += 1
            print(f"[{i}/{len(todo)}] {unit}: {len(methods)} method(s) to run: {', '.join(methods)}")
            for line in estimate_lines(est):
                print(f"  {line}")
        print(
            f"grid: {pending} of {len(todo)} unit(s) to run, {n_trainings} training(s), about "
            f"{fmt_seconds(total)} one job at a time (each task's noise LM counted once)"
        )
        return 0

    def exported(self, unit: Unit, methods: Sequence[str]) -> bool:
        return all(is_complete(f) for f in expected_files(self.args.results, unit, methods))

    def land(
        self, unit: Unit, groups: list[tuple[str, list[str]]], landed: list[str], t0: float, *, final: bool
    ) -> None:
        """Export the unit and land (board, commit) every group whose results are all there.

        ``final``: the run has ended, so every group must land. Before that, a failed export or
        board only waits for the next try; the main thread's command is never disturbed.
        """
        a = self.args
        with self.lock:
            methods = [m for _, ms in groups for m in ms]
            # --partial: a group that has not trained yet (on a fresh store, no result of it at all)
            # must not keep the finished ones from landing
            export = ["export", "-o", str(a.store), "--output", str(a.results), "--keep-existing", "--partial"]
            code = self.calibench(*export, "--tasks", unit.task, "--methods", ",".join(methods), main=final)
            if code != 0 and final:
                raise RuntimeError("calibench export failed")
            new = [(r, ms) for r, ms in groups if r not in landed and self.exported(unit, ms)]
            if final:
                missing = [
                    str(f) for r, ms in groups for f in expected_files(a.results, unit, ms) if not is_complete(f)
                ]
                if missing:
                    raise RuntimeError(f"the export lacks {', '.join(missing)}")
            if not new:
                return
            if a.board_cmd and self.call([a.board_cmd], shell=True, main=final) != 0:
                if final:
                    raise RuntimeError(f"the board command failed: {a.board_cmd}")
                self.log(f"{unit}: the board command failed; landing {', '.join(r for r, _ in new)} is retried")
                return
            landed += [r for r, _ in new]
            n = sum(len(ms) for _, ms in new)
            what = f"{unit}: {', '.join(r for r, _ in new)}"
            status = self.commit(what, n, (time.monotonic() - t0) / 60) if a.commit else "exported"
            self.say(f"  landed {what}: {n} results, {status}")

    def commit(self, what: str, n_results: int, minutes: float) -> str:
        paths = [str(p) for p in (self.args.add or [self.args.results.parent])]
        added = self.git("add", "--", *paths)
        if added.returncode != 0:
            raise RuntimeError(f"git add failed: {added.stderr.strip()}")
        if self.git("diff", "--cached", "--quiet").returncode == 0:
            return "nothing new to commit"
        msg = f"grid: {what} ({n_results} results of {self.args.preset}, {minutes:.1f} min)"
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
            self.exit_if_stopping()
            t0 = time.monotonic()
            try:
                what, n = self.run_unit(unit)
                minutes = (time.monotonic() - t0) / 60
                self.say(f"[{i}/{len(todo)}] {unit}: {what}; {n} results, {minutes:.1f} min")
            except RuntimeError as exc:
                failed.append(unit)
                self.say(f"[{i}/{len(todo)}] {unit}: FAILED ({exc}); see {self.log_path}; going on")
        self.say(f"grid: {len(todo) - len(failed)} of {len(todo)} unit(s) complete" + (
            f"; failed: {', '.join(map(str, failed))}" if failed else ""))  # fmt: skip
        return 1 if failed else 0

    def stop(self, signum: int, _frame: object) -> None:
        """Killed: stop the running command too (its unfinished groups are redone next time).

        The handler only terminates it (and kills it if it has not ended in 30 s): the main
        thread, waiting on it, exits as soon as it has ended, never in the middle of a commit.
        """
        self.stopping = signum
        child = self.child
        if child is not None:  # else the main thread is between commands and exits at the next
            child.terminate()
            deadline = threading.Timer(30, child.kill)
            deadline.daemon = True  # the exit does not wait for it
            deadline.start()


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
    p.add_argument(
        "--land-every",
        type=float,
        default=600,
        metavar="S",
        help="export, board and commit each finished recipe group every S seconds while a unit runs "
        "(default 600; 0: only whole units)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what each unit still has to run and the estimated wall time, and stop",
    )
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
    grid = Grid(args, methods, args.log or args.store / "grid.log")  # writes nothing until it runs
    if args.dry_run:
        return grid.estimate(units(tasks, seeds))
    args.store.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, grid.stop)
    signal.signal(signal.SIGINT, grid.stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # nohup or not: a closed terminal does not stop the grid
    return grid.run(units(tasks, seeds))


if __name__ == "__main__":
    sys.exit(main())
