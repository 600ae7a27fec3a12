"""What a plan will cost before it runs: a cost model calibrated on measured timings.

Why: the benchmark grid is hours of CPU, so ``calibench run --dry-run`` says how long the
missing work will take, from what finished trainings recorded, and ``calibench timings``
prints those measurements (the time per training by task and recipe that a benchmark note
reports). Timings come from a results store (each training's record) or from exported
result files, whose header carries the same facts under ``timings``, so a fresh clone with
only the committed results can calibrate the model too.

One training costs, in seconds (sequential, on the machine that measured it):

* ``fixed``: model load, tokenisation and recipe setup other than noise (the job's wall
  time minus the parts below);
* ``train``: the optimisation loop, proportional to the examples it sees (steps x batch);
* ``noise``: an EBM's noise LM and corpus, paid once per (task, data, noise-LM settings) by
  whichever training runs first; the others read them from the cache;
* ``predict``: every requested inference procedure on dev, test (and train) and the extra
  evaluation sets, proportional to example-passes (MC dropout's ``passes`` each);
* ``evaluate``: scoring each method's stored logits (per result).

Each component of each planned training is *measured* (the same task, recipe, model, data
and hyper-parameters were timed: their mean), *extrapolated* (scaled from timed trainings
by examples, or by examples x words per example across tasks; words are a tokenizer-free
length measure, see :func:`calibench.tasks.splits.prepare_splits`) or *default* (no
timing at all: the stated rates below, measured on this project's 2-core CPU with MiniLM).
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calibench.config import canonical_json
from calibench.records import predict_units, training_timings
from calibench.store.db import Store

__all__ = ["predict_units", "training_timings"]  # the timing facts live with the records

#: no timing at all: seconds per training example seen, MiniLM on the 2-core CPU (issue 10's
#: full-set baselines: RTE 7,470 examples in 132 s, MRPC 11,004 in 150 s)
DEFAULT_TRAIN_S_PER_EXAMPLE = 0.015
#: no timing of the recipe: its cost relative to a baseline training (EBM ~2.5x, issue 10)
DEFAULT_RECIPE_FACTOR = {"ebm": 2.5}
#: no timing: model load + tokenisation per training
DEFAULT_FIXED_S = 10.0
#: no timing: seconds per predicted example-pass
DEFAULT_PREDICT_S_PER_EXAMPLE = 0.004
#: no timing: noise LM + corpus per training example of the task (issue 13: MiniLM noise LM,
#: 429 s on 2,000 SST-2 examples)
DEFAULT_NOISE_S_PER_EXAMPLE = 0.2
#: no timing: scoring one result
DEFAULT_EVAL_S = 0.5

MEASURED, EXTRAPOLATED, DEFAULT = "measured", "extrapolated", "default"


# --------------------------------------------------------------------------- what a training recorded


@dataclass(frozen=True)
class Timing:
    """One timed training, from a store or an export (``source``)."""

    training_key: str
    task: str
    recipe: str
    recipe_options: str  # canonical JSON
    model: str
    train_size: int | None
    n_train: int
    batch_size: int
    max_length: int
    steps: int
    examples: int
    words: float | None  # mean words per training example
    eval_words: float | None  # mean words per test example
    train_s: float
    noise_lm_s: float
    noise_sampling_s: float
    noise_wait_s: float  # waiting for a concurrent training's noise LM or corpus
    noise_samples: int | None
    noise_group: str | None
    predict_s: float | None
    predict_units: int | None
    total_s: float | None
    source: str

    @property
    def fixed_s(self) -> float | None:
        if self.total_s is None or self.predict_s is None:
            return None
        noise = self.noise_lm_s + self.noise_sampling_s + self.noise_wait_s
        return max(0.0, self.total_s - self.train_s - noise - self.predict_s)

    @property
    def signature(self) -> str:
        return _signature(self.task, self.recipe, self.recipe_options, self.model, self.train_size, self.steps,
                          self.batch_size, self.max_length)  # fmt: skip


def _signature(*parts: Any) -> str:
    return canonical_json(parts)


def noise_group(spec: dict[str, Any]) -> str | None:
    """What a training's noise LM is keyed on (task, data, the LM's training settings), or None
    for a recipe without one. Built by the recipe itself, as the training builds it."""
    from calibench import registry

    try:
        recipe = registry.create("recipe", spec["recipe"], **(spec.get("recipe_options") or {}))
    except Exception:  # a recipe this installation lacks (a plugin's): no noise to share
        return None
    if not hasattr(recipe, "noise_config"):
        return None
    task = spec["data"]["task"]
    return canonical_json([task, spec["data"].get("fingerprint"), recipe.noise_config(task).training_identity()])


def timing_from(spec: dict[str, Any], split: dict[str, Any], facts: dict[str, Any], source: str) -> Timing | None:
    """A :class:`Timing` from a training's spec, split statistics and timing facts (None if it
    recorded no training loop, e.g. an export from before timings were exported)."""
    if facts.get("train_seconds") is None or not facts.get("examples"):
        return None
    hyper = spec.get("hyper") or {}
    words = split.get("words_mean") or {}
    return Timing(
        training_key=spec.get("key") or source,
        task=spec["data"]["task"],
        recipe=spec["recipe"],
        recipe_options=canonical_json(spec.get("recipe_options") or {}),
        model=spec.get("model", ""),
        train_size=spec["data"].get("train_size"),
        n_train=int(split.get("n_train") or 0),
        batch_size=int(hyper.get("batch_size") or 0),
        max_length=int(hyper.get("max_length") or 0),
        steps=int(facts.get("steps") or 0),
        examples=int(facts["examples"]),
        words=words.get("train"),
        eval_words=words.get("test"),
        train_s=float(facts["train_seconds"]),
        noise_lm_s=float(facts.get("noise_lm_seconds") or 0.0),
        noise_sampling_s=float(facts.get("noise_sampling_seconds") or 0.0),
        noise_wait_s=float(facts.get("noise_wait_seconds") or 0.0),
        noise_samples=facts.get("noise_samples"),
        noise_group=noise_group(spec),
        predict_s=facts.get("predict_seconds"),
        predict_units=facts.get("predict_units"),
        total_s=facts.get("total_seconds"),
        source=source,
    )


# --------------------------------------------------------------------------- reading timings


def _is_store(path: Path) -> bool:
    return (path / Store.DB_NAME).is_file()


def timings_from_store(store_dir: str | Path) -> list[Timing]:
    """Every finished training of the store at ``store_dir`` (read-only; nothing is written)."""
    store = Store(store_dir, read_only=True)
    try:
        rows = store.trainings("done")
    finally:
        store.close()
    out = []
    for row in rows:
        spec, record = dict(row["spec"]), row["record"] or {}
        spec["key"] = row["key"]
        t = timing_from(spec, record.get("split") or {}, training_timings(spec, record), f"store {store_dir}")
        if t is not None:
            out.append(t)
    return out


def timings_from_results(results_dir: str | Path) -> list[Timing]:
    """The trainings behind exported result files under ``results_dir`` (one per training key:
    the methods that share a training carry the same timings); only the header lines are read."""
    from calibench.report.export import FORMAT

    seen: dict[str, Timing] = {}
    for path, header in _headers(results_dir):
        if header.get("format") != FORMAT or not header.get("timings"):
            continue
        key = header.get("training_key") or str(path)
        if key in seen:
            continue
        spec = dict(header.get("config") or {})
        if "data" not in spec or "recipe" not in spec:
            continue
        spec["key"] = key
        t = timing_from(spec, header.get("split") or {}, header["timings"], f"results {results_dir}")
        if t is not None:
            seen[key] = t
    return list(seen.values())


def eval_seconds(sources: Iterable[str | Path]) -> list[float]:
    """Seconds of each timed evaluation (one per result) in the stores and export folders."""
    out: list[float] = []
    for src in sources:
        p = Path(src)
        if _is_store(p):
            store = Store(p, read_only=True)
            try:
                records = store.results(eval_set=None)  # every result, the extra sets' too
            finally:
                store.close()
            out += [r["eval_seconds"] for r in records if r.get("eval_seconds") is not None]
        elif p.is_dir():
            for _path, header in _headers(p):
                value = (header.get("timings") or {}).get("eval_seconds")
                if value is not None:
                    out.append(value)
    return out


def _headers(results_dir: str | Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Each exported result file under ``results_dir`` with its header line (unreadable ones
    skipped): everything the timings need, without reading the rows."""
    for path in sorted(Path(results_dir).rglob("*.jsonl")):
        try:
            with open(path, encoding="utf-8") as f:
                header = json.loads(f.readline())
        except (OSError, ValueError):
            continue
        if isinstance(header, dict):
            yield path, header


