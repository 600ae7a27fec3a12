"""calibench score: saved logits from any model in .npz/.npy/.jsonl/.parquet, calibrated and
scored into the results store, shown on the same leaderboard; malformed files get one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax

from calibench.cli import main
from calibench.external import (
    PredictionFileError,
    collect_seeds,
    read_predictions,
    score,
)
from calibench.metrics import evaluate
from calibench.report.runs import load_store_runs


def _logits(rng, labels, n_classes=3, scale=3.0):
    z = rng.normal(size=(len(labels), n_classes))
    z[np.arange(len(labels)), labels] += 1.5
    return z * scale  # over-confident: temperature scaling has something to fix


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """Two seeds of dev/test logits (one model per seed, the same examples), in every format."""
    d = tmp_path_factory.mktemp("preds")
    rng = np.random.default_rng(0)
    y = {"dev": rng.integers(0, 3, 120), "test": rng.integers(0, 3, 150)}
    z = {(split, s): _logits(rng, y[split]) for split in y for s in (0, 1)}
    for (split, s), logits in z.items():
        np.savez(d / f"{split}{s}.npz", logits=logits, labels=y[split])
        np.save(d / f"{split}{s}.npy", logits)
        np.save(d / f"{split}-labels.npy", y[split])
    for split, labels in y.items():
        rows = [
            {"logits": z[(split, s)][i].tolist(), "label": int(labels[i]), "seed": s}
            for s in (0, 1)
            for i in range(len(labels))
        ]
        with open(d / f"{split}.jsonl", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        pd.DataFrame(rows).to_parquet(d / f"{split}.parquet")
    return d, y, z


@pytest.mark.parametrize("fmt", ["npz", "npy", "jsonl", "parquet"])
def test_every_format_reads_the_same_predictions(toy, fmt):
    d, y, z = toy
    if fmt in ("npz", "npy"):
        labels = {"dev_labels": [str(d / "dev-labels.npy")] * 2, "test_labels": [str(d / "test-labels.npy")] * 2}
        sets = collect_seeds(
            [str(d / f"dev{s}.{fmt}") for s in (0, 1)],
            [str(d / f"test{s}.{fmt}") for s in (0, 1)],
            **(labels if fmt == "npy" else {}),
        )
    else:
        sets = collect_seeds([str(d / f"dev.{fmt}")], [str(d / f"test.{fmt}")])
    assert [p.seed for p in sets] == [0, 1]
    for p in sets:
        np.testing.assert_array_equal(p.dev.logits, z[("dev", p.seed)])
        np.testing.assert_array_equal(p.test.labels, y["test"])


def test_scores_into_the_store_and_onto_the_board(toy, tmp_path, capsys):
    d, y, z = toy
    argv = [
        "score",
        "--dev",
        str(d / "dev.jsonl"),
        "--test",
        str(d / "test.jsonl"),
        "--task",
        "toy",
        "--methods",
        "baseline,temp-scaling",
        "-o",
        str(tmp_path / "store"),
        "--metric",
        "ece,aurc",
        "--resamples",
        "100",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "4 result(s) computed, 0 reused" in out and "AURC" in out and "aurc(score=msp,ties=expected)" in out
    runs = load_store_runs(tmp_path / "store")
    assert sorted((r.method, r.seed) for r in runs) == [
        ("baseline", 0),
        ("baseline", 1),
        ("temp-scaling", 0),
        ("temp-scaling", 1),
    ]
    base = next(r for r in runs if r.method == "baseline" and r.seed == 1)
    # the stored metrics are calibench's own, with the same estimators as a `calibench run` result
    expected = evaluate(softmax(z[("test", 1)], axis=1).astype(np.float32).astype(np.float64), y["test"], "accuracy")
    assert {k: v["estimator"] for k, v in base.record["metrics"].items()} == {
        k: v["estimator"] for k, v in expected.items()
    }
    assert base.record["metrics"]["ece"]["value"] == pytest.approx(expected["ece"]["value"], abs=1e-12)
    ts = next(r for r in runs if r.method == "temp-scaling" and r.seed == 1)
    assert ts.record["calibrator"]["params"]["temperature"] > 1.2  # fitted on dev: the logits are over-confident
    assert ts.record["metrics"]["ece"]["value"] < base.record["metrics"]["ece"]["value"]
    # the same command reuses everything; the board reads the store like any other
    assert main(argv) == 0
    assert "0 result(s) computed, 4 reused" in capsys.readouterr().out
    assert (
        main(
            [
                "leaderboard",
                "-o",
                str(tmp_path / "store"),
                "--metric",
                "selective_accuracy_80",
                "--resamples",
                "100",
                "--format",
                "markdown",
            ]
        )
        == 0
    )
    board = capsys.readouterr().out
    assert "selective_accuracy(coverage=0.8,score=msp,ties=expected)" in board
    assert "scored from saved predictions, not trained here" in board


def test_methods_that_need_the_model_are_refused(toy, tmp_path):
    d, _, _ = toy
    sets = collect_seeds([str(d / "dev0.npz")], [str(d / "test0.npz")])
    for method, why in (
        ("ebm-hidden", "cannot be retrained"),
        ("mc-dropout+temp-scaling", "needs the model"),
        ("temp-scaling(fit_on=train)", "fits calibrators on the --dev"),
    ):
        with pytest.raises(PredictionFileError, match=why):
            score(sets, method, task="t", output_dir=tmp_path / "s")


def _write_jsonl(path: Path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: str(p / "missing.npz"), "missing.npz: file does not exist"),
        (
            lambda p: _write_jsonl(p / "ragged.jsonl", [{"logits": [1, 2], "label": 0}, {"logits": [1], "label": 0}]),
            "shape mismatch: rows have different numbers of logits",
        ),
        (
            lambda p: _write_jsonl(p / "range.jsonl", [{"logits": [1, 2], "label": 0}, {"logits": [1, 2], "label": 2}]),
            r"labels out of range \[0, 2\) for 2 logit columns: 1 label\(s\), first at row 1 = 2",
        ),
        (
            lambda p: _write_jsonl(p / "nan.jsonl", [{"logits": [1, float("nan")], "label": 0}]),
            r"non-finite values \(NaN or inf\) in 1 row\(s\) of logits, first row 0",
        ),
        (
            lambda p: (
                np.savez(p / "short.npz", logits=np.zeros((3, 2)), labels=np.zeros(2, dtype=int)),
                str(p / "short.npz"),
            )[1],
            r"shape mismatch: 3 rows of logits but labels of shape \(2,\)",
        ),
        (
            lambda p: (
                np.savez(p / "flat.npz", logits=np.zeros(3), labels=np.zeros(3, dtype=int)),
                str(p / "flat.npz"),
            )[1],
            r"logits must be a 2-D array \(n, C\), got shape \(3,\)",
        ),
        (
            lambda p: (p / "bad.jsonl").write_text('{"logits": [1, 2], "label": 0}\n{oops\n') and str(p / "bad.jsonl"),
            "line 2 is not valid JSON",
        ),
        (
            lambda p: (
                pd.DataFrame({"scores": [[1.0, 2.0]], "label": [0]}).to_parquet(p / "cols.parquet"),
                str(p / "cols.parquet"),
            )[1],
            r"missing column\(s\) \['logits'\]",
        ),
        (
            lambda p: (np.save(p / "only.npy", np.zeros((2, 2))), str(p / "only.npy"))[1],
            "a .npy file holds only logits",
        ),
        (lambda p: (p / "x.csv").write_text("a") and str(p / "x.csv"), "unknown format '.csv'"),
        (lambda p: (p / "g.parquet").write_text("garbage") and str(p / "g.parquet"), "not a readable parquet file"),
        (
            lambda p: _write_jsonl(p / "frac.jsonl", [{"logits": [1, 2], "label": 0.5}]),
            "labels must be integer class indices",
        ),
    ],
)
def test_malformed_files_get_one_clear_line(toy, tmp_path, capsys, make, message):
    d, _, _ = toy
    bad = make(tmp_path)
    with pytest.raises(PredictionFileError, match=message):
        read_predictions(bad)
    rc = main(["score", "--dev", bad, "--test", str(d / "test0.npz"), "--task", "t", "-o", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("calibench: error: ")


def test_mismatched_dev_and_test_are_refused(toy, tmp_path):
    d, _, _ = toy
    two_class = tmp_path / "two.npz"
    np.savez(two_class, logits=np.zeros((5, 2)), labels=np.zeros(5, dtype=int))
    with pytest.raises(PredictionFileError, match="has 3 classes but .* has 2"):
        collect_seeds([str(d / "dev0.npz")], [str(two_class)])
    with pytest.raises(PredictionFileError, match="one --test file per --dev file"):
        collect_seeds([str(d / "dev0.npz"), str(d / "dev1.npz")], [str(d / "test0.npz")])
    other = tmp_path / "other.npz"
    np.savez(other, logits=np.zeros((150, 3)), labels=np.zeros(150, dtype=int))
    with pytest.raises(PredictionFileError, match="every seed must predict the same examples"):
        collect_seeds([str(d / "dev0.npz"), str(d / "dev1.npz")], [str(d / "test0.npz"), str(other)])
    with pytest.raises(PredictionFileError, match="either every --dev and --test file has a seed field or none"):
        collect_seeds([str(d / "dev.jsonl")], [str(d / "test0.npz")])


def test_an_unknown_board_metric_fails_before_scoring(toy, tmp_path, capsys):
    d, _, _ = toy
    rc = main(
        [
            "score",
            "--dev",
            str(d / "dev0.npz"),
            "--test",
            str(d / "test0.npz"),
            "--task",
            "t",
            "-o",
            str(tmp_path / "s"),
            "--metric",
            "ece,bogus",
        ]
    )
    assert rc == 2 and "unknown metric 'bogus'" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
