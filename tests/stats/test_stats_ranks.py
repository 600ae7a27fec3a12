"""Holm, ranks, Friedman, Nemenyi, pairwise Wilcoxon and the CD diagram."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from calibench.stats import (
    average_ranks,
    cd_diagram,
    friedman,
    holm,
    nemenyi_cd,
    nemenyi_groups,
    pairwise_wilcoxon,
)

TABLE = pd.DataFrame(
    {"t1": [0.10, 0.20, 0.30], "t2": [0.05, 0.05, 0.20], "t3": [0.30, 0.10, 0.20]},
    index=["ebm", "base", "ts"],
)


# --- Holm ----------------------------------------------------------------------------------------
def test_holm_hand_computed():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])
    np.testing.assert_allclose(holm([0.01, np.nan, 0.04]), [0.02, np.nan, 0.04])  # NaN: not tested, not counted
    np.testing.assert_allclose(holm([0.02, 0.02, 0.02]), [0.06, 0.06, 0.06])
    assert holm([]).size == 0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.5, 1.5])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_step_down_definition(pvalues):
    adj = holm(pvalues)
    p = np.asarray(pvalues)
    m = len(p)
    order = np.argsort(p, kind="stable")
    for rank, i in enumerate(order):  # adj_(i) = max_{j <= i} min(1, (m - j) p_(j)), 0-based j
        want = max(min(1.0, (m - j) * p[order[j]]) for j in range(rank + 1))
        assert adj[i] == pytest.approx(want, abs=1e-15)
    assert (adj >= p - 1e-15).all() and (adj <= 1).all()


# --- ranks and Friedman --------------------------------------------------------------------------------
def test_average_ranks_with_ties_and_direction():
    # lower is better: t1 ranks 1,2,3; t2 ranks 1.5,1.5,3; t3 ranks 3,1,2
    ranks = average_ranks(TABLE)
    assert ranks.to_dict() == pytest.approx({"ebm": 5.5 / 3, "base": 4.5 / 3, "ts": 8 / 3})
    assert list(ranks.index) == ["base", "ebm", "ts"]
    higher = average_ranks(TABLE, lower_is_better=False)
    assert higher["ts"] == pytest.approx(4 - 8 / 3)


def test_friedman_matches_scipy_and_iman_davenport_formula():
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.random((4, 8)) + np.arange(4)[:, None] * 0.3, index=list("abcd"))
    res = friedman(table)
    ref = stats.friedmanchisquare(*table.to_numpy())
    assert (res.statistic, res.pvalue) == pytest.approx((ref.statistic, ref.pvalue), abs=1e-12)
    k, n = 4, 8
    f_stat = (n - 1) * ref.statistic / (n * (k - 1) - ref.statistic)
    assert res.iman_davenport_f == pytest.approx(f_stat)
    assert res.iman_davenport_pvalue == pytest.approx(stats.f.sf(f_stat, k - 1, (k - 1) * (n - 1)))
    perfect = pd.DataFrame(np.arange(3)[:, None] + np.zeros((3, 5)) + np.arange(5), index=list("xyz"))
    assert friedman(perfect).iman_davenport_f == np.inf and friedman(perfect).iman_davenport_pvalue == 0.0


def test_tables_are_validated():
    with pytest.raises(ValueError, match="missing scores"):
        average_ranks(TABLE.replace(0.3, np.nan))
    with pytest.raises(ValueError, match="at least 3 methods"):
        friedman(TABLE.iloc[:2])
    with pytest.raises(TypeError, match="DataFrame"):
        average_ranks(TABLE.to_numpy())


# --- Nemenyi ---------------------------------------------------------------------------------------
def test_nemenyi_q_values_match_demsar_table():
    # Demšar (2006), Table 5(a): q_0.05 for k = 2..10
    table = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]
    for k, q in zip(range(2, 11), table):  # the table truncates (2.3437 -> 2.343): compare to 1e-3
        assert nemenyi_cd(k, 6, 0.05) / np.sqrt(k * (k + 1) / 36) == pytest.approx(q, abs=1e-3)
    # q_0.10 for k = 2, 5 (Table 5(a), lower half)
    assert nemenyi_cd(2, 6, 0.10) / np.sqrt(1 / 6) == pytest.approx(1.645, abs=1e-3)
    assert nemenyi_cd(5, 6, 0.10) / np.sqrt(30 / 36) == pytest.approx(2.459, abs=1e-3)
    # Demšar's worked example: k = 4 classifiers on N = 14 data sets, CD = 1.25
    assert nemenyi_cd(4, 14) == pytest.approx(1.25, abs=5e-3)


def test_nemenyi_groups():
    ranks = pd.Series({"a": 1.0, "b": 1.5, "c": 2.4, "d": 3.0, "e": 4.1})
    assert nemenyi_groups(ranks, 1.0) == [("a", "b"), ("b", "c"), ("c", "d")]
    assert nemenyi_groups(ranks, 1.6) == [("a", "b", "c"), ("b", "c", "d"), ("d", "e")]
    assert nemenyi_groups(ranks, 10) == [("a", "b", "c", "d", "e")]
    assert nemenyi_groups(ranks, 0.4) == []


def test_cd_diagram_png(tmp_path):
    ranks = pd.Series({"ebm-hidden": 1.6, "baseline": 3.1, "temp-scaling": 2.2, "mixup": 3.1})
    path = tmp_path / "cd.png"
    data = cd_diagram(ranks, nemenyi_cd(4, 8), path, title="ECE")
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and path.read_bytes() == data
    with pytest.raises(ValueError, match="at least 2"):
        cd_diagram(ranks.iloc[:1], 1.0)


# --- pairwise Wilcoxon ----------------------------------------------------------------------------------
def test_pairwise_wilcoxon_matches_scipy_and_holm():
    rng = np.random.default_rng(3)
    table = pd.DataFrame(rng.random((3, 8)), index=["a", "b", "c"])
    table.loc["c"] = table.loc["a"]  # a vs c: all differences zero -> not tested
    table.loc["c", 0] += 0.5
    out = pairwise_wilcoxon(table)
    assert list(zip(out.method_a, out.method_b)) == [("a", "b"), ("a", "c"), ("b", "c")]
    ref_ab = stats.wilcoxon(table.loc["a"], table.loc["b"])
    ref_bc = stats.wilcoxon(table.loc["b"], table.loc["c"])
    assert out.loc[0, "pvalue"] == pytest.approx(ref_ab.pvalue) and out.loc[0, "statistic"] == ref_ab.statistic
    assert out.loc[2, "pvalue"] == pytest.approx(ref_bc.pvalue)
    assert np.isnan(out.loc[1, "pvalue"]) and "only 1 non-zero" in out.loc[1, "note"]
    np.testing.assert_allclose(out.pvalue_holm, holm(out.pvalue))
    a_better = int((table.loc["a"] < table.loc["b"]).sum())
    assert (out.loc[0, "wins"], out.loc[0, "losses"], out.loc[0, "ties"]) == (a_better, 8 - a_better, 0)
    assert (out.loc[1, "wins"], out.loc[1, "ties"], out.loc[1, "losses"]) == (1, 7, 0)
