"""`calibench ls metrics` lists every registered metric with its estimator, and the OOD metrics."""

from __future__ import annotations

from calibench.cli import main
from calibench.metrics import metric_names, metric_spec
from calibench.metrics.ood import OOD_METRIC_KEYS


def test_ls_metrics_lists_everything(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping: every name and estimator on one line
    assert main(["ls", "metrics"]) == 0
    out = capsys.readouterr().out
    for name in metric_names():
        assert f"│ {name} " in out
        assert metric_spec(name).estimator in out
    for name in (
        "ece_paper",
        "smece",
        "debiased_l2_ce",
        "aurc",
        "eaurc",
        "selective_accuracy_80",
        "misclassification_auroc",
    ):
        assert name in metric_names()
    assert "OOD detection metrics" in out
    for key in OOD_METRIC_KEYS:
        assert f"│ {key} " in out
    assert "│ score: msp " in out and "│ score: neg_energy " in out