def member_seconds(sources: Iterable[str | Path]) -> dict[str, float | None]:
    """Each ensemble member training (key) of the results in the stores and export folders, with
    the seconds it recorded: members past the first are trained for the ensemble alone, and
    their timings are not exported on their own."""
    out: dict[str, float | None] = {}
    for src in sources:
        p = Path(src)
        if _is_store(p):
            store = Store(p, read_only=True)
            try:
                records = store.results()
            finally:
                store.close()
        elif p.is_dir():
            records = [header for _path, header in _headers(p)]
        else:
            continue
        for record in records:
            for m in record.get("members") or ():
                if m.get("training_key") and out.get(m["training_key"]) is None:
                    out[m["training_key"]] = m.get("seconds")
    return out


def compute_line(timings: Sequence[Timing], members: dict[str, float | None]) -> str:
    """``calibench timings``' last line: what the trainings behind the results cost in all."""
    timed = {t.training_key: t.total_s for t in timings}
    extra = {k: v for k, v in members.items() if k not in timed}
    known = [v for v in [*timed.values(), *extra.values()] if v is not None]
    untimed = len(timed) + len(extra) - len(known)
    return (
        f"total: {len(timed) + len(extra)} distinct trainings ({len(extra)} of them ensemble members past "
        f"the first), {fmt_seconds(sum(known))} of job time"
        + (f"; {untimed} recorded no total and are not counted" if untimed else "")
    )


