"""The command lines behind a leaderboard: the one that regenerates it, and the ``calibench
run`` commands that recreate its results.

Why verified: a reproduction command that is only *probably* right is worse than none. The
run command is rebuilt from the stored training configurations and accepted only if laying
its flags over a preset gives back exactly the stored hyper-parameters (and every stored
estimator is one ``calibench run`` computes with that ``--ece-bins``); otherwise the
leaderboard says the configuration has no single-command form and lists it instead.
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from calibench import flags
from calibench.metrics import parse_estimator
from calibench.report.leaderboard import LeaderboardOptions
from calibench.report.runs import Run

#: Hyper-parameters a reproduction command always states (besides its length, epochs or
#: steps); the rest must come from a preset.
_FLAG_HYPER: tuple[tuple[str, str], ...] = tuple(
    (k, flags.HYPER[k]) for k in ("batch_size", "lr", "precision", "max_length")
)


def _quote_all(args: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)


def command_line(
    subcommand: str,
    *,
    source: tuple[str, str],
    options: LeaderboardOptions,
    tasks: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    model: str | None = None,
    extra: Sequence[str] = (),
) -> str:
    """``calibench <subcommand> ...`` (leaderboard or report) with every option that differs from its default.

    ``source`` is ``(flags.FROM, DIR)`` or ``(flags.STORE[0], STORE)``; ``extra`` are the output flags. Paths
    are written as given (relative paths stay relative, so a committed command works from the
    repository root).
    """
    from calibench.report.leaderboard import layout_defaults

    default = LeaderboardOptions(**layout_defaults(options.layout))  # the layout itself: plain unless given
    args = ["calibench", subcommand, *source]
    for name, flag in flags.BOARD.items():
        value, base = getattr(options, name), getattr(default, name)
        if value != base:
            args += [flag, ",".join(value) if name == "metrics" else str(value)]
    S = flags.SELECT
    if tasks:
        args += [S["tasks"], ",".join(tasks)]
    if methods:
        args += [S["methods"], ",".join(methods)]
    if model:
        args += [S["model"], model]
    return _quote_all([*args, *extra])


def _ece_bins_flag(runs: Sequence[Run]) -> list[str] | None:
    """``[]`` or ``["--ece-bins", N]`` if every stored estimator is what ``calibench run`` computes
    with that setting; None if no ``--ece-bins`` reproduces them."""
    from calibench.metrics import evaluation_specs, metric_names

    bins = set()
    for r in runs:
        ece = r.result.metrics.get("ece")
        if ece is None:
            return None
        bins.add(parse_estimator(ece["estimator"])[1].get("bins"))
    if len(bins) != 1 or not str(next(iter(bins))).isdigit():
        return None
    n_bins = int(next(iter(bins)))
    candidates = [{k: s.estimator for k, s in evaluation_specs(tm, ece_bins=n_bins).items()} for tm in metric_names()]
    for r in runs:
        stored = {k: v["estimator"] for k, v in r.result.metrics.items()}
        # every stored estimator is one the run computes (a newer calibench may compute more)
        if not any(all(c.get(k) == e for k, e in stored.items()) for c in candidates):
            return None
    default_bins = int(parse_estimator(evaluation_specs("accuracy")["ece"].estimator)[1]["bins"])
    return [] if n_bins == default_bins else [flags.RUN["ece_bins"], str(n_bins)]


def _task_run_args(task: str, runs: Sequence[Run]) -> tuple[list[str] | None, str]:
    """Flags (all but ``--tasks``) of a ``calibench run`` that recreates ``runs`` of one task, or (None, why)."""
    from calibench.presets import PRESETS

    configs = [r.result.config for r in runs]
    if any("external" in c for c in configs):
        return None, f"{task}: scored from saved predictions, not trained here; rerun `calibench score` on them"
    if any(not c.get("hyper") for c in configs):
        return None, f"{task}: stored results lack their training configuration"
    hypers = {tuple(sorted(c["hyper"].items())) for c in configs}
    if len(hypers) != 1:
        return None, f"{task}: methods were trained with different hyper-parameters"
    hyper: Mapping[str, Any] = dict(next(iter(hypers)))
    data = {(c.get("data", {}).get("train_size"), c.get("data", {}).get("data_seed", 0)) for c in configs}
    if len(data) != 1:
        return None, f"{task}: results use different training subsamples"
    train_size, data_seed = next(iter(data))
    bins_flag = _ece_bins_flag(runs)
    if bins_flag is None:
        return None, f"{task}: the stored metrics were not computed with `calibench run`'s estimators"
    overrides: dict[str, Any] = {k: hyper[k] for k, _ in _FLAG_HYPER}
    length: list[str]
    if hyper.get("max_steps"):
        overrides["max_steps"] = hyper["max_steps"]
        length = [flags.HYPER["max_steps"], str(hyper["max_steps"])]
    else:
        overrides["epochs"] = hyper["epochs"]
        length = [flags.HYPER["epochs"], repr(hyper["epochs"])]
    for name, preset in PRESETS.items():
        if asdict(preset.hyper_for(task, **overrides)) != dict(hyper):
            continue
        if not all(_options_fit(preset, c) for c in configs):
            continue
        methods = sorted({r.method for r in runs})
        seed_arg = _seeds_arg(sorted({r.seed for r in runs}))
        R = flags.RUN
        args = [R["preset"], name, R["methods"], ",".join(methods), R["seeds"], seed_arg, R["model"], runs[0].model]
        args += [R["full_train"]] if train_size is None else [R["train_size"], str(train_size)]
        if data_seed:
            args += [R["data_seed"], str(data_seed)]
        args += length
        for key, flag in _FLAG_HYPER:
            args += [flag, repr(hyper[key]) if isinstance(hyper[key], float) else str(hyper[key])]
        return args + bins_flag, ""
    return None, f"{task}: no preset gives the stored hyper-parameters with `calibench run`'s flags"


def _seeds_arg(seeds: Sequence[int]) -> str:
    seeds = sorted(seeds)
    return (
        str(len(seeds))
        if seeds == list(range(len(seeds)))
        else ",".join(map(str, seeds)) + ("," if len(seeds) == 1 else "")
    )


def _fits_preset(preset: Any, r: Run) -> bool:
    """The preset's own settings give back ``r``'s training configuration exactly."""
    c = r.result.config
    hyper = preset.hyper_for(r.task, precision=c["hyper"].get("precision"))
    data = c.get("data", {})
    return (
        asdict(hyper) == dict(c["hyper"])
        and data.get("train_size") == preset.train_size_for(r.task)
        and not data.get("data_seed", 0)
        and _options_fit(preset, c)
    )


def _options_fit(preset: Any, config: Mapping[str, Any]) -> bool:
    """The preset's recipe defaults are all in the stored recipe configuration. An ``auto``
    default (EBM's ``noise_bf16``) is resolved by the machine that trains, so it fits what
    any machine stored: the board must read the same wherever it is regenerated."""
    stored = config.get("recipe_options", {})
    return all(v == "auto" or stored.get(k) == v for k, v in preset.options_for(config["recipe"]).items())


def preset_command(runs: Sequence[Run]) -> str | None:
    """``calibench run --preset NAME`` (plus ``--tasks``/``--seeds``/``--methods`` only where the
    runs are part of the preset's grid) when a preset that names its methods gives back every
    run's training configuration exactly; None otherwise."""
    from calibench.presets import PRESETS

    if not runs or _ece_bins_flag(runs) != []:
        return None
    configs = [r.result.config for r in runs]
    if any("external" in c or not c.get("hyper") for c in configs):
        return None
    for name, preset in PRESETS.items():
        if not preset.methods:
            continue
        methods, tasks, seeds = {r.method for r in runs}, {r.task for r in runs}, {r.seed for r in runs}
        if not (methods <= set(preset.methods) and tasks <= set(preset.tasks) and seeds <= set(preset.seeds)):
            continue
        if any(r.model != preset.model for r in runs):
            continue

        if not all(_fits_preset(preset, r) for r in runs):
            continue
        R = flags.RUN
        args = ["calibench", "run", R["preset"], name]
        if tasks != set(preset.tasks):
            args += [R["tasks"], ",".join(t for t in preset.tasks if t in tasks)]
        if seeds != set(preset.seeds):
            args += [R["seeds"], _seeds_arg(sorted(seeds))]
        if methods != set(preset.methods):
            args += [R["methods"], ",".join(m for m in preset.methods if m in methods)]
        return _quote_all(args)
    return None


def run_commands(runs: Sequence[Run]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``calibench run`` command lines that recreate ``runs``: one ``--preset`` line when a
    preset's own grid gives every run back (the benchmark's), else one per group of tasks with
    equal flags; and the reasons for tasks that no command line reproduces."""
    whole = preset_command(runs)
    if whole is not None:
        return (whole,), ()
    by_task: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        by_task[r.task].append(r)
    grouped: dict[tuple[str, ...], list[str]] = defaultdict(list)
    problems = []
    for task in sorted(by_task):
        args, why = _task_run_args(task, by_task[task])
        if args is None:
            problems.append(why)
        else:
            grouped[tuple(args)].append(task)
    commands = []
    for args, tasks in sorted(grouped.items(), key=lambda kv: kv[1]):
        a = list(args)
        i = a.index(flags.RUN["methods"])
        commands.append(_quote_all(["calibench", "run", *a[: i + 2], flags.RUN["tasks"], ",".join(tasks), *a[i + 2 :]]))
    return tuple(commands), tuple(problems)
