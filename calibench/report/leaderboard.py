"""The leaderboard model: per task and method, the metric over seeds with intervals, paired
tests against a reference method with Holm's correction, ranks, Friedman and Nemenyi.

Every number is *recomputed* here from the stored per-example test probabilities (never
copied from a stored metric value), through the metric's own implementation
(:mod:`calibench.metrics`) and the statistics in :mod:`calibench.stats`; the leaderboard
adds no metric or test of its own. So the terminal table, the markdown file and the HTML
report built from a results store and from its exported text form show the same numbers.

Definitions (stated again in every rendering):

* **cell value**: the mean over training seeds of the metric, each seed's metric computed on
  the full test half;
* **seed interval**: Student-t interval of that mean over seeds (:func:`stats.seed_ci`),
  undefined with one seed;
* **bootstrap interval**: percentile interval of the seed mean when the *test examples* are
  resampled (one resample of example indices shared by every seed, the metric recomputed on
  it for each seed, then averaged over seeds): how much the number would move on another
  test set of the same size, with the trained models held fixed;
* **comparison**: method minus reference on the same task, seeds and test examples. The
  primary test (default) is the two-level paired bootstrap over seeds *and* test examples
  (:func:`stats.paired_bootstrap`), which covers both sources of noise; the paired t-test
  (and Wilcoxon, with enough seeds) over per-seed values (:func:`stats.paired_seed_tests`)
  is reported beside it and can be chosen as primary. Holm's step-down correction runs over
  *all* primary p-values of the leaderboard (every metric, task and method) at once.

What may share a column is checked, not assumed: one task's results must share the data
fingerprint, the encoder, one seed set per method, the test labels, and one estimator of the
metric; anything else is refused with an error naming the offending results.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from calibench.errors import OptionError
from calibench.metrics import MetricSpec, get_metric, metric_spec
from calibench.report.learnt import Learnt, judge_learnt
from calibench.report.runs import (
    LeaderboardError,
    Run,
    spec_from_estimator,
)
from calibench.stats import (
    FriedmanResult,
    PairedBootstrap,
    PairedSeedTests,
    SeedCI,
    average_ranks,
    friedman,
    holm,
    interval_from_distribution,
    nemenyi_cd,
    paired_bootstrap_values,
    paired_seed_tests,
    resample_indices,
    seed_ci,
)

CIKind = Literal["auto", "seed", "bootstrap"]
TestKind = Literal["bootstrap", "t-test"]
IncompleteSeeds = Literal["refuse", "leave-out"]
Layout = Literal["plain", "benchmark"]
LAYOUTS: tuple[str, ...] = ("plain", "benchmark")

#: The metric key of "each task's own metric" (MCC on CoLA, F1 on MRPC, accuracy elsewhere):
#: the metric of scope ``"task"`` the task's results were evaluated with, else accuracy.
TASK_METRIC = "task_metric"
Verdict = Literal["better", "worse", "n.s.", "untested"]


# ---------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class LeaderboardOptions:
    """How a leaderboard is computed; every choice is printed with it."""

    metrics: tuple[str, ...] = ("ece",)
    reference: str = "baseline"
    alpha: float = 0.05
    confidence: float = 0.95
    n_resamples: int = 1000
    seed: int = 0
    ci: CIKind = "auto"  # auto: the seed interval where every cell has >= 2 seeds, else bootstrap
    test: TestKind = "bootstrap"
    # benchmark: Holm per metric table, ranks over learnt tasks only, the benchmark's sections
    layout: Layout = "plain"
    # a seed that some of a task's methods lack: refuse the board, or leave that seed out of the
    # task's statistics and list it as pending (a grid whose seed lands method group by group)
    incomplete_seeds: IncompleteSeeds = "refuse"

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise OptionError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if not self.metrics:
            raise OptionError("choose at least one metric")
        if len(set(self.metrics)) != len(self.metrics):
            raise OptionError(f"metrics listed twice: {list(self.metrics)}")
        if not 0 < self.alpha < 1:
            raise OptionError(f"alpha must lie in (0, 1), got {self.alpha}")
        if not 0 < self.confidence < 1:
            raise OptionError(f"confidence must lie in (0, 1), got {self.confidence}")
        if self.n_resamples < 100:
            raise OptionError(f"use at least 100 bootstrap resamples, got {self.n_resamples}")
        if self.ci not in ("auto", "seed", "bootstrap"):
            raise OptionError(f"ci must be auto, seed or bootstrap, got {self.ci!r}")
        if self.test not in ("bootstrap", "t-test"):
            raise OptionError(f"test must be bootstrap or t-test, got {self.test!r}")
        if self.incomplete_seeds not in ("refuse", "leave-out"):
            raise OptionError(f"incomplete_seeds must be refuse or leave-out, got {self.incomplete_seeds!r}")

    @property
    def holm_per_metric(self) -> bool:
        """The benchmark layout corrects each metric's table as its own family (its tests answer
        one question each: "is this method better on this metric"), the plain layout all at once."""
        return self.layout == "benchmark"


#: The benchmark layout's metrics and resamples, unless given: the issue's seven metrics, and
#: enough resamples that Holm over one metric's table (15 methods x 5 tasks) can reach alpha
#: (the smallest bootstrap p-value is 2 / (B + 1)).
BENCHMARK_METRICS: tuple[str, ...] = ("ece", "ece_paper", "ece_classwise", "nll", "brier", "accuracy", TASK_METRIC)
BENCHMARK_RESAMPLES = 4000


def layout_defaults(layout: str) -> dict[str, Any]:
    """The option values a layout uses unless given (the plain layout: the dataclass defaults)."""
    if layout == "benchmark":
        return {"metrics": BENCHMARK_METRICS, "n_resamples": BENCHMARK_RESAMPLES, "incomplete_seeds": "leave-out"}
    return {}


@dataclass(frozen=True)
class Cell:
    """One (task, method) of one metric: per-seed values and their summaries."""

    task: str
    method: str
    seeds: tuple[int, ...]
    values: tuple[float, ...]  # the metric per seed, in seed order, on the full test half
    mean: float
    seed_interval: SeedCI
    bootstrap_low: float  # percentile interval of the seed mean over test-example resamples
    bootstrap_high: float


@dataclass(frozen=True)
class Comparison:
    """Method vs the reference on one task and metric; differences are method - reference."""

    metric: str
    task: str
    method: str
    reference: str
    bootstrap: PairedBootstrap
    seed_tests: PairedSeedTests | None  # None with one seed
    pvalue: float  # of the primary test; NaN where it could not run
    pvalue_holm: float
    verdict: Verdict

    @property
    def difference(self) -> float:
        return self.bootstrap.difference


@dataclass(frozen=True)
class MetricBoard:
    """The table of one metric: rows = methods (best average rank first), columns = tasks."""

    metric: str
    title: str
    lower_is_better: bool
    estimators: Mapping[str, str]  # task -> estimator string
    description: str
    methods: tuple[str, ...]  # row order
    cells: Mapping[tuple[str, str], Cell]  # (task, method)
    comparisons: Mapping[tuple[str, str], Comparison]  # (task, method), method != reference
    ranks: Mapping[str, float]  # method -> average rank over tasks (methods present on every task)
    rank_note: str  # why some or all methods have no rank, or ""
    friedman: FriedmanResult | None
    friedman_note: str
    cd: float | None  # Nemenyi critical difference of average ranks at alpha
    best: Mapping[str, tuple[str, ...]]  # task -> the method(s) with the best mean

    @property
    def estimator(self) -> str:
        """The estimator string, or the per-task list when tasks differ."""
        values = sorted(set(self.estimators.values()))
        if len(values) == 1:
            return values[0]
        return "; ".join(f"{t}: {e}" for t, e in self.estimators.items())


@dataclass(frozen=True)
class TaskInfo:
    """What one task's column was computed on (the protocol section of every rendering)."""

    task: str
    model: str
    fingerprint: str
    protocol: str
    seeds: tuple[int, ...]
    n_test: int
    n_classes: int
    n_dev: int | None
    n_train: int | None
    train_size: int | None
    data_seed: int | None
    trainings: tuple[tuple[str, str], ...]  # (methods, training configuration) per distinct configuration