def load_timings(sources: Iterable[str | Path]) -> list[Timing]:
    """Timings from each source (a store folder or an exported-results folder), one per training
    key (a store's record wins over an export of the same training)."""
    by_key: dict[str, Timing] = {}
    for src in sources:
        p = Path(src)
        if _is_store(p):
            found = timings_from_store(p)
        elif p.is_dir():
            found = timings_from_results(p)
        else:
            continue
        for t in found:
            by_key.setdefault(t.training_key, t)
    return list(by_key.values())


@dataclass(frozen=True)
class TimingRow:
    task: str
    recipe: str
    n_train: int
    n: int
    mean: float
    min: float
    max: float
    train_mean: float
    noise_lm: float | None  # mean noise-LM seconds of the trainings that trained one


def timing_table(timings: Iterable[Timing]) -> list[TimingRow]:
    """Seconds per training job (wall, all components) by task, recipe and training-set size."""
    groups: dict[tuple[str, str, int], list[Timing]] = defaultdict(list)
    for t in timings:
        groups[(t.task, t.recipe, t.n_train)].append(t)
    rows = []
    for (task, recipe, n_train), ts in sorted(groups.items()):
        totals = [t.total_s if t.total_s is not None else t.train_s for t in ts]
        lm = [t.noise_lm_s for t in ts if t.noise_lm_s > 0]
        rows.append(
            TimingRow(
                task,
                recipe,
                n_train,
                len(ts),
                statistics.fmean(totals),
                min(totals),
                max(totals),
                statistics.fmean(t.train_s for t in ts),
                statistics.fmean(lm) if lm else None,
            )  # fmt: skip
        )
    return rows


# --------------------------------------------------------------------------- the estimate


@dataclass
class Part:
    seconds: float
    basis: str  # MEASURED, EXTRAPOLATED or DEFAULT
    how: str


@dataclass
class TrainingEstimate:
    task: str
    recipe: str
    key: str
    done: bool
    parts: dict[str, Part] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return 0.0 if self.done else sum(p.seconds for p in self.parts.values())


@dataclass
class PlanEstimate:
    trainings: list[TrainingEstimate]
    noise: list[tuple[str, Part]]  # (task, the noise LM + corpus it pays once)
    evaluations: Part
    n_evaluations: int
    n_evaluations_done: int
    n_timings: int

    @property
    def total_s(self) -> float:
        return (
            sum(t.seconds for t in self.trainings) + sum(p.seconds for _t, p in self.noise) + self.evaluations.seconds
        )


def _rate(
    ts: Sequence[Timing], num: Callable[[Timing], float | None], den: Callable[[Timing], float | None]
) -> float | None:
    """Sum of ``num`` over sum of ``den``, over the timings where both are known."""
    pairs = [(a, b) for a, b in ((num(t), den(t)) for t in ts) if a is not None and b]
    total = sum(b for _a, b in pairs)
    return sum(a for a, _b in pairs) / total if total else None


