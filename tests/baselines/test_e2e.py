"""The baselines end to end through the CLI, on a real GLUE slice with the real offline encoder.

A few optimisation steps only: these check wiring (planning, shared trainings, stored
logits, calibrator records), not calibration quality. One run covers several methods so
they share its trainings.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _tiny_run import tiny_run_args

from calibench.cli import main
from calibench.store.db import Store

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "calibench-example-plugin"
TINY = tiny_run_args(task="rte", train_size=48, steps=4, batch_size=8, max_length=64, seeds=1)


def test_several_baselines_share_trainings_and_record_what_they_did(tmp_path, shared_glue_dir, minilm, capsys):
    calibrators = ["histogram-binning", "bbq", "enir", "beta-calibration"]  # cheap: they reuse stored logits
    methods = ",".join(
        [
            "baseline",
            "temp-scaling(fit_on=train)",
            "mc-dropout(passes=3)+temp-scaling",
            *(f"baseline+{c}" for c in calibrators),
            "label-smoothing+vector-scaling",
            "mixup",
            "mixup(on=embeddings)+isotonic(fit_on=train)",
        ]
    )
    out = str(tmp_path / "runs")
    code = main(["run", "--methods", methods, *TINY, "--data-dir", str(shared_glue_dir), "--output-dir", out])
    text = " ".join(capsys.readouterr().out.split())
    assert code == 0, text
    assert "4 distinct training(s), 10 evaluation(s)" in text

    store = Store(out)
    rows = {r["method"]: r for r in store.results()}
    assert len(rows) == 10
    base = rows["baseline"]["training_key"]
    shared = [
        "temp-scaling(fit_on=train)",
        "mc-dropout(passes=3)+temp-scaling",
        *(f"baseline+{c}" for c in calibrators),
    ]
    assert all(rows[name]["training_key"] == base for name in shared)
    mixed = rows["mixup(on=embeddings)+isotonic(fit_on=train)"]
    assert mixed["recipe"] == {"name": "mixup", "options": {"alpha": 0.4, "on": "embeddings"}}
    assert len({base, rows["mixup"]["training_key"], mixed["training_key"]}) == 3
    assert rows["label-smoothing+vector-scaling"]["recipe"] == {
        "name": "label-smoothing",
        "options": {"alpha": 0.1, "spread": "others"},
    }
    for c in calibrators:
        assert rows[f"baseline+{c}"]["calibrator"]["name"] == c

    # fit_on=train: the planner asked the training job for train-set logits, and the calibrator used them
    ts = rows["temp-scaling(fit_on=train)"]
    assert ts["calibrator"]["identity"]["fit_on"] == "train" and ts["calibrator"]["params"]["temperature"] > 0
    assert "train" in store.prediction(ts["prediction_key"])["splits"]
    assert mixed["calibrator"]["identity"]["fit_on"] == "train"

    # mc-dropout stored its own logits: log mean probabilities, unlike the deterministic ones
    mc = rows["mc-dropout(passes=3)+temp-scaling"]
    assert mc["inference"] == {"name": "mc-dropout", "options": {"passes": 3}}
    mc_logits = store.artifacts.read("logits", mc["prediction_key"]).arrays["test_logits"]
    det_logits = store.artifacts.read("logits", rows["baseline"]["prediction_key"]).arrays["test_logits"]
    np.testing.assert_allclose(np.exp(mc_logits).sum(axis=1), 1.0, atol=1e-4)
    assert not np.allclose(mc_logits, det_logits)

    # mixup logged its lambda draws; every method's metrics are finite
    history = store.training(rows["mixup"]["training_key"])["record"]["train_log"]["history"]
    assert all(0.0 <= h["lambda"] <= 1.0 for h in history)
    for r in rows.values():
        assert all(np.isfinite(m["value"]) for m in r["metrics"].values()), r["method"]


def test_the_example_plugin_installs_and_runs_from_its_entry_point(tmp_path, shared_glue_dir, minilm):
    """pip-install the example (offline, no build isolation) into a folder of its own and use it
    from this interpreter: the plugin is found through its entry point, however calibench itself
    was installed (system interpreter, virtualenv, editable or not)."""
    pytest.importorskip("setuptools", minversion="70.1", reason="building the example offline needs setuptools>=70.1")
    src = tmp_path / "plugin"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    target = tmp_path / "site"
    py = sys.executable
    env = {
        **os.environ,
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
        "PYTHONPATH": os.pathsep.join([str(target), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }

    def run(*args: str) -> str:
        done = subprocess.run([py, *args], capture_output=True, text=True, env=env, cwd=tmp_path, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return " ".join(done.stdout.split())

    # this interpreter's pip and setuptools build it; --target keeps it out of this environment
    run("-m", "pip", "install", "--no-deps", "--no-build-isolation", "--target", str(target), str(src))
    listed = run("-m", "calibench.cli", "ls", "methods")
    assert "confidence-penalty" in listed and "calibench-example-plugin" in listed and "failed to load" not in listed

    out = str(tmp_path / "runs")
    run(
        "-m",
        "calibench.cli",
        "run",
        "--methods",
        "confidence-penalty,confidence-penalty(beta=0.3)+temp-scaling",
        *TINY,
        "--data-dir",
        str(shared_glue_dir),
        "--output-dir",
        out,
    )
    records = json.loads(run("-m", "calibench.cli", "results", "--output-dir", out, "--format", "json"))
    by = {r["method"]: r for r in records}
    assert by["confidence-penalty"]["recipe"] == {"name": "confidence-penalty", "options": {"beta": 0.1}}
    assert by["confidence-penalty(beta=0.3)+temp-scaling"]["recipe"]["options"] == {"beta": 0.3}
    assert by["confidence-penalty"]["training_key"] != by["confidence-penalty(beta=0.3)+temp-scaling"]["training_key"]
    assert all(r["n_test"] == 138 for r in records)
    # the plugin's own unit tests pass in that environment too
    run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(src / "tests"))


def test_focal_loss_and_last_layer_laplace_run_end_to_end_and_compose_with_temp_scaling(
    tmp_path, shared_glue_dir, minilm, capsys
):
    pytest.importorskip("laplace", reason="laplace-torch not installed (see the README's test install line)")
    kron, diag = (
        "last-layer-laplace(grid=20)+temp-scaling",
        "last-layer-laplace(fit_size=24,grid=20,hessian=diag,link=mc)",
    )
    out = str(tmp_path / "runs")
    code = main(
        [
            "run",
            "--methods",
            ",".join(["focal-loss+temp-scaling", kron, diag]),
            *TINY,
            "--data-dir",
            str(shared_glue_dir),
            "--output-dir",
            out,
        ]
    )
    text = " ".join(capsys.readouterr().out.split())
    assert code == 0, text
    assert "2 distinct training(s), 3 evaluation(s)" in text

    store = Store(out)
    rows = {r["method"]: r for r in store.results()}
    focal = rows["focal-loss+temp-scaling"]
    assert focal["recipe"] == {"name": "focal-loss", "options": {"gamma": "flsd-53"}}
    assert focal["calibrator"]["params"]["temperature"] > 0
    history = store.training(focal["training_key"])["record"]["train_log"]["history"]
    assert all(0.0 < h["p_true"] < 1.0 for h in history)

    kron, diag = rows[kron], rows[diag]
    assert (
        kron["training_key"] == diag["training_key"] != focal["training_key"] and kron["recipe"]["name"] == "baseline"
    )
    assert kron["inference"]["options"]["hessian"] == "kron" and kron["calibrator"]["params"]["temperature"] > 0
    fitted = store.training(kron["training_key"])["record"]["inference_params"]
    # fitted on the training rows and the dev half (138 rows; tests/execution/test_inference_fit.py checks which)
    assert fitted[kron["prediction_key"]]["n_dev"] == 138 and fitted[kron["prediction_key"]]["n_hessian"] == 48
    assert fitted[diag["prediction_key"]]["n_dev"] == 138 and fitted[diag["prediction_key"]]["n_hessian"] == 24
    assert all(f["prior_precision"] > 0 for f in fitted.values())
    logits = store.artifacts.read("logits", diag["prediction_key"]).arrays["test_logits"]
    np.testing.assert_allclose(np.exp(logits).sum(axis=1), 1.0, atol=1e-4)
    for r in rows.values():
        assert r["n_test"] == 138 and all(np.isfinite(m["value"]) for m in r["metrics"].values()), r["method"]
