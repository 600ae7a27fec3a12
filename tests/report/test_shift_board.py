"""The in- vs out-of-domain section and the OOD table: numbers recomputed from stored arrays, in markdown and HTML."""

from __future__ import annotations

import re

import numpy as np
import pytest

from calibench.metrics.calibration import ece
from calibench.report.shift import markdown_section, ood_rows, shift_rows


def test_shift_rows_recompute_ece_in_and_out(make_runs, make_extra_runs):
    runs = make_runs(tasks=("rte",), methods=("baseline", "temp-scaling"), n=120)
    extra = make_extra_runs(runs)
    rows = {r.method: r for r in shift_rows(extra)}
    base = [e for e in extra if e.kind == "shift" and e.record["method"] == "baseline"]
    assert rows["baseline"].seeds == [0, 1, 2]
    np.testing.assert_allclose(
        rows["baseline"].values["ece_out"],
        [ece(e.arrays["test_probs"].astype(np.float64), e.arrays["test_labels"]) for e in base],
    )
    np.testing.assert_allclose(
        rows["baseline"].values["ece_in"], [e.in_domain["metrics"]["ece"]["value"] for e in base], atol=1e-6
    )


def test_ood_rows_match_sklearn(make_runs, make_extra_runs):
    from sklearn.metrics import roc_auc_score

    runs = make_runs(tasks=("rte",), methods=("baseline",), seeds=(0,), n=120)
    extra = [e for e in make_extra_runs(runs) if e.kind == "ood"]
    rows = {r.score: r for r in ood_rows(extra)}
    assert set(rows) == {"msp", "neg_energy"}  # no EBM energy stored: no row for it
    e = extra[0]
    y = np.r_[np.ones(120), np.zeros(200)]
    want = roc_auc_score(y, np.r_[e.arrays["in_msp"], e.arrays["out_msp"]])
    assert rows["msp"].values["auroc"] == [pytest.approx(want)]


def test_markdown_section(make_runs, make_extra_runs):
    runs = make_runs(tasks=("rte",), methods=("baseline", "temp-scaling"), n=120)
    lines = markdown_section(make_extra_runs(runs))
    text = "\n".join(lines)
    assert "## In-domain vs out-of-domain" in text and "## OOD detection" in text
    assert re.search(r"\| `rte→qnli` \| `baseline` \| 3 \| 200 \|", text)
    assert "| `rte→sst2` | `temp-scaling` | max softmax prob. | 3 | 120 / 200 |" in text
    assert markdown_section([]) == []  # boards without extra sets are unchanged