@dataclass(frozen=True)
class Planned:
    """What the model needs to know of one planned training."""

    task: str
    recipe: str
    recipe_options: str
    model: str
    signature: str
    examples: int  # steps x batch
    n_train: int
    words: float | None
    eval_words: float | None
    predict_units: int
    noise_group: str | None
    noise_samples: int | None


class CostModel:
    """Estimates of planned trainings' parts from measured :class:`Timing` s (see the module docstring)."""

    def __init__(self, timings: Sequence[Timing], eval_seconds: Sequence[float] = ()) -> None:
        self.timings = list(timings)
        self.eval_seconds = list(eval_seconds)

    def _scaled(
        self,
        p: Planned,
        pools: Sequence[tuple[str, list[Timing]]],
        value: Callable[[Timing], float | None],
        units: Callable[[Timing], float | None],
        n: float,
        length: str,
        default: float,
        what: str,
    ) -> Part:
        """``n`` units at the rate timed on this task, else at other tasks' rate per unit-word
        times this task's words, trying each pool (most specific first); else ``default``."""
        for label, pool in pools:
            here = [t for t in pool if t.task == p.task]
            r = _rate(here, value, units)
            if r is not None:  # measured where every timing had this many units
                basis = MEASURED if all(units(t) == n for t in here) else EXTRAPOLATED
                return Part(r * n, basis, f"{len(here)} timed on {p.task}{label}, by {what}")
            words = getattr(p, length)
            r = _rate(pool, value, lambda t: (units(t) or 0) * (getattr(t, length) or 0)) if words else None
            if r is not None:
                return Part(r * n * words, EXTRAPOLATED, f"{len(pool)} timed on other tasks{label}, by {what} x words")
            r = _rate(pool, value, units)  # timings from before word counts were recorded
            if r is not None:
                return Part(
                    r * n, EXTRAPOLATED, f"{len(pool)} timed on other tasks{label}, by {what} (lengths unknown)"
                )
        return Part(default * n, DEFAULT, f"no timing: {default:g} s per {what}")

    def train(self, p: Planned) -> Part:
        """The optimisation loop."""
        same = [t for t in self.timings if t.signature == p.signature]
        if same:
            return Part(statistics.fmean(t.train_s for t in same), MEASURED, f"mean of {len(same)} timed")
        family = p.recipe.split("-")[0]
        factor = DEFAULT_RECIPE_FACTOR.get(family, 1.0)
        mine = [t for t in self.timings if t.model == p.model and t.recipe == p.recipe]
        pools = [("", [t for t in mine if t.recipe_options == p.recipe_options]), (" (other options)", mine)]
        part = self._scaled(p, pools, lambda t: t.train_s, lambda t: t.examples, p.examples, "words",
                            DEFAULT_TRAIN_S_PER_EXAMPLE * factor, "example")  # fmt: skip
        if part.basis == DEFAULT and p.recipe != "baseline":  # a baseline timing, times the recipe's default factor
            base = [("", [t for t in self.timings if t.model == p.model and t.recipe == "baseline"])]
            part = self._scaled(p, base, lambda t: t.train_s * factor, lambda t: t.examples, p.examples, "words",
                                DEFAULT_TRAIN_S_PER_EXAMPLE * factor, "example")  # fmt: skip
            if part.basis != DEFAULT:  # another recipe's timing: never a measurement of this one
                part.basis, part.how = EXTRAPOLATED, f"baseline: {part.how}, x default factor {factor:g}"
        return part

    def fixed(self, p: Planned) -> Part:
        """Load, tokenisation and setup of one training."""
        timed = [t for t in self.timings if t.model == p.model and t.fixed_s is not None]
        pools = [(" (this recipe)", [t for t in timed if t.recipe == p.recipe]), ("", timed)]
        return self._scaled(p, pools, lambda t: t.fixed_s, lambda t: 1.0, 1, "words", DEFAULT_FIXED_S, "training")

    def predict(self, p: Planned) -> Part:
        """Every requested prediction."""
        pools = [("", [t for t in self.timings if t.model == p.model and t.predict_s is not None])]
        return self._scaled(p, pools, lambda t: t.predict_s, lambda t: t.predict_units, p.predict_units,
                            "eval_words", DEFAULT_PREDICT_S_PER_EXAMPLE, "example-pass")  # fmt: skip

    def noise(self, p: Planned) -> Part:
        """The noise LM and its corpus, paid once per noise group."""
        group = [t for t in self.timings if t.noise_group == p.noise_group and t.noise_lm_s > 0]
        if group:
            lm = Part(statistics.fmean(t.noise_lm_s for t in group), MEASURED, f"noise LM timed {len(group)}x")
        else:  # the same noise settings on other data, by training examples x words
            same = [t for t in self.timings if t.noise_lm_s > 0 and t.recipe_options == p.recipe_options]
            lm = self._scaled(p, [("", same)], lambda t: t.noise_lm_s, lambda t: t.n_train, p.n_train, "words",
                              DEFAULT_NOISE_S_PER_EXAMPLE, "noise-LM training example")  # fmt: skip
        sampled = [t for t in self.timings if t.noise_samples and t.recipe_options == p.recipe_options]
        r = _rate(sampled, lambda t: t.noise_sampling_s, lambda t: t.noise_samples)
        if r is None or not p.noise_samples:
            return Part(lm.seconds, lm.basis, lm.how + "; sampling untimed")
        basis = MEASURED if lm.basis == MEASURED and any(t.noise_group == p.noise_group for t in sampled) else lm.basis
        if lm.basis == DEFAULT:
            basis = EXTRAPOLATED
        return Part(lm.seconds + r * p.noise_samples, basis, f"{lm.how}; {p.noise_samples} samples at {r:.3g} s each")

    def evaluation(self, n: int) -> Part:
        """Scoring ``n`` results (the metrics do not depend on the method; mean of every timed one)."""
        if self.eval_seconds:
            mean = statistics.fmean(self.eval_seconds)
            return Part(mean * n, MEASURED, f"{mean:.2f} s per result ({len(self.eval_seconds)} timed)")
        return Part(DEFAULT_EVAL_S * n, DEFAULT, f"no timing: {DEFAULT_EVAL_S:g} s per result")