@dataclass(frozen=True)
class Leaderboard:
    """Everything a rendering needs; built by :func:`build_leaderboard`."""

    options: LeaderboardOptions
    ci: Literal["seed", "bootstrap"]  # the interval the tables show (``options.ci`` resolved)
    tasks: tuple[str, ...]
    methods: tuple[str, ...]  # every method, sorted by name
    boards: tuple[MetricBoard, ...]
    task_info: Mapping[str, TaskInfo]
    n_comparisons: int  # the Holm family: primary tests that ran, over all boards
    n_runs: int
    notes: tuple[str, ...]
    n_family: int = 0  # the size of the largest Holm family (the whole board, or one metric's table)
    learnt: Mapping[str, Learnt] = field(default_factory=dict)  # benchmark layout: task -> verdict
    rank_tasks: tuple[str, ...] = ()  # the tasks the ranks and Friedman tests run over
    #: task -> seed -> the methods that have it, for seeds left out because others lack them
    pending: Mapping[str, Mapping[int, tuple[str, ...]]] = field(default_factory=dict)
    resamples: Mapping[tuple[str, str], Resamples] = field(default_factory=dict, repr=False, compare=False)

    def on_board(self, runs: Sequence[Run]) -> list[Run]:
        """``runs`` less those of pending seeds: what the board's figures and shift tables may use."""
        return without_pending(runs, self.pending)

    def methods_on(self, task: str) -> tuple[str, ...]:
        return tuple(sorted(m for t, m in self.boards[0].cells if t == task))

    def board(self, metric: str) -> MetricBoard:
        for b in self.boards:
            if b.metric == metric:
                return b
        raise KeyError(metric)

    def ci_description(self) -> str:
        """What the interval next to each mean is (``±`` for seeds, ``[low, high]`` for the bootstrap)."""
        level = f"{self.options.confidence:.0%}"
        if self.ci == "seed":
            return f"± half-width of the {level} Student-t interval of the mean over seeds"
        return (
            f"[low, high] of the {level} percentile bootstrap interval over test examples "
            f"({self.options.n_resamples} resamples, models held fixed; for binned metrics such as ECE it can lie "
            "above the estimate: resampling duplicates examples, and binned estimators are biased upward on them)"
        )

    def test_description(self) -> str:
        o = self.options
        if o.test == "bootstrap":
            test = (
                f"two-level paired bootstrap over seeds and test examples ({o.n_resamples} resamples)"
                if any(len(i.seeds) > 1 for i in self.task_info.values())
                else f"paired bootstrap over test examples ({o.n_resamples} resamples; one seed, so it tests "
                "these trained models, not the methods)"
            )
        else:
            test = "paired t-test over seeds"
        if o.holm_per_metric:
            return (
                f"{test}, Holm-corrected within each metric's table ({self.n_family} comparisons), alpha = {o.alpha:g}"
            )
        return (
            f"{test}, Holm-corrected over all {self.n_comparisons} comparisons of this leaderboard, alpha = {o.alpha:g}"
        )


