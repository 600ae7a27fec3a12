"""The EBM paper's claims (He et al. 2021, "Joint energy-based model training for better
calibrated natural language understanding models"), put to the board's test.

Every claim is a set of *tests*; each test is one statement about one effect pooled over
the learnt tasks (:mod:`calibench.report.pooled`: the mean over tasks of method - other,
with its percentile interval at the board's confidence), compared with a bound:

* ``below`` (the effect lies below the bound): *holds* if the whole interval is below it,
  *does not hold* if the whole interval is at or above it, else *inconclusive*;
* ``above``: the mirror image.

A claim *holds* when all its tests hold, *does not hold* when any test does not hold, and
is *inconclusive* otherwise; a claim whose methods (or metrics) are absent is *not run*.
An inconclusive test gets the number of seeds the paired t-test over seeds would need to
settle it (:func:`calibench.stats.seeds_needed`, power 0.8 at the board's alpha), taking
the observed task-averaged difference and its spread over seeds as the truth.

The margins are stated with each claim: "little or no loss of accuracy" is a loss smaller
than :data:`ACCURACY_MARGIN` (one accuracy point); "competitive" is an ECE at most
:data:`ECE_MARGIN` (one ECE point) above the competitor's. The claims use the paper's ECE
(``ece_paper``) where the board has it, else the board's top-label ``ece``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from calibench.report.leaderboard import Leaderboard
from calibench.report.pooled import Pooled, pooled
from calibench.stats import seeds_needed

ClaimVerdict = Literal["holds", "does not hold", "inconclusive", "not run"]
Side = Literal["below", "above"]

#: The EBM energies of the paper (calibench's recipe names), in the paper's order.
ENERGIES: tuple[str, ...] = ("ebm-scalar", "ebm-hidden", "ebm-sharp-hidden")
#: "little or no loss of accuracy": a loss smaller than one accuracy point
ACCURACY_MARGIN = 0.01
#: "competitive": an ECE at most one ECE point above the competitor's
ECE_MARGIN = 0.01
#: the power an inconclusive test's seed count is planned for
PLANNED_POWER = 0.8
#: beyond this many seeds the planner's answer is "more than"
MAX_PLANNED_SEEDS = 1000


def judge(low: float, high: float, side: Side, bound: float) -> ClaimVerdict:
    """The verdict of one test from the interval [low, high] of its effect (module docstring)."""
    if side == "below":
        if high < bound:
            return "holds"
        return "does not hold" if low >= bound else "inconclusive"
    if low > bound:
        return "holds"
    return "does not hold" if high <= bound else "inconclusive"


def combine(verdicts: Sequence[ClaimVerdict]) -> ClaimVerdict:
    """All hold -> holds; any does not hold -> does not hold; else inconclusive."""
    if not verdicts:
        return "not run"
    if any(v == "does not hold" for v in verdicts):
        return "does not hold"
    if all(v == "holds" for v in verdicts):
        return "holds"
    return "inconclusive"


@dataclass(frozen=True)
class Plan:
    """How many seeds would settle an inconclusive test, or why the planner cannot say."""

    seeds: int | None
    note: str


def plan_seeds(effect: Pooled, bound: float, alpha: float) -> Plan:
    """Seeds for the paired t-test over seeds to tell the observed effect from ``bound`` at power 0.8."""
    sd, distance = effect.seed_sd, abs(effect.difference - bound)
    if not math.isfinite(sd):
        return Plan(None, "the planner needs at least 2 seeds")
    if sd == 0 or distance == 0:
        return Plan(None, "the per-seed differences do not vary" if sd == 0 else "the effect sits on the bound")
    try:
        n = seeds_needed(sd, distance, alpha=alpha, power=PLANNED_POWER, max_seeds=MAX_PLANNED_SEEDS)
    except ValueError:
        return Plan(None, f"more than {MAX_PLANNED_SEEDS} seeds")
    return Plan(n, f"about {n} seeds")


@dataclass(frozen=True)
class Test:
    """One statement: ``metric(method) - metric(other)`` lies ``side`` ``bound``."""

    metric: str
    method: str
    other: str
    side: Side
    bound: float
    effect: Pooled | None  # None: not run (a method or the metric is missing)
    verdict: ClaimVerdict
    plan: Plan | None  # for inconclusive tests

    @property
    def statement(self) -> str:
        sign = "<" if self.side == "below" else ">"
        bound = f"{self.bound:+g}" if self.bound else "0"
        return f"{self.metric}({self.method}) − {self.metric}({self.other}) {sign} {bound}"


@dataclass(frozen=True)
class Claim:
    number: int
    text: str
    test_text: str  # how the board tests it, in words
    tests: tuple[Test, ...]
    verdict: ClaimVerdict
    missing: tuple[str, ...]  # methods (or metrics) absent from the results


def _test(lb: Leaderboard, metric: str, method: str, other: str, side: Side, bound: float) -> Test:
    tasks = [t for t in lb.rank_tasks if (metric, t) in lb.resamples]
    tasks = [t for t in tasks if {method, other} <= set(lb.resamples[(metric, t)].by_method)]
    effect = pooled(lb, metric, method, other, tasks)
    if effect is None:
        return Test(metric, method, other, side, bound, None, "not run", None)
    verdict = judge(effect.low, effect.high, side, bound)
    plan = plan_seeds(effect, bound, lb.options.alpha) if verdict == "inconclusive" else None
    return Test(metric, method, other, side, bound, effect, verdict, plan)


def claim_metrics(lb: Leaderboard) -> tuple[str | None, str | None]:
    """The ECE and accuracy keys the claims use (None where the board lacks them)."""
    keys = {b.metric for b in lb.boards}
    ece = next((k for k in ("ece_paper", "ece") if k in keys), None)
    return ece, ("accuracy" if "accuracy" in keys else None)


def _claim(number: int, text: str, test_text: str, tests: list[Test], missing: list[str]) -> Claim:
    """A claim from its tests; tests that could not run leave the verdict to the others (none: not run)."""
    verdict = combine([t.verdict for t in tests if t.verdict != "not run"])
    return Claim(number, text, test_text, tuple(tests), verdict, tuple(missing))


def paper_claims(lb: Leaderboard) -> list[Claim]:
    """The four claims, tested on ``lb`` (the benchmark layout's section)."""
    ece, acc = claim_metrics(lb)
    methods = set(lb.methods)
    energies = [e for e in ENERGIES if e in methods]
    missing_energies = [e for e in ENERGIES if e not in methods]
    missing_metrics = [m for m, k in (("an ECE (ece_paper or ece)", ece), ("accuracy", acc)) if k is None]
    ref = lb.options.reference
    m_acc, m_ece = f"{ACCURACY_MARGIN:g}", f"{ECE_MARGIN:g}"

    def missing(*others: str) -> list[str]:
        return [*missing_metrics, *missing_energies, *(o for o in others if o not in methods)]

    claims = []
    tests: list[Test] = []
    if ece and acc and ref in methods:
        for e in energies:
            tests.append(_test(lb, ece, e, ref, "below", 0.0))
            tests.append(_test(lb, acc, e, ref, "above", -ACCURACY_MARGIN))
    claims.append(
        _claim(
            1,
            "EBM lowers ECE against the baseline with little or no loss of accuracy.",
            f"for each energy: {ece}(energy) − {ece}({ref}) < 0 and accuracy(energy) − accuracy({ref}) > −{m_acc} "
            f"(a loss under {m_acc} is 'little')",
            tests,
            missing(ref),
        )
    )
    tests = []
    if ece and acc and len(energies) == len(ENERGIES):
        tests += [_test(lb, ece, "ebm-hidden", o, "below", 0.0) for o in ("ebm-scalar", "ebm-sharp-hidden")]
        tests += [_test(lb, acc, "ebm-sharp-hidden", o, "above", 0.0) for o in ("ebm-scalar", "ebm-hidden")]
    claims.append(
        _claim(
            2,
            "Among the energies, hidden gives the best ECE and sharp-hidden the best accuracy.",
            f"{ece}(ebm-hidden) below both other energies' and accuracy(ebm-sharp-hidden) above both others'",
            tests,
            missing(),
        )
    )
    for number, other, text, side, bound, how in (
        (
            3,
            "temp-scaling",
            "EBM is competitive with temperature scaling fitted on the dev half.",
            "below",
            ECE_MARGIN,
            f"for each energy: {ece}(energy) − {ece}(temp-scaling) < +{m_ece} ('competitive': at most {m_ece} worse)",
        ),
        (
            4,
            "temp-scaling(fit_on=train)",
            "EBM beats temperature scaling fitted on the training set.",
            "below",
            0.0,
            f"for each energy: {ece}(energy) − {ece}(temp-scaling(fit_on=train)) < 0",
        ),
    ):
        tests = [_test(lb, ece, e, other, side, bound) for e in energies] if ece and other in methods else []
        claims.append(_claim(number, text, how, tests, missing(other)))
    return claims