def planned(spec: Any, split: dict[str, Any], eval_set_sizes: Sequence[int]) -> Planned:
    """The model's view of a planned :class:`~calibench.config.TrainingSpec`."""
    from calibench import registry
    from calibench.training.loop import plan_steps

    h = spec.hyper
    n_train = int(split.get("n_train") or 0)
    steps, _warm = plan_steps(n_train, h.batch_size, h.epochs, h.max_steps, h.warmup_steps, h.warmup_ratio)
    recipe = registry.create("recipe", spec.recipe, **spec.recipe_options)
    words = split.get("words_mean") or {}
    as_json = spec.to_json()
    return Planned(
        task=spec.data.task,
        recipe=spec.recipe,
        recipe_options=canonical_json(spec.recipe_options),
        model=spec.model,
        signature=_signature(
            spec.data.task,
            spec.recipe,
            canonical_json(spec.recipe_options),
            spec.model,
            spec.data.train_size,
            steps,
            h.batch_size,
            h.max_length,
        ),  # fmt: skip
        examples=steps * min(h.batch_size, max(n_train, 1)),
        n_train=n_train,
        words=words.get("train"),
        eval_words=words.get("test"),
        predict_units=predict_units(spec.inferences, split, spec.predicts_train, eval_set_sizes),
        noise_group=noise_group(as_json),
        noise_samples=recipe.noise_samples(steps, h.batch_size) if hasattr(recipe, "noise_samples") else None,
    )