# ---------------------------------------------------------------------------- validation
def _names(runs: Iterable[Run], limit: int = 6) -> str:
    runs = list(runs)
    text = "; ".join(r.name for r in runs[:limit])
    return text + (f"; and {len(runs) - limit} more" if len(runs) > limit else "")


def _check_task(task: str, runs: list[Run]) -> dict[str, list[Run]]:
    """Refuse what must not share a column; return the runs by method, each sorted by seed."""
    for attr, what in (("fingerprint", "data fingerprints"), ("model", "encoders")):
        groups: dict[str, list[Run]] = defaultdict(list)
        for r in runs:
            groups[getattr(r, attr)].append(r)
        if len(groups) > 1:
            detail = " | ".join(f"{k}: {_names(v, 3)}" for k, v in sorted(groups.items()))
            raise LeaderboardError(
                f"task {task}: results with different {what} cannot share a column ({detail}); "
                "select one (--model, or export/compare stores separately)"
            )
    by_method: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        by_method[r.method].append(r)
    seed_sets = {}
    for method, rs in by_method.items():
        rs.sort(key=lambda r: r.seed)
        seeds = [r.seed for r in rs]
        dup = sorted({s for s in seeds if seeds.count(s) > 1})
        if dup:
            twins = [r for r in rs if r.seed in dup]
            raise LeaderboardError(
                f"task {task}, method {method}: more than one result for seed(s) {dup} "
                f"(different training or evaluation settings): {_names(twins)}"
            )
        seed_sets[method] = tuple(seeds)
    if len(set(seed_sets.values())) > 1:
        detail = "; ".join(f"{m}: {list(s)}" for m, s in sorted(seed_sets.items()))
        raise LeaderboardError(
            f"task {task}: methods were run with different seeds ({detail}); means and paired tests need the "
            "same seeds for every method -- run the missing seeds, select methods, or leave the incomplete "
            "seeds out (--incomplete-seeds leave-out)"
        )
    first = runs[0]
    for r in runs[1:]:
        if r.labels.shape != first.labels.shape or not np.array_equal(r.labels, first.labels):
            raise LeaderboardError(
                f"task {task}: test labels differ between {first.name} and {r.name} despite one fingerprint"
            )
        if r.probs.shape != first.probs.shape:
            raise LeaderboardError(
                f"task {task}: test probabilities of {r.name} have shape {r.probs.shape}, "
                f"those of {first.name} {first.probs.shape}"
            )
    return dict(by_method)


