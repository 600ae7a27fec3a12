"""``calibench`` command line: thin; parses, resolves presets and calls :mod:`calibench.api`.

Heavy imports (torch, transformers) happen inside the commands that need them, so
``calibench ls`` and ``--help`` stay fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from calibench import flags
from calibench.errors import CalibenchError

if TYPE_CHECKING:
    from calibench.api import RunConfig

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}

#: exit status of a run that finished its own work but found jobs busy in another sweep
EXIT_INCOMPLETE = 3


def command(name: str) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    def deco(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = fn
        return fn

    return deco


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _seeds(text: str) -> int | list[int]:
    """``3`` means seeds 0,1,2; ``0,4,7`` lists them."""
    try:
        if "," in text:
            return [int(t) for t in _csv(text)]
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes a count (3) or a list (0,1,5), not {text!r}") from None


def _preset_help() -> str:
    from calibench.presets import DEFAULT_PRESET, PRESETS

    names = ", ".join(f"{n} (default)" if n == DEFAULT_PRESET else n for n in PRESETS)
    return f"one of {names}; `calibench ls presets` describes each"


def build_parser() -> argparse.ArgumentParser:
    from calibench import __version__

    p = argparse.ArgumentParser(
        prog="calibench",
        description="Calibration benchmarking for NLU classifiers: EBM finetuning and baselines on GLUE.",
    )
    p.add_argument("--version", action="version", version=f"calibench {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser(
        "run",
        help="train and evaluate methods x tasks x seeds (skips finished work)",
        description="Train and evaluate. Unset options come from the preset, which says what it chose.",
    )
    r.add_argument(
        flags.RUN["methods"],
        "-m",
        type=str,
        help="comma-separated methods, each recipe[+inference][+calibrator], e.g. baseline,temp-scaling "
        "(default: the preset's, for presets that have them: benchmark)",
    )
    r.add_argument(flags.RUN["tasks"], "-t", type=_csv, help="comma-separated GLUE tasks (default: the preset's)")
    r.add_argument(flags.RUN["seeds"], "-s", type=_seeds, help="a count (3 = seeds 0,1,2) or a list (0,1,5)")
    r.add_argument(flags.RUN["model"], help="encoder: Hugging Face id, local path, or alias (minilm)")
    r.add_argument(flags.RUN["preset"], help=_preset_help())
    r.add_argument(flags.RUN["train_size"], type=int, help="seeded training subsample size (default: the preset's)")
    r.add_argument(flags.RUN["full_train"], action="store_true", help="use the whole training set")
    r.add_argument(flags.RUN["data_seed"], type=int, default=0, help="seed of the training subsample (default 0)")
    r.add_argument(
        "--data-dir",
        help="local GLUE copy (nyu-mll/glue parquet or GLUE TSV layout); "
        "default: $CALIBENCH_DATA_DIR, ./glue, ../shared/glue, then the hub",
    )
    r.add_argument(flags.HYPER["epochs"], type=float)
    r.add_argument(flags.HYPER["max_steps"], type=int, help="optimisation steps (overrides epochs)")
    r.add_argument(flags.HYPER["batch_size"], type=int)
    r.add_argument(flags.HYPER["lr"], "--learning-rate", dest="lr", type=float)
    r.add_argument(flags.HYPER["max_length"], type=int)
    r.add_argument(flags.HYPER["precision"], choices=["auto", "bf16", "fp32"], help="auto: bf16 where native")
    r.add_argument(flags.RUN["ece_bins"], type=int, help="bins of the top-label ECE (default 15)")
    r.add_argument(
        "--shift",
        action="append",
        metavar="TASK:SOURCE",
        help="also score on a shifted set, from the same training: rte:qnli, rte:wnli, "
        "mnli:mnli(split=validation_mismatched), TASK:hub(id=...,fields=...,labels=...); repeatable",
    )
    r.add_argument(
        "--ood",
        action="append",
        metavar="TASK:SOURCE",
        help="also score OOD detection against another set's texts (labels unused): sst2:cola, rte:sst2; repeatable",
    )
    r.add_argument(
        "--task-def",
        action="append",
        metavar="NAME=SOURCE(...)",
        help="a task beyond GLUE: NAME=files(train=PATH,validation=PATH,text=COL,labels=A;B) or "
        "NAME=hub(id=DATASET,text=COL,labels=A;B); repeatable",
    )
    r.add_argument(
        "--no-keep-models",
        dest="keep_models",
        action="store_false",
        help="do not keep finetuned weights (~90 MB each for MiniLM); outputs asked for later "
        "then need the training again",
    )
    r.add_argument(*flags.STORE, dest="output_dir", help="results store and artifacts (default ./calibench-runs)")
    r.add_argument("--device", help="cpu, cuda, cuda:1 (default: a GPU if present)")
    r.add_argument("--retry-failed", action="store_true", help="rerun trainings that failed before")
    r.add_argument("--dry-run", action="store_true", help="print the plan and its estimated wall time, and stop")
    r.add_argument(
        "--timings-from",
        action="append",
        metavar="DIR",
        help="--dry-run: calibrate the cost model on this store or exported-results folder too "
        "(repeatable; default: the run's store and ./leaderboard)",
    )
    r.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: this machine, one job at a time in this process or --jobs N at once (default); "
        "ray: Ray tasks, one GPU per job where the cluster has GPUs (pip install 'calibench[ray]')",
    )
    r.add_argument(
        "--jobs",
        "-j",
        help="local: trainings at once, each in its own worker process; auto: one one-thread job per core "
        "on a CPU (default: the preset's, 1 = in this process, with live progress; benchmark: auto)",
    )
    r.add_argument("--address", help="ray: join the cluster at this address (default: start a local one)")
    r.add_argument("--num-cpus", type=int, help="ray: CPUs of the local cluster (default: every core)")
    r.add_argument(
        "--cpus-per-job",
        type=float,
        help="CPUs (torch threads) of each training job (ray default 1; local --jobs N default: the cores / N)",
    )
    r.add_argument(
        "--track",
        choices=["mlflow"],
        help="also log params, per-step losses and metrics to MLflow (pip install 'calibench[mlflow]')",
    )
    r.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite:///<output-dir>/mlflow.db)")

    ls = sub.add_parser("ls", help="list tasks, methods, models, metrics or presets")
    ls.add_argument(
        "what", nargs="?", default="all", choices=["all", "tasks", "methods", "models", "metrics", "presets"]
    )

    noise = sub.add_parser("noise", help="inspect EBM noise: masked inputs next to their samples")
    noise_sub = noise.add_subparsers(dest="noise_command", metavar="ACTION", required=True)
    show = noise_sub.add_parser("show", help="print masked inputs beside their noise samples")
    show.add_argument("--task", "-t", required=True)
    show.add_argument("-n", type=int, default=10, help="how many pairs (default 10)")
    show.add_argument("--seed", type=int, default=0)
    show.add_argument(*flags.STORE, dest="output_dir", default=None, help="store whose cached corpora to read")
    show.add_argument("--train-size", type=int, help="without a cached corpus: noise LM training examples")
    show.add_argument("--data-dir")

    sc = sub.add_parser(
        "score",
        help="calibrate and score saved dev/test logits from any model (no training)",
        description="Fit each method's calibrator on the --dev logits, score the --test logits with "
        "every registered metric, store the results and show the leaderboard. Files: "
        ".npz (logits, labels[, seeds]), .npy logits with --dev-labels/--test-labels, "
        '.jsonl lines {"logits": [...], "label": k[, "seed": s]}, .parquet '
        "columns logits, label[, seed]. One --dev/--test pair per seed, or a seed field.",
    )
    sc.add_argument(
        "--dev",
        action="append",
        required=True,
        metavar="FILE",
        help="dev-half logits with labels (fits the calibrators); repeat once per seed",
    )
    sc.add_argument(
        "--test",
        action="append",
        required=True,
        metavar="FILE",
        help="test-half logits with labels (every reported number); repeat once per seed",
    )
    sc.add_argument("--dev-labels", action="append", metavar="FILE", help="labels .npy for .npy --dev logits")
    sc.add_argument("--test-labels", action="append", metavar="FILE", help="labels .npy for .npy --test logits")
    sc.add_argument(
        "--methods",
        "-m",
        default="baseline,temp-scaling",
        help="baseline (the logits as they are) and/or calibrators, comma-separated "
        "(default baseline,temp-scaling; see calibench ls methods)",
    )
    sc.add_argument("--seeds", "-s", type=_seeds, help="seeds of the --dev/--test pairs (default 0, 1, ...)")
    sc.add_argument("--task", required=True, help="name of the task on the board (e.g. my-sentiment)")
    sc.add_argument("--model", default="external", help="name of the model that made the logits (default external)")
    sc.add_argument(
        "--task-metric",
        choices=["accuracy", "mcc", "f1"],
        default="accuracy",
        help="the task's own metric, stored beside the calibration metrics (default accuracy)",
    )
    sc.add_argument("--ece-bins", type=int, help="bins of the top-label ECE (default 15)")
    sc.add_argument(*flags.STORE, dest="output_dir", help="results store (default ./calibench-runs)")
    sc.add_argument(
        "--metric",
        type=_csv,
        default=["ece", "aurc"],
        help="metric key(s) of the leaderboard shown at the end (default ece,aurc)",
    )
    sc.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of that leaderboard (1000)")

    res = sub.add_parser("results", help="show the stored results table")
    res.add_argument(*flags.STORE, dest="output_dir", default=None, help="results store (default ./calibench-runs)")
    res.add_argument("--task")
    res.add_argument("--method")
    res.add_argument("--format", choices=["table", "csv", "json"], default="table")
    ck = sub.add_parser(
        "check", help="report what is missing or corrupt in a store and what a rerun recomputes (exit 1 if anything is)"
    )
    ck.add_argument(*flags.STORE, dest="store", default=None, help="results store (default ./calibench-runs)")
    way = ck.add_mutually_exclusive_group()
    way.add_argument(
        "--rebuild",
        action="store_true",
        help="write a new database from the artifacts' manifests (the damaged file is kept beside it)",
    )
    way.add_argument(
        "--restore", action="store_true", help="put back the database backup that the last `calibench run` wrote"
    )
    _add_reporting_parsers(sub)
    return p


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(flags.SELECT["tasks"], type=_csv, help="only these tasks (comma-separated)")
    parser.add_argument(flags.SELECT["methods"], type=_csv, help="only these methods (comma-separated labels)")
    parser.add_argument(flags.SELECT["model"], help="only results of this encoder")


def _add_source(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group()
    src.add_argument(*flags.STORE, dest="store", help="results store (default ./calibench-runs)")
    src.add_argument(
        flags.FROM,
        dest="results_dir",
        metavar="DIR",
        help="exported results (calibench export); every metric is recomputed and checked",
    )


def _add_board_options(parser: argparse.ArgumentParser) -> None:
    B = flags.BOARD
    parser.add_argument(
        B["layout"],
        choices=["plain", "benchmark"],
        default="plain",
        help="benchmark: the benchmark's seven metrics and 4000 resamples unless given, Holm within each "
        "metric's table, tasks the reference did not learn flagged and left out of ranks, and the sections "
        "across tasks, head to head, trade-off and the paper's claims, with SVG figures next to --output",
    )
    parser.add_argument(
        B["metrics"],
        type=_csv,
        default=None,
        help="metric key(s), comma-separated: ece (the plain layout's default), accuracy, nll, brier, mce, "
        "ece_classwise, ece_paper, smece, aurc, selective_accuracy_80, task_metric (each task's own), ... "
        "(calibench ls metrics lists all); one table each",
    )
    parser.add_argument(
        B["reference"], default="baseline", help="method every other is tested against (default baseline)"
    )
    parser.add_argument(
        B["alpha"], type=float, default=0.05, help="family-wise level of the Holm-corrected tests (0.05)"
    )
    parser.add_argument(B["confidence"], type=float, default=0.95, help="level of every interval (0.95)")
    parser.add_argument(
        B["n_resamples"], type=int, default=None, help="bootstrap resamples (1000; the benchmark layout 4000)"
    )
    parser.add_argument(B["seed"], type=int, default=0, help="seed of the bootstrap resamples (0)")
    parser.add_argument(
        B["ci"],
        choices=["auto", "seed", "bootstrap"],
        default="auto",
        help="the ± shown: t-interval over seeds, or bootstrap over test examples "
        "(auto: seeds where every cell has 2+)",
    )
    parser.add_argument(
        B["test"],
        choices=["bootstrap", "t-test"],
        default="bootstrap",
        help="primary paired test: bootstrap over seeds and test examples (default) or t-test over seeds",
    )
    parser.add_argument(
        B["incomplete_seeds"],
        choices=["refuse", "leave-out"],
        default=None,
        help="a seed some of a task's methods lack: refuse the board (the plain layout's default) or leave "
        "it out of that task's statistics and list it as pending (the benchmark layout's)",
    )
    _add_selection(parser)


def _add_reporting_parsers(sub: Any) -> None:
    lb = sub.add_parser(
        "leaderboard",
        help="per task and method: mean ± interval, paired tests against a reference "
        "(Holm), average ranks, Friedman and Nemenyi",
        description="Every number is recomputed from the stored per-example test probabilities.",
    )
    _add_source(lb)
    _add_board_options(lb)
    lb.add_argument("--format", choices=["terminal", "markdown"], default="terminal")
    lb.add_argument(flags.OUTPUT, metavar="FILE", help="write to FILE instead of the terminal")
    lb.add_argument(
        "--check",
        metavar="FILE",
        help="regenerate the markdown FILE (implies --format markdown) and exit 1, printing a diff, "
        "if the committed file differs",
    )
    lb.add_argument(
        flags.ANSWER_INTO,
        metavar="FILE",
        help="benchmark layout: also write the board's answer (its headline lines) into the block of the "
        "markdown FILE between calibench's answer markers, e.g. the project README; --check checks it too",
    )

    ex = sub.add_parser(
        "export",
        help="write stored results (config, metrics, per-example test probabilities) "
        "as reviewable JSON-lines files for the leaderboard",
    )
    ex.add_argument(
        flags.OUTPUT, dest="out", required=True, metavar="DIR", help="where to write, e.g. leaderboard/results"
    )
    ex.add_argument(*flags.STORE, dest="store", help="results store (default ./calibench-runs)")
    ex.add_argument(
        "--keep-existing",
        action="store_true",
        help="keep result files in DIR that this export does not write (default: remove them)",
    )
    ex.add_argument(
        "--partial",
        action="store_true",
        help="export what the selected tasks and methods have so far, leaving out those without "
        "results yet instead of failing (how scripts/run_grid.py exports a unit while it trains)",
    )
    _add_selection(ex)

    tm = sub.add_parser(
        "timings",
        help="seconds per training by task and recipe, from stores or exported results (the cost model's data)",
    )
    tm.add_argument(
        "sources",
        nargs="*",
        metavar="DIR",
        help="results stores or exported-results folders (default ./calibench-runs and ./leaderboard)",
    )

    rp = sub.add_parser("report", help="HTML report: tables, critical-difference and reliability diagrams")
    rp.add_argument(flags.OUTPUT, dest="out", default="report", metavar="DIR", help="where to write (default ./report)")
    _add_source(rp)
    _add_board_options(rp)


def _console():
    from rich.console import Console

    # Redirected output (a log file, CI) has no width of its own: rich would assume 80
    # columns and cut the table's numbers to "0.82…". Give it room; a terminal (or an
    # explicit $COLUMNS) keeps its own width.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200
    return Console(stderr=False, width=width)


def run_config(args: argparse.Namespace) -> RunConfig:
    """``calibench run``'s options as the run's config (also how scripts/run_grid.py plans a unit)."""
    from calibench import api

    return api.resolve_run(
        args.methods,
        tasks=args.tasks,
        seeds=args.seeds,
        model=args.model,
        preset=args.preset,
        train_size=args.train_size,
        full_train=args.full_train,
        data_seed=args.data_seed,
        data_dir=args.data_dir,
        output_dir=args.output_dir,
        device=args.device,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        lr=args.lr,
        precision=args.precision,
        max_length=args.max_length,
        ece_bins=args.ece_bins,
        shift=args.shift,
        ood=args.ood,
        task_defs=args.task_def,
        keep_models=args.keep_models,
    )


@command("run")
def cmd_run(args: argparse.Namespace) -> int:
    from calibench import api
    from calibench.execution.sweep import make_sweep_progress
    from calibench.report.tables import results_table

    console = _console()
    cfg = run_config(args)
    console.print(f"[bold]calibench run[/bold]: {cfg.describe()}")

    def announce(plan: Any) -> None:
        from calibench.tasks.splits import split_notes

        for stats in plan.split_stats.values():
            for note in split_notes(stats):
                console.print(f"[yellow]{note}[/yellow]" if note.startswith("warning") else note)

    with make_sweep_progress(console) as progress:
        if args.dry_run:
            from calibench.execution.costs import estimate_lines

            plan = api.plan_run(cfg, progress)
            announce(plan)
            console.print(f"plan: {plan.describe()}")
            for s in plan.trainings:
                infs = ", ".join(n for n, _ in s.inferences)
                console.print(f"  train {s.data.task} {s.recipe} seed {s.seed} -> {infs}  [dim]{s.key}[/dim]")
            for sets in plan.eval_sets.values():
                for es in sets:
                    console.print(
                        f"  {es.spec.kind:>5} {es.spec.pair}: {es.stats['n']} rows from {es.stats['source']}"
                        f"  [dim]{es.fingerprint}[/dim]"
                    )
            for line in estimate_lines(api.estimate(cfg, plan, args.timings_from)):
                console.print(line, highlight=False)
            return 0

        def on_event(event: str, spec: Any, msg: str) -> None:
            what = f"{spec.data.task} {spec.recipe} seed {spec.seed}"
            style = {
                "done": "green",
                "failed": "red",
                "skipped": "dim",
                "busy": "yellow",
                "start": "cyan",
                "lost": "yellow",
            }[event]
            console.print(f"[{style}]{event:>7}[/{style}] {what}" + (f": {msg}" if msg else ""))

        result = api.run(
            cfg,
            progress=progress,
            retry_failed=args.retry_failed,
            on_event=on_event,
            executor=args.executor,
            address=args.address,
            num_cpus=args.num_cpus,
            cpus_per_job=args.cpus_per_job,
            jobs=args.jobs,
            track=args.track,
            tracking_uri=args.tracking_uri,
            on_plan=announce,
        )
    s = result.summary
    for line in s.repaired:
        console.print(f"[yellow]repaired[/yellow] {line}")
    console.print(
        f"plan: {result.plan.describe()}; trained {len(s.trained)}, "
        + (f"predictions only {len(s.predicted)}, " if s.predicted else "")
        + f"reused {len(s.skipped)}, "
        f"failed {len(s.failed)}, busy elsewhere {len(s.busy)}"
        + (f", taken over by another sweep {len(s.lost)}" if s.lost else "")
        + "; "
        f"{s.evaluated} evaluation(s) computed, {s.reused_evaluations} reused"
    )
    if result.records:
        console.print(results_table(result.records, title="calibench results (test half)"))
        if result.verdict:
            console.print(result.verdict)
    if s.missing_evaluations:
        console.print(f"[yellow]not evaluated[/yellow] (no usable logits): {', '.join(s.missing_evaluations)}")
    if result.extra_records:
        from calibench.report.shift import eval_set_table

        console.print(eval_set_table(result.extra_records))
    if s.failed:
        console.print(
            "[red bold]failed trainings[/red bold] (their results are absent; fix and rerun with --retry-failed):"
        )
        for key, err in s.failed.items():
            console.print(f"  [red]{key}[/red]: {err}")
    console.print(f"store: {cfg.output_dir}")
    if s.failed:
        return 1
    if s.busy:
        console.print(
            f"[yellow]incomplete[/yellow]: {len(s.busy)} training(s) were running in another sweep on "
            "this store; their results are missing above. Rerun this command once that sweep has finished."
        )
        return EXIT_INCOMPLETE
    return 0


@command("timings")
def cmd_timings(args: argparse.Namespace) -> int:
    from calibench import api
    from calibench.errors import StoreNotFound
    from calibench.execution.costs import compute_line, load_timings, member_seconds, timing_lines, timing_table

    sources = args.sources or [api.DEFAULT_OUTPUT, api.DEFAULT_RESULTS]
    timings = load_timings(sources)
    if not timings:
        raise StoreNotFound(
            f"no timed trainings in {', '.join(map(str, sources))} (exports carry timings since calibench "
            "exported them); name a store or exported-results folder: calibench timings DIR"
        )
    for line in timing_lines(timing_table(timings)):
        print(line)
    print(compute_line(timings, member_seconds(sources)))
    return 0


@command("ls")
def cmd_ls(args: argparse.Namespace) -> int:
    from rich.table import Table

    from calibench import registry
    from calibench.models.encoders import ALIASES, KNOWN_HUB_MODELS
    from calibench.presets import PRESETS

    console = _console()
    what = args.what
    if what in ("all", "tasks"):
        t = Table(title="tasks", header_style="bold")
        for col in ("name", "description", "source"):
            t.add_column(col)
        for e in registry.entries("task"):
            t.add_row(e.name, e.description, e.source)
        console.print(t)
    if what in ("all", "methods"):
        t = Table(title="methods (compose as recipe+inference+calibrator)", header_style="bold")
        for col in ("name", "kind", "description", "library", "source"):
            t.add_column(col)
        for kind in registry.METHOD_KINDS:
            for e in registry.entries(kind):
                t.add_row(e.name, kind, e.description, e.library, e.source)
        console.print(t)
    if what in ("all", "metrics"):
        from calibench.metrics import metric_spec
        from calibench.metrics.ood import OOD_METRIC_DESCRIPTIONS, OOD_SCORE_DESCRIPTIONS

        t = Table(title="metrics (calibench leaderboard --metric NAME)", header_style="bold")
        for col in ("name", "estimator (default parameters)", "description", "source"):
            t.add_column(col)
        for e in registry.entries("metric"):
            t.add_row(e.name, metric_spec(e.name).estimator, e.description, e.source)
        console.print(t)
        t = Table(
            title="OOD detection metrics (in-distribution test half vs out-of-distribution inputs, per score)",
            header_style="bold",
        )
        for col in ("name", "description"):
            t.add_column(col)
        for name, description in OOD_METRIC_DESCRIPTIONS.items():
            t.add_row(name, description)
        for name, description in OOD_SCORE_DESCRIPTIONS.items():
            t.add_row(f"score: {name}", description)
        console.print(t)
    if what in ("all", "models"):
        t = Table(title="models (any Hugging Face encoder id or local path also works)", header_style="bold")
        t.add_column("name")
        t.add_column("description")
        for a in ALIASES.values():
            t.add_row(a.name, a.description)
        for name, desc in KNOWN_HUB_MODELS.items():
            t.add_row(name, desc)
        console.print(t)
    if what in ("all", "presets"):
        t = Table(title="presets", header_style="bold")
        t.add_column("name")
        t.add_column("description")
        for p in PRESETS.values():
            t.add_row(p.name, p.description)
        console.print(t)
    errors = registry.plugin_errors()
    if errors:
        console.print("[yellow]plugins that failed to load (the rest work):[/yellow]")
        for name, err in errors.items():
            console.print(f"  [yellow]{name}[/yellow]: {err}")
    return 0


@command("noise")
def cmd_noise(args: argparse.Namespace) -> int:
    from rich.table import Table

    from calibench import api
    from calibench.report.progress import make_progress

    console = _console()
    with make_progress(console) as progress:
        pv = api.noise_preview(
            args.task,
            args.n,
            output_dir=args.output_dir or api.DEFAULT_OUTPUT,
            seed=args.seed,
            train_size=args.train_size,
            data_dir=args.data_dir,
            progress=progress,
        )
    table = Table(title=f"{pv.task}: masked input -> noise sample", show_lines=True, header_style="bold", expand=True)
    table.add_column("masked input", ratio=1, overflow="fold")
    table.add_column("noise sample", ratio=1, overflow="fold")
    for masked, sample in pv.pairs:
        table.add_row(masked, sample)
    table.caption = pv.source
    console.print(table)
    console.print(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in pv.stats.items()))
    return 0


@command("score")
def cmd_score(args: argparse.Namespace) -> int:
    import shlex

    from calibench import api
    from calibench.external import collect_seeds, score
    from calibench.metrics import get_metric
    from calibench.report.tables import results_table
    from calibench.report.terminal import render_terminal

    for key in args.metric:  # an unknown board metric fails before any scoring
        get_metric(key)
    seeds = None if args.seeds is None else (list(range(args.seeds)) if isinstance(args.seeds, int) else args.seeds)
    sets = collect_seeds(args.dev, args.test, dev_labels=args.dev_labels, test_labels=args.test_labels, seeds=seeds)
    output_dir = args.output_dir or api.DEFAULT_OUTPUT
    options = {"ece_bins": args.ece_bins} if args.ece_bins is not None else {}
    files = [a for pair in zip(["--dev"] * len(args.dev), args.dev) for a in pair]
    files += [a for pair in zip(["--test"] * len(args.test), args.test) for a in pair]
    command = shlex.join(
        ["calibench", "score", *files, "--methods", args.methods, "--task", args.task, "--model", args.model]
    )
    summary = score(
        sets,
        args.methods,
        task=args.task,
        output_dir=output_dir,
        model=args.model,
        task_metric=args.task_metric,
        metric_options=options,
        command=command,
    )
    console = _console()
    console.print(
        f"[bold]calibench score[/bold]: {args.task}, {len(sets)} seed(s), model {args.model}; "
        f"{summary.computed} result(s) computed, {summary.reused} reused; store: {output_dir}"
    )
    console.print(results_table(summary.records, title=f"{args.task} (test predictions)"))
    methods = sorted({r["method"] for r in summary.records})
    reference = "baseline" if "baseline" in methods else methods[0]
    runs = api.load_runs(output_dir, tasks=[args.task], model=args.model)
    runs = [r for r in runs if r.method in methods]
    lb = api.leaderboard(runs, metrics=args.metric, reference=reference, n_resamples=args.resamples)
    console.print(render_terminal(lb))
    console.print(
        f"the board again: calibench leaderboard {flags.STORE[0]} {output_dir} --tasks {args.task} "
        f"--metric {','.join(args.metric)}"
    )
    return 0


@command("results")
def cmd_results(args: argparse.Namespace) -> int:
    from calibench import api
    from calibench.report.tables import comparable_groups, results_table, to_frame

    store = args.output_dir or api.DEFAULT_OUTPUT
    records = api.results(store, task=args.task, method=args.method)
    for line in comparable_groups(records)[1]:
        print(f"calibench: note: {line}", file=sys.stderr)
    for line in api.stored_value_warnings(store, records):
        print(f"calibench: warning: {line}", file=sys.stderr)
    if args.format == "table":
        _console().print(results_table(records, title="stored results (test half)"))
    elif args.format == "csv":
        sys.stdout.write(to_frame(records).to_csv(index=False))
    else:
        import json

        sys.stdout.write(json.dumps(records, indent=1) + "\n")
    return 0


@command("check")
def cmd_check(args: argparse.Namespace) -> int:
    from calibench import api
    from calibench.store.check import check_store
    from calibench.store.db import Store
    from calibench.store.recovery import rebuild_index, restore_backup

    root = args.store or api.DEFAULT_OUTPUT
    if args.rebuild:
        done = rebuild_index(root)
        print(
            f"rebuilt {root}/{Store.DB_NAME} from the artifacts: {done.trainings} training(s), "
            f"{done.predictions} prediction(s), {done.results} result(s)"
            + (f"; the old file is {done.moved_aside}" if done.moved_aside else "")
        )
        for line in done.skipped:
            print(f"  not used: {line}")
    elif args.restore:
        aside = restore_backup(root)
        print(
            f"restored {root}/{Store.DB_NAME} from {Store.BACKUP_NAME}"
            + (f"; the old file is {aside}" if aside else "")
        )
    store = Store(root, read_only=True)
    try:
        problems = check_store(store)
        n_results = len(store.results())
    finally:
        store.close()
    if not problems:
        print(f"{root}: {n_results} result(s), every artifact intact")
        return 0
    print(f"{root}: {len(problems)} problem(s):")
    for p in problems:
        print(f"  {p.what}\n    -> {p.remedy}")
    return 1


def _board_options(args: argparse.Namespace) -> dict[str, Any]:
    from calibench.report.leaderboard import LeaderboardOptions, layout_defaults

    default = LeaderboardOptions(**layout_defaults(args.layout))  # what the layout uses unless given
    return {
        "layout": args.layout,
        "metrics": list(default.metrics) if args.metric is None else args.metric,
        "reference": args.reference,
        "alpha": args.alpha,
        "confidence": args.confidence,
        "n_resamples": default.n_resamples if args.resamples is None else args.resamples,
        "seed": args.bootstrap_seed,
        "ci": args.ci,
        "test": args.paired_test,
        "incomplete_seeds": default.incomplete_seeds if args.incomplete_seeds is None else args.incomplete_seeds,
    }


def _board_command(
    subcommand: str, args: argparse.Namespace, source: tuple[str, str], options: dict[str, Any], extra: list[str]
) -> str:
    """The command line that rebuilds this board (printed as its "reproduce" line)."""
    from calibench.report.leaderboard import LeaderboardOptions
    from calibench.report.provenance import command_line

    opts = LeaderboardOptions(**{**options, "metrics": tuple(options["metrics"])})
    return command_line(
        subcommand, source=source, options=opts, tasks=args.tasks, methods=args.methods, model=args.model, extra=extra
    )


def _load_board_runs(args: argparse.Namespace) -> tuple[list[Any], tuple[str, str]]:
    """The selected runs and the source flag that names them in a reproduction command.

    From a store, stored values that the recomputation on the float32 probabilities
    contradicts are reported (the tables show the recomputed ones).
    """
    from calibench import api
    from calibench.report.export import STORE_ATOL
    from calibench.report.runs import metric_disagreements

    runs = api.load_runs(args.store, args.results_dir, tasks=args.tasks, methods=args.methods, model=args.model)
    if args.results_dir is not None:
        return runs, (flags.FROM, args.results_dir)
    for d in metric_disagreements(runs, STORE_ATOL):
        print(f"calibench: warning: {api.disagreement_warning(d)}", file=sys.stderr)
    return runs, (flags.STORE[0], args.store or api.DEFAULT_OUTPUT)


def _extra_runs(args: argparse.Namespace, runs: Sequence[Any] = ()) -> list[Any]:
    """Results on shifted and OOD sets of the board's runs, from the store or the exported directory."""
    from calibench import api

    if args.results_dir is not None:
        from calibench.report.export_extra import load_extra_result_runs

        keys = {r.record.get("key") for r in runs}
        return [e for e in load_extra_result_runs(args.results_dir, runs) if e.record.get("in_domain_key") in keys]
    return api.load_extra_runs(args.store, tasks=args.tasks, methods=args.methods, model=args.model)