def estimate_plan(
    plan: Any,
    timings: Sequence[Timing],
    store: Any = None,
    metric_options: dict[str, Any] | None = None,
    eval_times: Sequence[float] = (),
) -> PlanEstimate:
    """Every planned training's estimate; trainings (and noise groups, evaluations) already
    done in ``store`` (a :class:`~calibench.store.db.Store`, or None) cost nothing."""
    from calibench.execution.driver import training_complete
    from calibench.execution.evaluate import result_key

    model = CostModel(timings, eval_times)
    # a noise LM and corpus that a finished training of the run's store made are in its cache
    done_groups = {t.noise_group for t in timings_from_store(store.root)} if store is not None else set()
    out, noise, seen_groups = [], [], set()
    for spec in plan.trainings:
        split = plan.split_stats.get(spec.data.task, {})
        sizes = [es.stats.get("n", 0) for es in plan.eval_sets.get(spec.data.task, [])]
        p = planned(spec, split, sizes)
        done = store is not None and training_complete(store, spec)
        est = TrainingEstimate(spec.data.task, spec.recipe, spec.key, done)
        trained = store is not None and (store.training(spec.key) or {}).get("status") == "done"
        if trained and not done:  # outputs asked for later: predicted from the kept model, no training
            est.parts = {
                "fixed": model.fixed(p),
                "train": Part(0.0, MEASURED, "trained before"),
                "predict": model.predict(p),
            }
        elif not done:
            est.parts = {"fixed": model.fixed(p), "train": model.train(p), "predict": model.predict(p)}
            if p.noise_group and p.noise_group not in done_groups and p.noise_group not in seen_groups:
                seen_groups.add(p.noise_group)
                noise.append((spec.data.task, model.noise(p)))
        out.append(est)
    n_done = 0
    if store is not None and metric_options is not None:
        for ev in plan.evaluations:
            cal_id = ev.calibrator.identity() if ev.calibrator is not None else None
            n_done += store.has_result(result_key(ev.method, ev.prediction_key, cal_id, metric_options))
    todo = len(plan.evaluations) - n_done
    return PlanEstimate(out, noise, model.evaluation(todo), len(plan.evaluations), n_done, len(timings))


def fmt_seconds(seconds: float) -> str:
    """Seconds as people read a duration: s under 90 s, min under 90 min, else h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def estimate_lines(est: PlanEstimate) -> list[str]:
    """The dry run's cost section: per task and recipe, the noise LMs, evaluations and the total."""
    lines = [f"estimated wall time (sequential, one job at a time; cost model from {est.n_timings} timed training(s)):"]
    groups: dict[tuple[str, str], list[TrainingEstimate]] = defaultdict(list)
    for t in est.trainings:
        groups[(t.task, t.recipe)].append(t)
    for (task, recipe), ts in groups.items():
        todo = [t for t in ts if not t.done]
        done = len(ts) - len(todo)
        head = f"  {task:<8} {recipe:<22} {len(ts):>3} training(s)"
        if not todo:
            lines.append(f"{head}, all done in the store (skipped)")
            continue
        each = statistics.fmean(t.seconds for t in todo)
        lines.append(
            f"{head}" + (f", {done} done (skipped)" if done else "")
            + f": {len(todo)} x {fmt_seconds(each)} = {fmt_seconds(each * len(todo))}"
        )  # fmt: skip
        for name in ("fixed", "train", "predict"):  # the mean over the group; the first one's basis
            part = todo[0].parts[name]
            mean = statistics.fmean(t.parts[name].seconds for t in todo)
            lines.append(f"      {name:<8} {fmt_seconds(mean):>9}  {part.basis}: {part.how}")
    for task, part in est.noise:
        lines.append(
            f"  {task:<8} {'noise LM + corpus':<22}   once: {fmt_seconds(part.seconds)}  {part.basis}: {part.how}"
        )
    ev = est.evaluations
    lines.append(
        f"  evaluations: {est.n_evaluations - est.n_evaluations_done} to compute"
        + (f" ({est.n_evaluations_done} stored)" if est.n_evaluations_done else "")
        + f": {fmt_seconds(ev.seconds)}  {ev.basis}: {ev.how}"
    )
    n_todo = sum(not t.done for t in est.trainings)
    lines.append(
        f"  total: {n_todo} training(s) to run ({len(est.trainings) - n_todo} done, skipped), "
        f"about {fmt_seconds(est.total_s)}"
    )
    return lines


def timing_lines(rows: Sequence[TimingRow]) -> list[str]:
    """``calibench timings``: seconds per training job by task, recipe and training-set size."""
    lines = [
        f"{'task':<8} {'recipe':<22} {'n_train':>7} {'n':>3} {'mean s':>8} {'min s':>8} {'max s':>8} "
        f"{'loop s':>8} {'noise LM s':>10}"
    ]
    for r in rows:
        lm = f"{r.noise_lm:10.1f}" if r.noise_lm is not None else f"{'-':>10}"
        lines.append(
            f"{r.task:<8} {r.recipe:<22} {r.n_train:>7} {r.n:>3} {r.mean:8.1f} {r.min:8.1f} {r.max:8.1f} "
            f"{r.train_mean:8.1f} {lm}"
        )
    return lines
