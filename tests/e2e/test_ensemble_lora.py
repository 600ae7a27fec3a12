"""Ensembles, LoRA and LoRA ensembles end to end through the CLI on a real GLUE slice, each
composed with temp-scaling (a few steps: wiring, not quality).

The multi-method run uses the tiny config-built BERT with MiniLM's tokenizer, and EBM's
noise corpus is a fixed stand-in (its real noise LM costs about two minutes here and is
exercised in tests/ebm/test_ebm_e2e.py); one LoRA ensemble runs on the real offline MiniLM.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from _tiny_run import tiny_run_args

from calibench.cli import main
from calibench.methods.ensemble import MEMBER_SEED_STRIDE
from calibench.store.db import Store

pytest.importorskip("peft")

TINY = tiny_run_args(task="wnli", train_size=32, steps=3, batch_size=8, max_length=32, seeds=1)
METHODS = [
    "baseline",
    "ensemble(members=2)+temp-scaling",
    "lora+temp-scaling",
    "lora+ensemble(members=2)+temp-scaling",
    "ebm-scalar(lora_r=4,k=1)+temp-scaling",
]
NOISE = [(f"noise sample {i} with some words", f"and a second side {i}") for i in range(64)]


@pytest.fixture
def stand_in_noise(monkeypatch):
    def get_noise_corpus(task, train_texts, dev_texts, cfg, n_samples, seed, artifacts, progress=None):
        return SimpleNamespace(
            texts=NOISE,
            key="stand-in",
            from_cache=False,
            wait_seconds=0.0,
            stats=SimpleNamespace(to_dict=lambda: {"count": len(NOISE)}),
        )

    monkeypatch.setattr("calibench.ebm.corpus.get_noise_corpus", get_noise_corpus)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_ensembles_lora_and_lora_ensembles_run_and_compose_with_temp_scaling(
    tmp_path, glue_dir, tiny_bert, capsys, stand_in_noise
):
    out = str(tmp_path / "runs")
    args = [
        "run",
        "--methods",
        ",".join(METHODS),
        *TINY,
        "--model",
        tiny_bert,
        "--data-dir",
        glue_dir,
        "--output-dir",
        out,
    ]
    assert main(args) == 0
    text = flat(capsys.readouterr().out)
    # baseline seed 0 (= the ensemble's member 0) + 1 member; lora seed 0 + 1 member; EBM with LoRA
    assert "5 distinct training(s), 5 evaluation(s)" in text, text

    store = Store(out)
    rows = {r["method"]: r for r in store.results()}
    assert set(rows) == set(METHODS)
    ens = rows["ensemble(members=2)+temp-scaling"]
    assert [m["seed"] for m in ens["members"]] == [0, MEMBER_SEED_STRIDE]
    assert all(m["seconds"] > 0 for m in ens["members"])  # the ensemble's cost: every member's training time
    assert ens["members"][0]["training_key"] == rows["baseline"]["training_key"]
    lora_ens = rows["lora+ensemble(members=2)+temp-scaling"]
    assert lora_ens["members"][0]["training_key"] == rows["lora+temp-scaling"]["training_key"]
    for name in METHODS[1:]:  # every one composed with temp-scaling, fitted on its own dev-half prediction
        assert rows[name]["calibrator"]["params"]["temperature"] > 0, name
        assert all(np.isfinite(m["value"]) for m in rows[name]["metrics"].values()), name

    # LoRA trained adapters and heads only; EBM's scalar energy head trained too
    def trainable(method: str) -> int:
        return store.training(rows[method]["training_key"])["record"]["train_log"]["trainable_params"]

    full, lora, ebm = trainable("baseline"), trainable("lora+temp-scaling"), trainable(METHODS[-1])
    assert 0 < lora < 0.1 * full and lora < ebm < 0.1 * full
    assert rows[METHODS[-1]]["recipe"]["options"]["lora_r"] == 4

    # rerunning trains and recomputes nothing
    assert main(args) == 0
    text = flat(capsys.readouterr().out)
    assert "trained 0, reused 5" in text and "0 evaluation(s) computed, 5 reused" in text

    # exported for the leaderboard, an ensemble names its members, and the board reads it back
    exported = tmp_path / "results"
    assert main(["export", "-o", out, "--output", str(exported)]) == 0
    (ens_file,) = exported.glob("wnli/ensemble*temp-scaling*.jsonl")
    header = json.loads(ens_file.read_text().splitlines()[0])
    assert [m["seed"] for m in header["members"]] == [0, MEMBER_SEED_STRIDE]
    capsys.readouterr()
    assert main(["leaderboard", "--from", str(exported)]) == 0
    assert "ensemble(members=2)+temp-scaling" in flat(capsys.readouterr().out)


def test_a_lora_ensemble_of_the_offline_minilm(tmp_path, glue_dir, minilm, capsys):
    """The real encoder: its module names take the default targets, and LoRA trains ~1% of it."""
    out = str(tmp_path / "runs")
    assert (
        main(
            [
                "run",
                "--methods",
                "lora+ensemble(members=2)+temp-scaling",
                *tiny_run_args(task="wnli", train_size=16, steps=2, batch_size=8, max_length=32, seeds=1),
                "--data-dir",
                glue_dir,
                "--output-dir",
                out,
            ]
        )
        == 0
    )
    assert "2 distinct training(s), 1 evaluation(s)" in flat(capsys.readouterr().out)
    store = Store(out)
    (row,) = store.results()
    assert row["calibrator"]["params"]["temperature"] > 0 and len(row["members"]) == 2
    logs = [store.training(m["training_key"])["record"]["train_log"] for m in row["members"]]
    # rank 8 on query and value of 6 layers (73,728) + the head (148,610), of MiniLM's 22.7M
    assert [log["trainable_params"] for log in logs] == [222_338, 222_338]


def test_ls_methods_lists_ensemble_and_lora_with_their_library(capsys):
    assert main(["ls", "methods"]) == 0
    text = flat(capsys.readouterr().out)
    assert "ensemble" in text and "lora" in text
    from calibench import registry

    assert registry.get_entry("inference", "ensemble").library == "calibench"
    assert registry.get_entry("recipe", "lora").library == "peft"
    assert "peft" in text  # the library column
