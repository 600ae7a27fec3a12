"""A damaged store is whole again after one rerun of the same command, and `calibench check` says so."""

from __future__ import annotations

import shutil
from pathlib import Path

from _tiny_store import flip_bytes, run_args

from calibench.cli import main
from calibench.store.db import Store


def _artifact_files(store: Path, kind: str, name: str) -> list[Path]:
    return sorted((store / "artifacts" / kind).glob(f"*/*/{name}"))


def test_corrupt_probs_corrupt_logits_and_a_deleted_folder_heal_in_one_rerun(store_copy, tiny_bert, glue_dir, capsys):
    store = Store(store_copy)
    results = store.results()
    store.close()
    by = {(r["method"], r["seed"]): r for r in results}
    probs_of = lambda r: store_copy / "artifacts" / "probs" / r["key"][:2] / r["key"]  # noqa: E731
    logits_of = lambda r: store_copy / "artifacts" / "logits" / r["prediction_key"][:2] / r["prediction_key"]  # noqa: E731

    flip_bytes(probs_of(by[("temp-scaling", 0)]) / "test_probs.npy")  # item 3
    flip_bytes(logits_of(by[("label-smoothing+temp-scaling", 1)]) / "test_logits.npy")  # item 4
    shutil.rmtree(probs_of(by[("baseline", 1)]))  # a deleted folder
    capsys.readouterr()

    # the check names each problem and what a rerun does about it, and fails
    assert main(["check", "-o", str(store_copy)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "3 problem(s)" in out
    assert "test_probs.npy does not match its checksum" in out and "recalibrates it from the stored logits" in out
    assert "test_logits.npy does not match its checksum" in out and "predicts it again from the kept model" in out
    assert "test probabilities missing" in out
    # the leaderboard refuses and says how to regenerate
    assert main(["leaderboard", "-o", str(store_copy)]) == 2
    assert "rerun `calibench run`" in capsys.readouterr().err

    # ONE rerun of the same command heals all three
    assert main(run_args(store_copy, tiny_bert, glue_dir)) == 0
    out = " ".join(capsys.readouterr().out.split())
    # the damaged logits are predicted again from the kept finetuned model: no training
    assert out.count("repaired") == 3 and "trained 0, predictions only 1, reused 3" in out
    store = Store(store_copy)
    assert store.integrity_check() == []
    healed = {(r["method"], r["seed"]): r for r in store.results()}
    store.close()
    assert set(healed) == set(by)
    # a result recalibrated from intact logits gets the same numbers back
    assert healed[("temp-scaling", 0)]["metrics"] == by[("temp-scaling", 0)]["metrics"]
    assert main(["check", "-o", str(store_copy)]) == 0
    assert main(["leaderboard", "-o", str(store_copy)]) == 0