def split_incomplete_seeds(runs: Sequence[Run]) -> tuple[list[Run], dict[str, dict[int, tuple[str, ...]]]]:
    """The runs of seeds every method of their task has, and the rest as task -> seed -> methods.

    A task none of whose seeds is complete keeps all its runs, so that the board refuses it with
    the full picture of who has which seed.
    """
    methods: dict[str, set[str]] = defaultdict(set)
    have: dict[tuple[str, int], set[str]] = defaultdict(set)
    for r in runs:
        methods[r.task].add(r.method)
        have[(r.task, r.seed)].add(r.method)
    pending: dict[str, dict[int, tuple[str, ...]]] = defaultdict(dict)
    for (task, seed), ms in sorted(have.items()):
        if ms != methods[task]:
            pending[task][seed] = tuple(sorted(ms))
    for task in list(pending):
        if len(pending[task]) == sum(t == task for t, _ in have):
            del pending[task]  # nothing complete: keep everything, and let _check_task say why
    return without_pending(runs, pending), dict(pending)


def without_pending(runs: Sequence[Run], pending: Mapping[str, Mapping[int, object]]) -> list[Run]:
    """``runs`` less those of the pending (task, seed)s."""
    return [r for r in runs if r.seed not in pending.get(r.task, {})]


def pending_seeds(pending: Mapping[str, Mapping[int, tuple[str, ...]]], methods_per_task: Mapping[str, int]) -> str:
    """``"rte seed 1 (12 of 16 methods); ..."``: the seeds left out, and how far each has come."""
    return "; ".join(
        f"{task} seed {seed} ({len(ms)} of {methods_per_task[task]} methods)"
        for task, seeds in sorted(pending.items())
        for seed, ms in sorted(seeds.items())
    )


def _task_metric_key(task: str, runs: list[Run]) -> str:
    """The task's own metric: the stored metric of scope ``"task"`` (mcc, f1), else accuracy."""
    from calibench.metrics import metric_names

    known = set(metric_names())
    keys = {k for r in runs for k in r.result.metrics if k in known and get_metric(k).scope == "task"}
    if len(keys) > 1:
        raise LeaderboardError(f"task {task}: results carry more than one task metric ({', '.join(sorted(keys))})")
    return next(iter(keys)) if keys else "accuracy"


def _task_metric_description(specs: Mapping[str, MetricSpec]) -> str:
    by_metric: dict[str, list[str]] = defaultdict(list)
    for t, s in specs.items():
        by_metric[s.name].append(t)
    return "each task's own metric: " + "; ".join(
        f"{get_metric(name).title} on {', '.join(ts)}" for name, ts in sorted(by_metric.items())
    )