@command("leaderboard")
def cmd_leaderboard(args: argparse.Namespace) -> int:
    from pathlib import Path

    from calibench import api

    runs, source = _load_board_runs(args)
    options = _board_options(args)
    lb = api.leaderboard(runs, **options)
    runs = lb.on_board(runs)  # a pending seed's shift results and figures wait with it
    fmt = "markdown" if args.check else args.format
    target = args.check or args.output
    if fmt == "terminal":
        from rich.console import Console

        from calibench.report.terminal import render_terminal

        extra = _extra_runs(args, runs)
        if target is None:
            _console().print(render_terminal(lb))
            if extra:
                from calibench.report.shift import eval_set_table

                _console().print(eval_set_table([r.record for r in extra]))
        else:
            with open(target, "w", encoding="utf-8") as f:
                Console(file=f, width=100, color_system=None).print(render_terminal(lb))
        return 0
    extra = ["--format", "markdown"] + ([flags.OUTPUT, target] if target else [])
    command = _board_command("leaderboard", args, source, options, extra)
    text, figures = api.leaderboard_files(
        lb, runs, command=command, results_dir=args.results_dir, extra_runs=_extra_runs(args, runs)
    )
    if figures and target is None:
        from calibench.errors import OptionError

        raise OptionError(
            f"the {args.layout} layout writes figures next to its markdown file: give {flags.OUTPUT} FILE"
        )
    base = Path(target).parent if target else Path(".")
    files: dict[Path, bytes] = {Path(target) if target else Path("-"): text.encode("utf-8")}
    files.update({base / name: data for name, data in figures.items()})
    if args.answer_into:
        files[Path(args.answer_into)] = _answer_file(lb, args.answer_into, target).encode("utf-8")
    if args.check:
        return _check_board_files(files, command)
    if target is None:
        sys.stdout.write(text)
        return 0
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
        print(f"wrote {path}")
    return 0


