"""Multiple-comparison correction.

Why: a leaderboard that tests every method against the baseline on every task runs dozens
of tests; at alpha = 0.05 some "wins" are noise. Holm's step-down procedure controls the
family-wise error rate under any dependence between the tests and is uniformly more
powerful than Bonferroni.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values, in the input order.

    With the m finite p-values sorted ascending, ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``
    (1-based), the same numbers as ``statsmodels.stats.multitest.multipletests(p, method="holm")``.
    Reject hypothesis i at family-wise level alpha iff ``adj_i <= alpha``. NaN entries (tests
    that were not run) stay NaN and do not count towards m.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"pvalues must be 1-D, got shape {p.shape}")
    finite = ~np.isnan(p)
    if ((p[finite] < 0) | (p[finite] > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    out = np.full_like(p, np.nan)
    q = p[finite]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * q[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    out[finite] = adjusted
    return out
