"""The Python API the CLI is a thin layer over: resolve a run, plan it, execute, score."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calibench.errors import OptionError
from calibench.presets import get_preset

if TYPE_CHECKING:
    from rich.progress import Progress

    from calibench.execution.costs import PlanEstimate
    from calibench.execution.driver import Summary
    from calibench.execution.executor import Executor
    from calibench.execution.planner import Plan
    from calibench.methods.compose import MethodSpec
    from calibench.report.export import ExportSummary
    from calibench.report.leaderboard import Leaderboard
    from calibench.report.runs import Run
    from calibench.report.shift import ExtraRun

DEFAULT_OUTPUT = "calibench-runs"


@dataclass
class RunConfig:
    """A ``calibench run`` after the preset was applied and explicit options laid over it."""

    methods: list[MethodSpec]
    tasks: list[str]
    seeds: list[int]
    model: str
    preset: str
    train_size: int | None
    data_seed: int
    data_dir: str | None
    output_dir: str
    device: str | None
    #: per-task exceptions to ``train_size`` (the preset's ``train_sizes`` unless a size was given)
    train_sizes: dict[str, int | None] = field(default_factory=dict)
    hyper_overrides: dict[str, Any] = field(default_factory=dict)
    metric_options: dict[str, Any] = field(default_factory=dict)
    chosen_by_preset: list[str] = field(default_factory=list)  # what the user did not set
    #: extra evaluation sets, as (kind, definition): ("shift", "rte:qnli"), ("ood", "sst2:cola")
    eval_sets: list[tuple[str, str]] = field(default_factory=list)
    keep_models: bool = True  # keep finetuned weights so later outputs need no training

    def describe(self) -> str:
        preset = get_preset(self.preset)
        h = preset.hyper_for(self.tasks[0], **self.hyper_overrides) if self.tasks else preset.hyper
        length = f"{h.max_steps} steps" if h.max_steps else f"{h.epochs:g} epochs"
        size = f"{self.train_size} training examples per task" if self.train_size else "full training sets"
        if self.train_sizes:
            size += " (" + ", ".join(f"{t}: {n or 'full'}" for t, n in sorted(self.train_sizes.items())) + ")"
        return (
            f"methods {', '.join(m.label for m in self.methods)} | tasks {', '.join(self.tasks)} | "
            f"seeds {', '.join(map(str, self.seeds))} | model {self.model} | {size} | {length}, "
            f"batch {h.batch_size}, lr {h.lr:g} (preset '{self.preset}'"
            + (f"; from the preset: {', '.join(self.chosen_by_preset)})" if self.chosen_by_preset else ")")
        )


def resolve_run(
    methods: str | list[str] | None,
    *,
    tasks: list[str] | None = None,
    seeds: int | list[int] | None = None,
    model: str | None = None,
    preset: str | None = None,
    train_size: int | None = None,
    full_train: bool = False,
    data_seed: int = 0,
    data_dir: str | None = None,
    output_dir: str | None = None,
    device: str | None = None,
    epochs: float | None = None,
    max_steps: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    precision: str | None = None,
    max_length: int | None = None,
    ece_bins: int | None = None,
    shift: list[str] | None = None,
    ood: list[str] | None = None,
    task_defs: list[str] | None = None,
    keep_models: bool = True,
) -> RunConfig:
    """Lay explicit options over the preset; record what the preset chose.

    ``shift`` / ``ood``: extra evaluation sets (``rte:qnli``, ``sst2:cola``; see
    :mod:`calibench.tasks.evalsets`), added to the preset's own. ``task_defs``: tasks beyond
    GLUE (``NAME=files(...)``, see :mod:`calibench.tasks.custom`), registered first.
    """
    from calibench.methods.compose import parse_methods
    from calibench.tasks.custom import register_task_def
    from calibench.tasks.evalsets import parse_eval_set

    for definition in task_defs or ():
        register_task_def(definition)
    p = get_preset(preset)
    chosen = []

    def pick(name: str, given: Any, default: Any) -> Any:
        if given is None:
            chosen.append(name)
            return default
        return given

    if tasks is not None and not [t for t in tasks if t.strip()]:
        raise OptionError("--tasks names no task; give one or more, e.g. --tasks sst2,rte (see `calibench ls tasks`)")
    if ece_bins is not None and ece_bins < 1:
        raise OptionError(f"--ece-bins must be >= 1 (got {ece_bins})")
    task_list = pick("tasks", tasks, list(p.tasks))
    if isinstance(seeds, int):
        if seeds < 1:
            raise OptionError(f"--seeds must be >= 1 (got {seeds})")
        seed_list = list(range(seeds))
    else:
        seed_list = pick("seeds", seeds, list(p.seeds))
    if full_train:
        size, sizes = None, {}
    elif train_size is not None:
        size, sizes = train_size, {}
    else:
        size = pick("train size", train_size, p.train_size)
        sizes = dict(p.train_sizes)
    if methods is None:
        if not p.methods:
            raise OptionError(
                f"--methods is required: preset {p.name!r} has no methods of its own "
                "(e.g. --methods baseline,temp-scaling; `calibench ls methods` lists them)"
            )
        methods = pick("methods", None, list(p.methods))
    if size is not None and size < 1:
        raise OptionError(f"--train-size must be >= 1 (got {size})")
    hyper = {
        "epochs": epochs,
        "max_steps": max_steps,
        "batch_size": batch_size,
        "lr": lr,
        "precision": precision,
        "max_length": max_length,
    }
    from calibench.tasks import get_task

    trained = {get_task(t.strip()).name for t in task_list}
    # a preset's sets apply to those of its tasks the run trains; the user's must all fit
    declared = [(k, d) for k, d in p.eval_sets if parse_eval_set(d, k).target in trained]
    declared += [*(("shift", d) for d in shift or ()), *(("ood", d) for d in ood or ())]
    for kind, definition in declared:
        parse_eval_set(definition, kind)  # a bad spelling fails here, before any data is read
    chosen_model = pick("model", model, p.model)
    return RunConfig(
        eval_sets=list(dict.fromkeys(declared)),
        keep_models=keep_models,
        methods=parse_methods(methods),
        tasks=[t.strip() for t in task_list],
        seeds=seed_list,
        model=chosen_model,
        preset=p.name,
        chosen_by_preset=chosen,
        train_size=size,
        train_sizes=sizes,
        data_seed=data_seed,
        data_dir=data_dir,
        output_dir=output_dir or DEFAULT_OUTPUT,
        device=device,
        hyper_overrides={k: v for k, v in hyper.items() if v is not None},
        metric_options={"ece_bins": ece_bins} if ece_bins is not None else {},
    )


@dataclass
class RunResult:
    config: RunConfig
    plan: Plan
    summary: Summary
    records: list[dict[str, Any]]
    verdict: str = ""  # which method calibrated best, and whether significantly (report.verdict)
    extra_records: list[dict[str, Any]] = field(default_factory=list)  # on shifted and OOD sets


def resolve_jobs(jobs: int | str, device: str | None) -> int:
    """``--jobs``: a count, or ``auto``: one job per core on a CPU (two one-thread trainings at
    once beat one two-thread training 1.19x on an idle 2-core machine and 1.34x on a busy one,
    benchmarks/bench_executor.py),
    one on a GPU."""
    if isinstance(jobs, int):
        return jobs
    if jobs != "auto":
        try:
            return int(jobs)
        except ValueError:
            raise OptionError(f"--jobs must be a whole number or 'auto', got {jobs!r}") from None
    import os

    from calibench.training.precision import resolve_device

    return (os.cpu_count() or 1) if resolve_device(device).type == "cpu" else 1


def plan_run(cfg: RunConfig, progress: Progress | None = None, executor: Executor | None = None) -> Plan:
    """The deduplicated plan of trainings and evaluations for ``cfg``.

    ``executor`` (default: this process) resolves precision ``auto`` on the hardware its
    jobs get, which for a Ray cluster is not the driver's.
    """
    from calibench.execution.local import LocalExecutor
    from calibench.execution.planner import make_plan
    from calibench.models.encoders import check_model

    preset = get_preset(cfg.preset)
    executor = executor if executor is not None else LocalExecutor()
    check_model(cfg.model)
    resolved: dict[str, str] = {}

    def hyper_for(task: str):
        h = preset.hyper_for(task, **cfg.hyper_overrides)
        # 'auto' is resolved here so the training hash names the precision actually used
        if h.precision not in resolved:
            resolved[h.precision] = executor.resolve_precision(h.precision, cfg.device)
        return replace(h, precision=resolved[h.precision])

    from calibench.tasks.evalsets import parse_eval_set

    return make_plan(
        cfg.methods,
        cfg.tasks,
        cfg.seeds,
        model=cfg.model,
        hyper_for=hyper_for,
        train_size=cfg.train_size,
        train_sizes=cfg.train_sizes,
        data_seed=cfg.data_seed,
        data_dir=cfg.data_dir,
        recipe_defaults=preset.recipe_options,
        progress=progress,
        eval_sets=[parse_eval_set(d, k) for k, d in cfg.eval_sets],
    )


#: where committed exports live; the dry run's cost model reads their timings too
DEFAULT_RESULTS = "leaderboard"


def estimate(cfg: RunConfig, plan: Plan, sources: Sequence[str] | None = None) -> PlanEstimate:
    """The dry run's estimate of ``plan``'s wall time (``estimate_lines`` words it), from the
    timings in ``sources`` (default: the run's store and ``./leaderboard``); what the store
    holds counts as done."""
    from calibench.execution.costs import estimate_plan, eval_seconds, load_timings
    from calibench.store.db import Store

    sources = [cfg.output_dir, *(sources or [DEFAULT_RESULTS])]  # the run's store first: its records win
    has_store = (Path(cfg.output_dir) / Store.DB_NAME).is_file()
    store = Store(cfg.output_dir, read_only=True) if has_store else None
    try:
        return estimate_plan(plan, load_timings(sources), store, cfg.metric_options, eval_seconds(sources))
    finally:
        if store is not None:
            store.close()


def run(
    cfg: RunConfig,
    *,
    progress: Progress | None = None,
    retry_failed: bool = False,
    on_event: Callable[..., None] | None = None,
    executor: str | Executor = "local",
    address: str | None = None,
    num_cpus: int | None = None,
    cpus_per_job: float | None = None,
    jobs: int | str | None = None,
    track: str | None = None,
    tracking_uri: str | None = None,
    on_plan: Callable[[Plan], None] | None = None,
) -> RunResult:
    """Plan, train what is missing, score every method; returns the records of this run.

    ``executor``: ``local`` (one job at a time in this process), ``ray`` (Ray tasks on the
    cluster at ``address``, or on a local one of ``num_cpus`` CPUs started and stopped
    here; ``cpus_per_job`` per job), or an executor instance, which the caller owns. ``jobs``
    > 1 runs that many local jobs at once in worker processes (``cpus_per_job`` threads each);
    ``"auto"`` one one-thread job per core on a CPU; None: the preset's (``benchmark``: auto).
    ``track="mlflow"`` mirrors the run into MLflow (``tracking_uri``, default a SQLite file
    beside the store); the store stays the source of truth and tracking errors only warn.
    ``on_plan(plan)`` is called once the plan is made, before anything trains.
    """
    import contextlib
    from functools import partial

    from calibench.execution.driver import Summary, run_trainings
    from calibench.execution.evalsets import run_eval_set_evaluations
    from calibench.execution.evaluate import run_evaluations
    from calibench.execution.executors import make_executor
    from calibench.execution.jobs import run_training
    from calibench.store.db import Store
    from calibench.tracking import open_tracker

    if tracking_uri is not None and track is None:
        raise OptionError("--tracking-uri needs --track mlflow")
    if cfg.data_dir is not None:  # remote workers do not share the driver's working directory
        cfg = replace(cfg, data_dir=str(Path(cfg.data_dir).resolve()))
    owned = isinstance(executor, str)
    if owned and executor == "local" and jobs is None:
        jobs = get_preset(cfg.preset).jobs  # a Ray cluster takes no --jobs: the preset's is the local pool's
    if owned and jobs is not None:
        jobs = resolve_jobs(jobs, cfg.device)
    exe = (
        make_executor(
            executor,
            address=address,
            num_cpus=num_cpus,
            cpus_per_job=cpus_per_job,
            device=cfg.device,
            jobs=1 if jobs is None else int(jobs),
        )
        if owned
        else executor
    )
    tracker = open_tracker(track, cfg.output_dir, tracking_uri) if track else None
    job = partial(
        run_training,
        device=cfg.device,
        cache_dir=str((Path(cfg.output_dir) / "cache").resolve()),
        keep_model=cfg.keep_models,
    )
    if exe.in_process:  # live objects cannot travel to another process
        job = partial(job, progress=progress)
    early = Summary()  # methods scored as soon as their trainings are done

    def on_training_event(event: str, spec: Any, message: str) -> None:
        if on_event is not None:
            on_event(event, spec, message)
        if event not in ("done", "skipped"):
            return
        # a result in the store as soon as it can be computed, not when the whole grid ends, so
        # that a stop keeps it and an exporter (scripts/run_grid.py) can land it; the same
        # inputs as the final pass below, which then reuses it (and raises what this one hit).
        # Only the methods this training completes: a skipped one's too, in case a stop came
        # between its training and its scoring
        try:
            run_evaluations(plan, store, early, cfg.metric_options, after=spec.key)
            run_eval_set_evaluations(plan, store, early, cfg.metric_options, after=spec.key)
        except Exception as exc:  # the final pass reports it with its traceback
            import warnings

            warnings.warn(
                f"scoring after training {spec.key} failed ({exc}); retried when the run ends",
                RuntimeWarning,
                stacklevel=1,
            )

    with exe if owned else contextlib.nullcontext(exe):
        plan = plan_run(cfg, progress, executor=exe)
        store = Store(cfg.output_dir)  # after the plan: a run refused at validation leaves no store
        if on_plan is not None:
            on_plan(plan)
        summary = run_trainings(
            plan,
            store,
            job,
            executor=exe,
            retry_failed=retry_failed,
            on_event=on_training_event,
            progress=progress,
            tracker=tracker,
        )
    run_evaluations(plan, store, summary, cfg.metric_options, tracker=tracker)
    run_eval_set_evaluations(plan, store, summary, cfg.metric_options)
    # the early ones were computed by this run, not reused from an earlier one
    summary.evaluated += early.evaluated
    summary.reused_evaluations -= early.evaluated
    summary.repaired += early.repaired
    wanted = {(e.task, e.method.label, e.seed) for e in plan.evaluations}
    keys = {s.key for s in plan.trainings}
    wanted_sets = {s[0] for t in plan.trainings for s in t.eval_sets}
    records = [
        r for r in store.results() if (r["task"], r["method"], r["seed"]) in wanted and r["training_key"] in keys
    ]
    extra = [
        r
        for r in store.results(eval_set="extra")
        if (r["task"], r["method"], r["seed"]) in wanted and r["training_key"] in keys and r["eval_set"] in wanted_sets
    ]
    verdict = _verdict(store, records, [m.label for m in cfg.methods])
    store.backup()  # a way back if the database file is damaged later (calibench check --restore)
    store.close()
    return RunResult(cfg, plan, summary, records, verdict, extra)


def _verdict(store: Any, records: list[dict[str, Any]], methods: list[str]) -> str:
    from calibench.report.verdict import run_verdict

    return run_verdict(_readable_runs(store, records)[0], methods)


def _readable_runs(store: Any, records: list[dict[str, Any]]) -> tuple[list[Any], int]:
    """The records with their stored test probabilities, and how many could not be read
    (missing or corrupt: `calibench check` names them, a rerun recomputes them)."""
    from calibench.report.runs import Run
    from calibench.store.artifacts import PROBS, ArtifactCorrupt, ArtifactMissing

    runs, unreadable = [], 0
    for rec in records:
        try:
            arrays = store.artifacts.read(PROBS, rec["key"]).arrays
        except (ArtifactMissing, ArtifactCorrupt):
            unreadable += 1
            continue
        runs.append(Run(rec, arrays["test_probs"], arrays["test_labels"], f"store result {rec['key']}"))
    return runs, unreadable


def results(
    output_dir: str = DEFAULT_OUTPUT, task: str | None = None, method: str | None = None
) -> list[dict[str, Any]]:
    """Stored result records (see :func:`calibench.report.tables.to_frame` for a DataFrame)."""
    from calibench.store.db import Store

    store = Store(output_dir, read_only=True)
    try:
        return store.results(task=task, method=method)
    finally:
        store.close()


def stored_value_warnings(output_dir: str, records: list[dict[str, Any]]) -> list[str]:
    """Stored metric values that their recomputation on the stored float32 probabilities
    contradicts (an edited database), and results whose probabilities cannot be read."""
    from calibench.report.export import STORE_ATOL
    from calibench.report.runs import metric_disagreements
    from calibench.store.db import Store

    store = Store(output_dir, read_only=True)
    try:
        runs, unreadable = _readable_runs(store, records)
    finally:
        store.close()
    lines = [disagreement_warning(d) for d in metric_disagreements(runs, STORE_ATOL)]
    if unreadable:
        lines.append(
            f"{unreadable} result(s) have missing or corrupt test probabilities, so their stored values "
            f"cannot be checked: `calibench check -o {output_dir}` lists them; a rerun recomputes them"
        )
    return lines


def disagreement_warning(d: Any) -> str:
    return f"stored value differs from its recomputation on the stored float32 probabilities: {d}"


# -- leaderboard, export and report ------------------------------------------------------
def load_runs(
    store: str | None = None,
    results_dir: str | None = None,
    *,
    tasks: list[str] | None = None,
    methods: list[str] | None = None,
    model: str | None = None,
    missing_ok: bool = False,
) -> list[Run]:
    """Evaluated runs with their test probabilities (:class:`calibench.report.runs.Run`),
    from a results store (default ``./calibench-runs``) or an exported results directory;
    a selected name without runs is an error unless ``missing_ok``.

    Runs read from a results directory have every metric recomputed from their probabilities
    and checked against the submitted values (a disagreement raises, naming the file).
    """
    from calibench.report.export import load_result_runs
    from calibench.report.runs import load_store_runs, select_runs

    if store is not None and results_dir is not None:
        raise OptionError("read results from a store or from an exported results directory, not both")
    runs = load_result_runs(results_dir) if results_dir is not None else load_store_runs(store or DEFAULT_OUTPUT)
    return select_runs(runs, tasks=tasks, methods=methods, model=model, missing_ok=missing_ok)


def leaderboard(runs: list[Run], **options: Any) -> Leaderboard:
    """The :class:`~calibench.report.leaderboard.Leaderboard` of ``runs``; ``options`` are the
    fields of :class:`~calibench.report.leaderboard.LeaderboardOptions` (metrics, reference,
    alpha, confidence, n_resamples, seed, ci, test)."""
    from calibench.report.leaderboard import LeaderboardOptions, build_leaderboard

    if "metrics" in options:
        options["metrics"] = tuple(options["metrics"])
    return build_leaderboard(runs, LeaderboardOptions(**options))


def leaderboard_markdown(
    lb: Leaderboard,
    runs: list[Run],
    *,
    command: str,
    results_dir: str | None = None,
    extra_runs: Sequence[ExtraRun] = (),
) -> str:
    """The self-describing markdown of ``lb``; ``command`` is the line that regenerates it, and
    ``results_dir`` (when it was read from an export) where ``calibench export`` writes them.
    ``extra_runs`` (:func:`load_extra_runs`) add the in- vs out-of-domain and OOD sections.
    (The benchmark layout's figures: :func:`leaderboard_files`.)"""
    return leaderboard_files(lb, runs, command=command, results_dir=results_dir, extra_runs=extra_runs)[0]


def leaderboard_files(
    lb: Leaderboard,
    runs: list[Run],
    *,
    command: str,
    results_dir: str | None = None,
    extra_runs: Sequence[ExtraRun] = (),
) -> tuple[str, dict[str, bytes]]:
    """The markdown of :func:`leaderboard_markdown` and the figures it links: ``{path relative to
    the markdown file: bytes}`` (the benchmark layout's SVGs; none for the plain layout)."""
    import shlex

    from calibench.report.markdown import render_markdown
    from calibench.report.provenance import run_commands
    from calibench.report.shift import markdown_section

    commands, problems = run_commands(runs)
    from calibench import flags

    export = (
        f"calibench export {flags.STORE[0]} {DEFAULT_OUTPUT} {flags.OUTPUT} {shlex.quote(results_dir)}"
        if results_dir
        else None
    )
    source = f"in `{results_dir}`" if results_dir else ""
    preamble: list[str] = []
    sections = markdown_section(list(extra_runs))
    figures: dict[str, bytes] = {}
    if lb.options.layout == "benchmark":
        from calibench.report.benchmark import benchmark_sections

        bench = benchmark_sections(lb)
        preamble, figures = bench.preamble, bench.figures
        sections = [*bench.sections, *sections]
    markdown = render_markdown(
        lb,
        command=command,
        run_commands=commands,
        run_command_problems=problems,
        export_command=export,
        source_note=source,
        sections=sections,
        preamble=preamble,
    )
    return markdown, figures


def load_extra_runs(
    store: str | None = None,
    *,
    tasks: list[str] | None = None,
    methods: list[str] | None = None,
    model: str | None = None,
) -> list[ExtraRun]:
    """Results on shifted and OOD sets (:class:`calibench.report.shift.ExtraRun`) in a store."""
    from calibench.report.shift import load_extra_runs as load

    return load(store or DEFAULT_OUTPUT, tasks=tasks, methods=methods, model=model)


def export_results(runs: list[Run], out_dir: str, *, keep_existing: bool = False) -> ExportSummary:
    """Write ``runs`` as reviewable JSON-lines files under ``out_dir`` (see :mod:`calibench.report.export`)."""
    from calibench.report.export import export_runs

    return export_runs(runs, out_dir, keep_existing=keep_existing)


def report(
    lb: Leaderboard, runs: list[Run], out_dir: str, *, command: str, extra_runs: Sequence[ExtraRun] = ()
) -> Path:
    """Write the HTML report of ``lb`` (tables, CD diagrams, reliability diagrams; with
    ``extra_runs`` the in- vs out-of-domain table and OOD score histograms) to ``out_dir/index.html``."""
    from calibench.report.html import write_report

    return write_report(lb, runs, out_dir, command=command, extra_runs=extra_runs)


@dataclass
class NoisePreview:
    task: str
    pairs: list[tuple[str, str]]  # (masked input, noise sample)
    source: str  # where the pairs came from
    stats: dict[str, Any]


def noise_preview(
    task: str,
    n: int = 10,
    *,
    output_dir: str = DEFAULT_OUTPUT,
    seed: int = 0,
    train_size: int | None = None,
    data_dir: str | None = None,
    progress: Progress | None = None,
) -> NoisePreview:
    """Masked inputs beside their noise samples, to judge whether the noise is near the data.

    Reads the largest cached noise corpus of ``task`` under ``output_dir`` (what EBM runs
    trained on); without one, trains (or loads the cached) noise model of the default preset's
    EBM recipes on the task's training subsample and samples afresh.
    """
    from calibench import registry
    from calibench.ebm.corpus import CORPUS_KIND, _load_corpus, get_noise_model, inspect_samples
    from calibench.ebm.noise_model import fingerprint_texts
    from calibench.store.artifacts import ArtifactStore
    from calibench.tasks import get_task, prepare_splits

    spec = get_task(task)
    artifacts = ArtifactStore(Path(output_dir) / "cache")
    best = None
    for key in artifacts.keys(CORPUS_KIND):
        meta = artifacts.read(CORPUS_KIND, key).json
        if meta.get("task") == spec.name and (best is None or meta["n_samples"] > best[1]["n_samples"]):
            best = (key, meta)
    if best is not None:
        key, meta = best
        corpus = _load_corpus(artifacts, key, meta["n_samples"], len(spec.text_fields))
        return NoisePreview(
            spec.name,
            inspect_samples(corpus, n=n, seed=seed),
            f"cached corpus {key} ({meta['n_samples']} samples)",
            corpus.stats.to_dict(),
        )
    preset = get_preset(None)
    size = train_size if train_size is not None else preset.train_size
    splits = prepare_splits(spec, data_dir=data_dir, train_size=size)
    texts = list(zip(*[splits.train[f] for f in spec.text_fields]))
    recipe = registry.create("recipe", "ebm", **preset.options_for("ebm"))
    cfg = recipe.noise_config(spec.name).resolved()
    model, info = get_noise_model(
        spec.name, texts, cfg, artifacts, progress, train_fingerprint=fingerprint_texts(texts)
    )
    pairs = inspect_samples(model, texts, n=n, seed=seed)
    return NoisePreview(
        spec.name,
        pairs,
        f"fresh samples of noise model {info.key} ({info.source})",
        {"noise_model": cfg.lm, "train_examples": len(texts), "mask_rate": cfg.mask_rate},
    )
