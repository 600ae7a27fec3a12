"""Selective prediction from stored probabilities: the risk-coverage curve, AURC, E-AURC,
selective accuracy at a fixed coverage, and misclassification-detection AUROC.

A selective classifier answers only the inputs it is most confident about (here: the
maximum softmax probability, MSP). Keeping the k most confident of n inputs gives coverage
k/n and *selective risk* (error rate on the kept inputs) r_k; the risk-coverage curve is
(k/n, r_k) for k = 1..n (Geifman & El-Yaniv 2017).

* AURC = (1/n) sum_k r_k, the mean selective risk over the n coverage levels (Geifman et al.
  2019). torch-uncertainty integrates the same points by the trapezoid rule from coverage 1/n
  to 1, which is AURC - (r_1 + r_n) / (2n); the tests check that identity.
* E-AURC = AURC - AURC*, where AURC* is the AURC of an oracle that ranks every correct
  prediction above every error (same accuracy): the part of AURC due to the ranking.
* selective accuracy at coverage c: accuracy on the k = ceil(c n) most confident inputs
  (the smallest k with k/n >= c), as HELM reports.
* misclassification-detection AUROC: how well MSP separates correct predictions (positive)
  from errors; :func:`calibench.metrics.ood.ood_auroc` on the two groups (ties count 1/2, as
  ``sklearn.metrics.roc_auc_score``). NaN when the sample has no error or no correct prediction.

Tie convention (AURC, E-AURC, selective accuracy): inputs with equal confidence cannot be
told apart by a threshold, so no order among them is used. Within a tied group the errors
are spread evenly, i.e. the cumulative error count is interpolated linearly across the group.
Because the denominator k is fixed, this makes r_k exactly the *expected* selective risk over
uniformly random orderings of the ties, and the value independent of input order. (A stable
sort, torch-uncertainty's convention, depends on the order the inputs were stored in: with
float32 probabilities saturated at 1.0 that changes AURC.) Without ties it is the plain
definition above.

Every metric has the batched form over resample indices ``idx`` (B, m) that the statistics use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from calibench.metrics.inputs import (
    check_index,
    check_inputs,
    estimator_string,
    predictions,
    row_chunks,
)

#: How tied confidences are treated; part of every estimator string of this module.
TIES = "expected"
#: The confidence score used to rank inputs.
SCORE = "msp"
#: The coverages at which calibench reports selective accuracy (one registered metric each).
REPORTED_COVERAGES: tuple[float, ...] = (0.8, 0.9)


def _confidence_and_errors(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, y = check_inputs(probs, labels)
    pred = predictions(p)
    return p[np.arange(len(y)), pred], (pred != y).astype(np.float64)


def _expected_cumulative_errors(conf: np.ndarray, err: np.ndarray) -> np.ndarray:
    """(b, m) expected error counts among the k most confident, k = 1..m, per row (ties spread evenly)."""
    b, m = conf.shape
    order = np.argsort(-conf, axis=1, kind="stable")
    c = np.take_along_axis(conf, order, axis=1)
    cum = np.cumsum(np.take_along_axis(err, order, axis=1), axis=1)
    pos = np.broadcast_to(np.arange(m), (b, m))
    new_group = np.ones((b, m), dtype=bool)
    new_group[:, 1:] = c[:, 1:] != c[:, :-1]
    last_of_group = np.ones((b, m), dtype=bool)
    last_of_group[:, :-1] = new_group[:, 1:]
    start = np.maximum.accumulate(np.where(new_group, pos, 0), axis=1)
    end = np.minimum.accumulate(np.where(last_of_group, pos, m - 1)[:, ::-1], axis=1)[:, ::-1]
    before = np.where(start > 0, np.take_along_axis(cum, np.maximum(start - 1, 0), axis=1), 0.0)
    group_errors = np.take_along_axis(cum, end, axis=1) - before
    return before + (pos - start + 1) * group_errors / (end - start + 1)


def _per_resample(probs: np.ndarray, labels: np.ndarray, idx: np.ndarray | None, reduce) -> np.ndarray:
    """``reduce(expected cumulative errors (b, m), errors (b, m))`` -> (b,) over row blocks of ``idx``."""
    conf, err = _confidence_and_errors(probs, labels)
    idx = check_index(idx, len(conf))
    out = np.empty(idx.shape[0], dtype=np.float64)
    for rows in row_chunks(idx.shape[0], 8 * idx.shape[1]):  # ~8 (b, m) temporaries per block
        block = idx[rows]
        out[rows] = reduce(_expected_cumulative_errors(conf[block], err[block]), err[block])
    return out


def _kept(m: int) -> np.ndarray:
    return np.arange(1, m + 1, dtype=np.float64)


def _aurc_from(cum: np.ndarray, err: np.ndarray) -> np.ndarray:
    return (cum / _kept(cum.shape[1])).mean(axis=1)


def _oracle_aurc(err: np.ndarray) -> np.ndarray:
    """AURC of the oracle ranking (every correct prediction first), per row of errors (b, m)."""
    m = err.shape[1]
    k = _kept(m)
    n_correct = m - err.sum(axis=1, keepdims=True)
    return (np.maximum(0.0, k - n_correct) / k).mean(axis=1)


@dataclass(frozen=True)
class RiskCoverage:
    """The risk-coverage curve of one sample: ``coverage[k-1] = k/n``, ``risk[k-1] = r_k`` (n,)."""

    coverage: np.ndarray
    risk: np.ndarray
    oracle_risk: np.ndarray  # the oracle ranking's risk at each coverage (the curve's lower bound)


def risk_coverage_curve(probs: np.ndarray, labels: np.ndarray) -> RiskCoverage:
    """The risk-coverage curve behind :func:`aurc` (same code and tie convention), for plotting."""
    conf, err = _confidence_and_errors(probs, labels)
    cum = _expected_cumulative_errors(conf[None, :], err[None, :])[0]
    k = _kept(len(conf))
    oracle = np.maximum(0.0, k - (len(err) - err.sum())) / k
    return RiskCoverage(coverage=k / len(conf), risk=cum / k, oracle_risk=oracle)


def aurc_batched(probs: np.ndarray, labels: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    """AURC on each resample row of ``idx`` (None = the sample) -> (B,)."""
    return _per_resample(probs, labels, idx, _aurc_from)


def aurc(probs: np.ndarray, labels: np.ndarray) -> float:
    """Area under the risk-coverage curve, the mean selective risk over coverages k/n (lower is better)."""
    return float(aurc_batched(probs, labels, None)[0])


def eaurc_batched(probs: np.ndarray, labels: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    """E-AURC on each resample row of ``idx`` -> (B,)."""
    return _per_resample(probs, labels, idx, lambda cum, err: _aurc_from(cum, err) - _oracle_aurc(err))


def eaurc(probs: np.ndarray, labels: np.ndarray) -> float:
    """Excess AURC over the oracle ranking at the same accuracy (0 = errors ranked last)."""
    return float(eaurc_batched(probs, labels, None)[0])


def _check_coverage(coverage: float) -> None:
    if isinstance(coverage, bool) or not isinstance(coverage, (int, float)) or not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must lie in (0, 1], got {coverage!r}")


def _kept_count(m: int, coverage: float) -> int:
    """The smallest k with k/m >= coverage (float-exact as the comparison itself)."""
    return int(np.searchsorted(_kept(m) / m, coverage, side="left")) + 1


def selective_accuracy_batched(
    probs: np.ndarray, labels: np.ndarray, idx: np.ndarray | None, *, coverage: float = 0.8
) -> np.ndarray:
    """Selective accuracy at ``coverage`` on each resample row of ``idx`` -> (B,)."""
    _check_coverage(coverage)

    def reduce(cum: np.ndarray, err: np.ndarray) -> np.ndarray:
        k = _kept_count(cum.shape[1], coverage)
        return 1.0 - cum[:, k - 1] / k

    return _per_resample(probs, labels, idx, reduce)


def selective_accuracy(probs: np.ndarray, labels: np.ndarray, *, coverage: float = 0.8) -> float:
    """Accuracy on the ceil(coverage * n) most confident inputs (higher is better)."""
    return float(selective_accuracy_batched(probs, labels, None, coverage=coverage)[0])


def misclassification_auroc_batched(probs: np.ndarray, labels: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    """Misclassification-detection AUROC on each resample row of ``idx`` -> (B,), NaN where undefined."""
    conf, err = _confidence_and_errors(probs, labels)
    idx = check_index(idx, len(conf))
    out = np.empty(idx.shape[0], dtype=np.float64)
    for rows in row_chunks(idx.shape[0], 4 * idx.shape[1]):
        block = idx[rows]
        correct = 1.0 - err[block]
        n_pos = correct.sum(axis=1)
        n_neg = block.shape[1] - n_pos
        rank_sum = (rankdata(conf[block], method="average", axis=1) * correct).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
        out[rows] = np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)
    return out


def misclassification_auroc(probs: np.ndarray, labels: np.ndarray) -> float:
    """AUROC of MSP for telling correct predictions from errors (higher is better; NaN without both)."""
    return float(misclassification_auroc_batched(probs, labels, None)[0])


def selective_estimator(name: str, **params: object) -> str:
    """Canonical estimator string of a selective metric, e.g. ``aurc(score=msp,ties=expected)``."""
    if "coverage" in params:
        _check_coverage(params["coverage"])  # type: ignore[arg-type]
    return estimator_string(name, **params, score=SCORE, ties=TIES)


def auroc_estimator() -> str:
    return estimator_string("misclassification_auroc", score=SCORE, ties="half")


def coverage_key(coverage: float) -> str:
    """Registry key of selective accuracy at ``coverage``: ``selective_accuracy_80`` for 0.8."""
    _check_coverage(coverage)
    percent = coverage * 100
    return f"selective_accuracy_{int(percent) if math.isclose(percent, round(percent)) else percent:g}"