def _answer_file(lb: Any, path: str, board: str | None) -> str:
    """``path`` with its answer block regenerated from ``lb`` (the benchmark layout's answer)."""
    import os

    from calibench.errors import OptionError
    from calibench.report.answer import answer_lines, splice

    if lb.options.layout != "benchmark" or board is None:
        raise OptionError(
            f"{flags.ANSWER_INTO} needs --layout benchmark and the board's file ({flags.OUTPUT} or --check)"
        )
    link = os.path.relpath(board, os.path.dirname(os.path.abspath(path)) or ".")
    return splice(path, answer_lines(lb), link)


def _check_board_files(files: dict[Any, bytes], command: str) -> int:
    """Exit 0 if every file (the markdown first, then its figures) has exactly the regenerated bytes;
    else print a diff of the markdown, name each differing or missing figure, and exit 1."""
    import difflib

    bad = []
    for path, data in files.items():
        current = path.read_bytes() if path.is_file() else None
        if current == data:
            continue
        bad.append(path)
        if path.suffix == ".md" or path == next(iter(files)):
            old = (current or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
            new = data.decode("utf-8", errors="replace").splitlines(keepends=True)
            sys.stdout.writelines(difflib.unified_diff(old, new, f"{path} (committed)", f"{path} (regenerated)"))
        else:
            print(f"{path}: {'missing' if current is None else 'differs from the regenerated figure'}")
    if not bad:
        first, *others = files
        n_figures = sum(1 for p in others if p.suffix != ".md")
        also = [str(p) for p in others if p.suffix == ".md"]
        parts = " and ".join(([f"{n_figures} figures"] if n_figures else []) + ([", ".join(also)] if also else []))
        print(f"{first} is up to date" + (f" ({parts})" if parts else ""))
        return 0
    what = f"{bad[0]} differs" if len(bad) == 1 else f"{', '.join(map(str, bad))} differ"
    print(f"\ncalibench: {what} from the regenerated leaderboard; regenerate it with:\n  {command}", file=sys.stderr)
    return 1


@command("export")
def cmd_export(args: argparse.Namespace) -> int:
    from calibench import api
    from calibench.report.export import export_summary_lines
    from calibench.report.runs import unmatched

    runs = api.load_runs(args.store, tasks=args.tasks, methods=args.methods, model=args.model, missing_ok=args.partial)
    summary = api.export_results(runs, args.out, keep_existing=args.keep_existing)
    for line in export_summary_lines(summary, args.out):
        print(line)
    for what, missing, _have in unmatched(runs, tasks=args.tasks, methods=args.methods, model=args.model):
        print(f"no results yet for {what}(s) {', '.join(missing)}: left out (--partial)")
    extra = api.load_extra_runs(args.store, tasks=args.tasks, methods=args.methods, model=args.model)
    if extra:
        from calibench.report.export_extra import export_extra_runs

        print(f"{len(export_extra_runs(extra, args.out))} shifted / OOD set result(s) written under {args.out}")
    return 0


@command("report")
def cmd_report(args: argparse.Namespace) -> int:
    from calibench import api

    runs, source = _load_board_runs(args)
    options = _board_options(args)
    lb = api.leaderboard(runs, **options)
    runs = lb.on_board(runs)
    command = _board_command("report", args, source, options, [flags.OUTPUT, args.out])
    index = api.report(lb, runs, args.out, command=command, extra_runs=_extra_runs(args, runs))
    print(f"wrote {index}")
    return 0


def _quiet_third_party() -> None:
    """Per-load reports and download bars from transformers/datasets would bury calibench's own
    progress; keep their warnings and errors. A user's explicit settings win."""
    import os

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a scheduler's stop), handled as Ctrl-C is: claims given back at once,
    worker processes stopped, finished results kept."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    import signal
    import threading

    _quiet_third_party()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if on_main else None
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt as exc:
        how = "terminated" if isinstance(exc, _Terminated) else "interrupted"
        print(f"{how}: finished results are stored; rerun the same command to resume", file=sys.stderr)
        return 143 if isinstance(exc, _Terminated) else 130
    except CalibenchError as exc:  # a user error: its message names the problem and the way out
        print(f"calibench: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if on_main:  # main() also runs inside other programs (tests, notebooks): leave theirs
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
