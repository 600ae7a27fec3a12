"""Rows dropped for empty text are announced with counts, and a one-class training set is warned about."""

from __future__ import annotations

import pytest

from calibench.cli import main
from calibench.tasks import prepare_splits
from calibench.tasks.errors import DataError
from calibench.tasks.splits import split_notes


def test_dropped_rows_and_a_single_class_are_announced_before_training(
    tmp_path, write_parquet, pair_rows, isolated, no_hub, capsys
):
    train = pair_rows(40)
    train["sentence2"][3] = "  "  # an empty side: dropped and counted
    train["sentence1"][7] = None
    train["label"] = [0] * 40  # every training example in one class
    dev = pair_rows(11, tag="d")
    dev["sentence1"][0] = ""
    root = write_parquet(tmp_path / "data", "rte", {"train": train, "validation": dev})
    notes = split_notes(prepare_splits("rte", data_dir=root).stats)
    assert notes[0] == "rte: dropped 2 training and 1 official-dev row(s) with an empty text field"
    assert notes[1].startswith("warning: rte: every one of the 38 training examples has the label 'entailment'")

    assert (
        main(
            [
                "run",
                "--methods",
                "baseline",
                "--tasks",
                "rte",
                "--data-dir",
                str(root),
                "--model",
                "minilm",
                "--full-train",
                "--dry-run",
                "-o",
                str(tmp_path / "s"),
            ]
        )
        == 0
    )
    out = " ".join(capsys.readouterr().out.split())
    assert "rte: dropped 2 training and 1 official-dev row(s)" in out and "has the label 'entailment'" in out


def test_a_balanced_clean_task_has_no_notes(rte_copy, isolated, no_hub):
    assert split_notes(prepare_splits("rte", data_dir=rte_copy).stats) == []


def test_empty_train_names_the_file_and_train_size_names_the_flags(
    tmp_path, write_parquet, pair_rows, isolated, no_hub
):
    train = pair_rows(4)
    train["sentence1"] = [""] * 4
    root = write_parquet(tmp_path / "data", "rte", {"train": train, "validation": pair_rows(6, tag="d")})
    with pytest.raises(DataError, match=r"rte/train\.parquet"):
        prepare_splits("rte", data_dir=root)
    root2 = write_parquet(tmp_path / "data2", "rte", {"train": pair_rows(10), "validation": pair_rows(6, tag="d")})
    with pytest.raises(DataError, match="use --train-size 10 or less, or --full-train") as err:
        prepare_splits("rte", data_dir=root2, train_size=50)
    assert "None" not in str(err.value)