def _metric_for_task(key: str, task: str, runs: list[Run]) -> MetricSpec:
    """The one estimator of ``key`` the task's results were evaluated with (or its default if none stored it)."""
    if key == TASK_METRIC:
        key = _task_metric_key(task, runs)
    stored: dict[str, list[Run]] = defaultdict(list)
    missing = []
    for r in runs:
        m = r.result.metrics.get(key)
        if m is None:
            missing.append(r)
        else:
            stored[m["estimator"]].append(r)
    if len(stored) > 1:
        detail = " | ".join(f"{est}: {_names(rs, 3)}" for est, rs in sorted(stored.items()))
        raise LeaderboardError(f"task {task}: {key} was computed with different estimators ({detail})")
    if stored and missing:
        raise LeaderboardError(
            f"task {task}: {key} is stored for some results but not for {_names(missing, 3)}; "
            "they were evaluated differently"
        )
    if stored:
        return spec_from_estimator(key, next(iter(stored)))
    try:
        return metric_spec(key)
    except TypeError as exc:
        raise LeaderboardError(str(exc)) from exc


def _stable_seed(base: int, *parts: str) -> int:
    """The resampling seed of one task and estimator, shared by every method of the task.

    Deterministic and independent of which methods are on the board, so adding a method leaves
    every other interval unchanged, and methods with identical predictions get identical
    intervals (the same resamples).
    """
    digest = hashlib.sha256("\x1f".join((str(base), *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _training_summary(config: Mapping[str, Any]) -> str:
    if "external" in config:  # scored from saved predictions (calibench score): no training here
        return f"saved predictions scored by calibench score ({config['external'].get('protocol', '?')})"
    h = config.get("hyper", {})
    length = f"{h.get('max_steps')} steps" if h.get("max_steps") else f"{h.get('epochs'):g} epochs"
    parts = [
        length,
        f"batch {h.get('batch_size')}",
        f"lr {h.get('lr'):g}",
        f"warmup {h['warmup_steps']} steps" if h.get("warmup_steps") else f"warmup ratio {h.get('warmup_ratio'):g}",
        f"weight decay {h.get('weight_decay'):g}",
        f"max length {h.get('max_length')}",
        f"precision {h.get('precision')}",
    ]
    opts = config.get("recipe_options") or {}
    if opts:
        parts.append("recipe options " + ", ".join(f"{k}={v}" for k, v in sorted(opts.items())))
    return "; ".join(parts)


def _task_info(task: str, by_method: Mapping[str, list[Run]]) -> TaskInfo:
    first = next(iter(by_method.values()))[0]
    split = first.result.training.get("split") or {}
    config = first.result.config
    data = config.get("data") or {}
    configs: dict[str, list[str]] = defaultdict(list)
    for method, rs in sorted(by_method.items()):
        per_seed: dict[str, list[int]] = defaultdict(list)
        for r in rs:
            per_seed[_training_summary(r.result.config)].append(r.seed)
        for s, seeds in per_seed.items():
            # a configuration that only some seeds used (e.g. the precision of another machine) says which
            configs[s if len(per_seed) == 1 else f"{s}; seeds {', '.join(map(str, sorted(seeds)))}"].append(method)
    return TaskInfo(
        task=task,
        model=first.model,
        fingerprint=first.fingerprint,
        protocol=str(split.get("protocol", "unknown")),
        seeds=tuple(r.seed for r in next(iter(by_method.values()))),
        n_test=int(first.labels.shape[0]),
        n_classes=int(first.probs.shape[1]),
        n_dev=split.get("n_dev"),
        n_train=split.get("n_train"),
        train_size=data.get("train_size", split.get("train_size")),
        data_seed=data.get("data_seed", split.get("data_seed")),
        trainings=tuple((", ".join(ms), s) for s, ms in sorted(configs.items(), key=lambda kv: kv[1])),
    )


# ---------------------------------------------------------------------------- computation
class Resamples:
    """One task's test-example resamples for one estimator, and each method's metric on them.

    Every method of a task shares the same resamples (seeded by task and estimator only), so
    each method's batched metric is computed once per resample set and reused by its cell,
    by every comparison it takes part in (against the reference, head to head, in a claim),
    instead of once per comparison. ``cell_idx`` draws the cells' intervals (the benchmark
    layout draws them from the paired resamples), ``paired_idx`` and ``seed_idx`` the paired bootstrap's examples and seeds, exactly as
    :func:`calibench.stats.paired_bootstrap` draws them from the same seed.
    """

    def __init__(
        self, spec: MetricSpec, task: str, labels: np.ndarray, by_method: Mapping[str, list[Run]], o: LeaderboardOptions
    ) -> None:
        self.spec, self.task, self.labels, self.by_method, self.options = spec, task, labels, by_method, o
        n = len(labels)
        # the benchmark layout draws the cells' intervals from the paired tests' example resamples
        # (the same definition, one stream of resamples fewer: half the metric evaluations)
        self.shared = o.layout == "benchmark"
        self.cell_idx = (
            None
            if self.shared
            else resample_indices(n, o.n_resamples, _stable_seed(o.seed, "cell", spec.estimator, task))
        )
        rng = np.random.default_rng(_stable_seed(o.seed, "paired", spec.estimator, task))
        self.paired_idx = resample_indices(n, o.n_resamples, rng)
        n_seeds = len(next(iter(by_method.values())))
        self.seed_idx = rng.integers(0, n_seeds, (o.n_resamples, n_seeds)) if n_seeds > 1 else None
        self._points: dict[str, np.ndarray] = {}
        self._paired: dict[str, np.ndarray] = {}

    def points(self, method: str) -> np.ndarray:
        """The metric per seed on the full test half, (S,)."""
        if method not in self._points:
            self._points[method] = np.array([self.spec.fn(r.probs, self.labels) for r in self.by_method[method]])
        return self._points[method]

    def paired(self, method: str) -> np.ndarray:
        """The metric per seed on each paired-bootstrap resample, (S, B)."""
        if method not in self._paired:
            self._paired[method] = np.stack(
                [self.spec.batched(r.probs, self.labels, self.paired_idx) for r in self.by_method[method]]
            )
        return self._paired[method]

    def cell(self, method: str) -> Cell:
        o, runs = self.options, self.by_method[method]
        values = self.points(method)
        mean = float(values.mean())
        if self.shared:
            distribution = self.paired(method).mean(axis=0)
        else:
            distribution = np.mean([self.spec.batched(r.probs, self.labels, self.cell_idx) for r in runs], axis=0)
        low, high = interval_from_distribution(distribution, mean, o.confidence, "percentile")
        return Cell(
            task=self.task,
            method=method,
            seeds=tuple(r.seed for r in runs),
            values=tuple(float(v) for v in values),
            mean=mean,
            seed_interval=seed_ci(values, o.confidence),
            bootstrap_low=low,
            bootstrap_high=high,
        )

    def compare(self, method: str, other: str) -> PairedBootstrap:
        """The paired bootstrap of ``method`` - ``other`` (:func:`calibench.stats.paired_bootstrap`)."""
        return paired_bootstrap_values(
            self.paired(method),
            self.paired(other),
            list(self.points(method)),
            list(self.points(other)),
            self.spec,
            seed_idx=self.seed_idx,
            confidence=self.options.confidence,
            n_examples=len(self.labels),
        )


def _seed_tests(a: Sequence[float], b: Sequence[float], confidence: float) -> PairedSeedTests | None:
    if len(a) < 2:
        return None
    with warnings.catch_warnings():
        # identical per-seed differences (e.g. a calibrator that changes nothing) make the
        # t statistic 0/0; scipy warns and returns NaN, which is reported as "n/a"
        warnings.simplefilter("ignore", RuntimeWarning)
        return paired_seed_tests(a, b, confidence=confidence)


def _ranks(
    lower: bool, tasks: Sequence[str], methods: Sequence[str], cells: Mapping[tuple[str, str], Cell], alpha: float
) -> tuple[dict[str, float], str, FriedmanResult | None, str, float | None]:
    if not tasks:
        return {}, "no task to rank on", None, "the Friedman test needs at least 2 tasks", None
    complete = [m for m in methods if all((t, m) in cells for t in tasks)]
    left_out = sorted(set(methods) - set(complete))
    note = f"no rank for {', '.join(left_out)} (not run on every task)" if left_out else ""
    if len(complete) < 2:
        return {}, note or "ranks need at least 2 methods", None, "the Friedman test needs at least 3 methods", None
    table = pd.DataFrame({t: [cells[(t, m)].mean for m in complete] for t in tasks}, index=complete)
    ranks = {str(m): float(r) for m, r in average_ranks(table, lower_is_better=lower).items()}
    fr, fr_note, cd = None, "", None
    if len(tasks) < 2:
        fr_note = "the Friedman test and the critical difference need at least 2 tasks"
    else:
        cd = nemenyi_cd(len(complete), len(tasks), alpha)
        if len(complete) < 3:
            fr_note = "the Friedman test needs at least 3 methods"
        else:
            fr = friedman(table)
    return ranks, note, fr, fr_note, cd


def build_leaderboard(runs: Sequence[Run], options: LeaderboardOptions | None = None) -> Leaderboard:
    """Compute the leaderboard of ``runs`` (see the module docstring for every definition).

    Raises :class:`LeaderboardError` naming the results when they cannot share a column
    (different fingerprints, encoders, seed sets, labels or estimators within a task;
    duplicated seeds) or when the reference method is absent.
    """
    o = options or LeaderboardOptions()
    runs = list(runs)
    if not runs:
        raise LeaderboardError("no results to put on a leaderboard")
    pending: dict[str, dict[int, tuple[str, ...]]] = {}
    if o.incomplete_seeds == "leave-out":
        runs, pending = split_incomplete_seeds(runs)
    by_task: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        by_task[r.task].append(r)
    tasks = tuple(sorted(by_task))
    grouped = {t: _check_task(t, by_task[t]) for t in tasks}
    methods = tuple(sorted({r.method for r in runs}))
    if o.reference not in methods:
        raise LeaderboardError(
            f"reference method {o.reference!r} has no results; have: {', '.join(methods)} (choose one with --reference)"
        )
    notes = []
    if pending:
        notes.append(
            "seeds that only some of a task's methods have are left out of every statistic until all have them: "
            + pending_seeds(pending, {t: len(grouped[t]) for t in pending})
        )
    no_ref = [t for t in tasks if o.reference not in grouped[t]]
    if no_ref:
        notes.append(f"{o.reference} was not run on {', '.join(no_ref)}: no comparisons there")
    task_info = {t: _task_info(t, grouped[t]) for t in tasks}
    min_seeds = min(len(i.seeds) for i in task_info.values())
    ci: Literal["seed", "bootstrap"]
    if o.ci == "auto":
        ci = "seed" if min_seeds >= 2 else "bootstrap"
    else:
        ci = o.ci
        if ci == "seed" and min_seeds < 2:
            notes.append("the seed interval is undefined with one seed: those cells show no ±")
    if o.test == "t-test" and min_seeds < 2:
        notes.append("the paired t-test needs 2 seeds: tasks with one seed are untested")

    # cells and raw comparisons, per metric
    raw: list[tuple[str, dict[str, MetricSpec], dict[tuple[str, str], Cell], dict[tuple[str, str], tuple]]] = []
    pvalues: list[float] = []  # every primary p-value, in the order the comparisons are made
    families = [0]  # end of each metric's p-values in ``pvalues``
    resamples: dict[tuple[str, str], Resamples] = {}  # (metric, task)
    for key in o.metrics:
        specs = {t: _metric_for_task(key, t, by_task[t]) for t in tasks}
        cells: dict[tuple[str, str], Cell] = {}
        # (task, method) -> (bootstrap, seed tests, primary p-value, its index in the Holm family)
        comps: dict[tuple[str, str], tuple[PairedBootstrap, PairedSeedTests | None, float, int]] = {}
        for t in tasks:
            res = resamples[(key, t)] = Resamples(specs[t], t, by_task[t][0].labels, grouped[t], o)
            for m in sorted(grouped[t]):
                cells[(t, m)] = res.cell(m)
            if o.reference not in grouped[t]:
                continue
            for m in sorted(grouped[t]):
                if m == o.reference:
                    continue
                boot = res.compare(m, o.reference)
                st = _seed_tests(cells[(t, m)].values, cells[(t, o.reference)].values, o.confidence)
                if o.test == "bootstrap":
                    p = boot.pvalue
                elif st is None:
                    p = math.nan  # one seed: no t-test
                elif st.sd_difference == 0 and st.mean_difference == 0:
                    p = 1.0  # identical per-seed values: t is 0/0, but there is no difference to find
                else:
                    p = st.t_test.pvalue
                comps[(t, m)] = (boot, st, p, len(pvalues))
                pvalues.append(p)
        families.append(len(pvalues))
        raw.append((key, specs, cells, comps))

    family = np.array(pvalues, dtype=np.float64)
    if o.holm_per_metric:
        adjusted = np.concatenate([holm(family[a:b]) for a, b in zip(families, families[1:])])
        n_family = max(int(np.isfinite(family[a:b]).sum()) for a, b in zip(families, families[1:]))
    else:
        adjusted = holm(family)
        n_family = int(np.isfinite(family).sum())
    n_comparisons = int(np.isfinite(family).sum())
    floor = 2 / (o.n_resamples + 1)  # the smallest p-value a bootstrap of B resamples can give
    if o.test == "bootstrap" and n_family and n_family * floor > o.alpha:
        notes.append(
            f"with {o.n_resamples} resamples the smallest bootstrap p-value is {floor:.4f}, and Holm multiplies it "
            f"by the {n_family} comparisons: nothing can be significant at alpha = {o.alpha:g}; use "
            f"--resamples {math.ceil(2 * n_family / o.alpha)} or more"
        )
    learnt: dict[str, Learnt] = {}
    if o.layout == "benchmark":
        for t in tasks:
            if o.reference not in grouped[t]:
                continue
            key = "mcc" if _task_metric_key(t, by_task[t]) == "mcc" else "accuracy"
            labels = by_task[t][0].labels
            res = Resamples(_metric_for_task(key, t, by_task[t]), t, labels, grouped[t], o)
            learnt[t] = judge_learnt(t, key, res.cell(o.reference), labels)
    rank_tasks = tuple(t for t in tasks if t not in learnt or learnt[t].learnt)
    boards = []
    for key, specs, cells, comps in raw:
        spec0 = next(iter(specs.values()))
        lower = spec0.lower_is_better
        comparisons = {}
        for (t, m), (boot, st, p, i) in comps.items():
            p_holm = float(adjusted[i])
            verdict: Verdict
            if not math.isfinite(p_holm):
                verdict = "untested"
            elif p_holm <= o.alpha:
                verdict = "better" if (boot.difference < 0) == lower else "worse"
            else:
                verdict = "n.s."
            comparisons[(t, m)] = Comparison(key, t, m, o.reference, boot, st, float(p), p_holm, verdict)
        ranks, rank_note, fr, fr_note, cd = _ranks(lower, rank_tasks, methods, cells, o.alpha)
        best = {}
        for t in tasks:
            means = {m: c.mean for (tt, m), c in cells.items() if tt == t}
            target = min(means.values()) if lower else max(means.values())
            best[t] = tuple(sorted(m for m, v in means.items() if v == target))
        order = tuple(sorted(methods, key=lambda m: (ranks.get(m, math.inf), m)))
        boards.append(
            MetricBoard(
                metric=key,
                title="Task metric" if key == TASK_METRIC else get_metric(key).title,
                lower_is_better=lower,
                estimators={t: s.estimator for t, s in specs.items()},
                description=_task_metric_description(specs) if key == TASK_METRIC else spec0.description,
                methods=order,
                cells=cells,
                comparisons=comparisons,
                ranks=ranks,
                rank_note=rank_note,
                friedman=fr,
                friedman_note=fr_note,
                cd=cd,
                best=best,
            )
        )
    return Leaderboard(
        options=o,
        ci=ci,
        tasks=tasks,
        methods=methods,
        boards=tuple(boards),
        task_info=task_info,
        n_comparisons=n_comparisons,
        n_runs=len(runs),
        notes=tuple(notes),
        learnt=learnt,
        rank_tasks=rank_tasks,
        resamples=resamples,
        n_family=n_family,
        pending=pending,
    )
