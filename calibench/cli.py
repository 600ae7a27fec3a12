"""``calibench`` command line: thin; parses, resolves presets and calls :mod:`calibench.api`.

Heavy imports (torch, transformers) happen inside the commands that need them, so
``calibench ls`` and ``--help`` stay fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Sequence

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


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


def build_parser() -> argparse.ArgumentParser:
    from calibench import __version__

    p = argparse.ArgumentParser(
        prog="calibench",
        description="Calibration benchmarking for NLU classifiers: EBM finetuning and baselines on GLUE.",
    )
    p.add_argument("--version", action="version", version=f"calibench {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="train and evaluate methods x tasks x seeds (skips finished work)",
                       description="Train and evaluate. Unset options come from the preset, which says what it chose.")
    r.add_argument("--methods", "-m", required=True, type=str,
                   help="comma-separated methods, each recipe[+inference][+calibrator], e.g. baseline,temp-scaling")
    r.add_argument("--tasks", "-t", type=_csv, help="comma-separated GLUE tasks (default: the preset's)")
    r.add_argument("--seeds", "-s", type=_seeds, help="a count (3 = seeds 0,1,2) or a list (0,1,5)")
    r.add_argument("--model", help="encoder: Hugging Face id, local path, or alias (minilm)")
    r.add_argument("--preset", help="cpu (default: offline, minutes) or paper (roberta-base, GPU, hub)")
    r.add_argument("--train-size", type=int, help="seeded training subsample size (default: the preset's)")
    r.add_argument("--full-train", action="store_true", help="use the whole training set")
    r.add_argument("--data-seed", type=int, default=0, help="seed of the training subsample (default 0)")
    r.add_argument("--data-dir", help="local GLUE copy (nyu-mll/glue parquet or GLUE TSV layout); "
                                      "default: $CALIBENCH_DATA_DIR, ./glue, ../shared/glue, then the hub")
    r.add_argument("--epochs", type=float)
    r.add_argument("--max-steps", type=int, help="optimisation steps (overrides epochs)")
    r.add_argument("--batch-size", type=int)
    r.add_argument("--lr", "--learning-rate", dest="lr", type=float)
    r.add_argument("--max-length", type=int)
    r.add_argument("--precision", choices=["auto", "bf16", "fp32"], help="auto: bf16 where native")
    r.add_argument("--ece-bins", type=int, help="bins of the top-label ECE (default 15)")
    r.add_argument("--output-dir", "-o", help="results store and artifacts (default ./calibench-runs)")
    r.add_argument("--device", help="cpu, cuda, cuda:1 (default: a GPU if present)")
    r.add_argument("--retry-failed", action="store_true", help="rerun trainings that failed before")
    r.add_argument("--dry-run", action="store_true", help="print the plan and stop")

    ls = sub.add_parser("ls", help="list tasks, methods, models, metrics or presets")
    ls.add_argument("what", nargs="?", default="all", choices=["all", "tasks", "methods", "models", "metrics", "presets"])

    res = sub.add_parser("results", help="show the stored results table")
    res.add_argument("--output-dir", "-o", default=None)
    res.add_argument("--task")
    res.add_argument("--method")
    res.add_argument("--format", choices=["table", "csv", "json"], default="table")
    return p


def _console():
    from rich.console import Console

    return Console(stderr=False)


@command("run")
def cmd_run(args: argparse.Namespace) -> int:
    from calibench import api
    from calibench.report.progress import make_progress
    from calibench.report.tables import results_table

    console = _console()
    cfg = api.resolve_run(
        args.methods, tasks=args.tasks, seeds=args.seeds, model=args.model, preset=args.preset,
        train_size=args.train_size, full_train=args.full_train, data_seed=args.data_seed,
        data_dir=args.data_dir, output_dir=args.output_dir, device=args.device, epochs=args.epochs,
        max_steps=args.max_steps, batch_size=args.batch_size, lr=args.lr, precision=args.precision,
        max_length=args.max_length, ece_bins=args.ece_bins,
    )
    console.print(f"[bold]calibench run[/bold]: {cfg.describe()}")
    with make_progress(console) as progress:
        if args.dry_run:
            plan = api.plan_run(cfg, progress)
            console.print(f"plan: {plan.describe()}")
            for s in plan.trainings:
                infs = ", ".join(n for n, _ in s.inferences)
                console.print(f"  train {s.data.task} {s.recipe} seed {s.seed} -> {infs}  [dim]{s.key}[/dim]")
            return 0

        def on_event(event: str, spec: Any, msg: str) -> None:
            what = f"{spec.data.task} {spec.recipe} seed {spec.seed}"
            style = {"done": "green", "failed": "red", "skipped": "dim", "busy": "yellow", "start": "cyan"}[event]
            console.print(f"[{style}]{event:>7}[/{style}] {what}" + (f": {msg}" if msg else ""))

        result = api.run(cfg, progress=progress, retry_failed=args.retry_failed, on_event=on_event)
    s = result.summary
    console.print(f"plan: {result.plan.describe()}; trained {len(s.trained)}, reused {len(s.skipped)}, "
                  f"failed {len(s.failed)}, busy elsewhere {len(s.busy)}; "
                  f"{s.evaluated} evaluation(s) computed, {s.reused_evaluations} reused")
    if result.records:
        console.print(results_table(result.records, title="calibench results (test half)"))
    if s.failed:
        console.print("[red bold]failed trainings[/red bold] (their results are absent; "
                      "fix and rerun with --retry-failed):")
        for key, err in s.failed.items():
            console.print(f"  [red]{key}[/red]: {err}")
    console.print(f"store: {cfg.output_dir}")
    return 1 if s.failed else 0


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
        for col in ("name", "kind", "description", "source"):
            t.add_column(col)
        for kind in registry.METHOD_KINDS:
            for e in registry.entries(kind):
                t.add_row(e.name, kind, e.description, e.source)
        console.print(t)
    if what in ("all", "metrics"):
        t = Table(title="metrics", header_style="bold")
        for col in ("name", "description", "source"):
            t.add_column(col)
        for e in registry.entries("metric"):
            t.add_row(e.name, e.description, e.source)
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


@command("results")
def cmd_results(args: argparse.Namespace) -> int:
    from calibench import api
    from calibench.report.tables import results_table, to_frame

    records = api.results(args.output_dir or api.DEFAULT_OUTPUT, task=args.task, method=args.method)
    if args.format == "table":
        _console().print(results_table(records, title="stored results (test half)"))
    elif args.format == "csv":
        sys.stdout.write(to_frame(records).to_csv(index=False))
    else:
        import json

        sys.stdout.write(json.dumps(records, indent=1) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("interrupted: finished results are stored; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        print(f"calibench: error: {exc}", file=sys.stderr)
        return 2


def _is_user_error(exc: BaseException) -> bool:
    """Errors caused by input: shown as one line, not a traceback."""
    from calibench.registry import RegistryError

    user: tuple[type[BaseException], ...] = (RegistryError, ValueError, FileNotFoundError)
    try:
        from calibench.models.encoders import ModelLoadError

        user += (ModelLoadError,)
    except ImportError:  # pragma: no cover
        pass
    return isinstance(exc, user)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
