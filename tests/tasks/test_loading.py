"""Loading a task from a parquet copy, a GLUE TSV copy or the (mocked) hub, and its errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from calibench.tasks import DataError, prepare_splits
from calibench.tasks.glue import GLUE_TASKS
from calibench.tasks.loading import load_task, resolve_source

# Row counts of the official GLUE release (train, official dev).
LOCAL_COUNTS = {"cola": (8551, 1043), "sst2": (67349, 872), "mrpc": (3668, 408), "rte": (2490, 277), "wnli": (635, 71)}


Writer = Callable[..., Path]  # the write_parquet fixture
RowFactory = Callable[..., dict[str, list[Any]]]  # the pair_rows fixture


# --------------------------------------------------------------------------- real local copy


@pytest.mark.parametrize("name", sorted(LOCAL_COUNTS))
def test_real_local_copy(name: str, shared_glue_dir: Path, no_hub: None) -> None:
    loaded = load_task(name, shared_glue_dir)
    spec = GLUE_TASKS[name]
    assert (loaded.train.num_rows, loaded.dev.num_rows) == LOCAL_COUNTS[name]
    assert loaded.source.kind == "parquet" and loaded.source.location == str(shared_glue_dir)
    assert loaded.dev.column_names == [*spec.text_fields, "label", "idx"]
    assert loaded.dev.features["label"].names == list(spec.label_names)
    labels = set(loaded.train.unique("label")) | set(loaded.dev.unique("label"))
    assert labels == set(range(spec.num_labels))
    # Rows keep file order and nyu-mll/glue's idx (MRPC's idx has gaps: rows of the original file).
    raw = pq.read_table(shared_glue_dir / spec.hf_config / "validation.parquet")
    assert loaded.dev["idx"][:] == raw.column("idx").to_pylist()
    assert loaded.dev[spec.text_fields[-1]][:] == raw.column(spec.text_fields[-1]).to_pylist()


def test_qnli_train_absent_locally_says_so_and_how_to_get_it(shared_glue_dir: Path, no_hub: None) -> None:
    with pytest.raises(DataError) as err:
        load_task("qnli", shared_glue_dir)
    msg = str(err.value)
    assert "'train' is absent" in msg and str(shared_glue_dir / "qnli") in msg
    assert "found: test, validation" in msg
    assert "load_dataset('nyu-mll/glue', 'qnli')" in msg and "--data-dir" in msg


def test_qnli_real_dev_split(
    shared_glue_dir: Path, tmp_path: Path, write_parquet: Writer, pair_rows: RowFactory
) -> None:
    """QNLI's real dev file, with a stand-in training split (the real one is not on this machine)."""
    root = tmp_path / "data"
    (root / "qnli").mkdir(parents=True)
    os.symlink(shared_glue_dir / "qnli" / "validation.parquet", root / "qnli" / "validation.parquet")
    rows = pair_rows(10)
    write_parquet(
        root, "qnli", {"train": {"question": rows["sentence1"], "sentence": rows["sentence2"], "label": rows["label"]}}
    )
    splits = prepare_splits("qnli", root)
    assert (splits.stats["n_dev"], splits.stats["n_test"], splits.stats["n_unused_middle"]) == (2731, 2731, 1)
    assert splits.dev["idx"][:3] == [0, 1, 2] and splits.test["idx"][0] == 2732
    assert splits.train["idx"][:] == list(range(10))  # no idx column: the row number, as on the hub


# --------------------------------------------------------------------------- source resolution


def test_env_var_wins_over_implicit_dirs(
    isolated: Path,
    rte_copy: Path,
    write_parquet: Writer,
    pair_rows: RowFactory,
    monkeypatch: pytest.MonkeyPatch,
    no_hub: None,
) -> None:
    write_parquet(isolated / "glue", "rte", {"train": pair_rows(5), "validation": pair_rows(4)})
    monkeypatch.setenv("CALIBENCH_DATA_DIR", str(rte_copy))
    loaded = load_task("rte")
    assert (loaded.source.location, loaded.source.origin) == (str(rte_copy), "$CALIBENCH_DATA_DIR")
    assert loaded.train.num_rows == 40
    assert resolve_source("rte") == loaded.source


def test_cwd_glue_then_shared_glue(isolated: Path, write_parquet: Writer, pair_rows: RowFactory, no_hub: None) -> None:
    shared = write_parquet(
        isolated.parent / "shared" / "glue", "rte", {"train": pair_rows(6), "validation": pair_rows(4)}
    )
    src = resolve_source("rte")
    assert (src.kind, src.location, src.origin) == ("parquet", str(shared), "../shared/glue")
    # ./glue without the task is passed over; with the task it wins.
    write_parquet(isolated / "glue", "sst2", {"train": {"sentence": ["x"], "label": [0]}})
    assert resolve_source("rte").origin == "../shared/glue"
    write_parquet(isolated / "glue", "rte", {"train": pair_rows(5), "validation": pair_rows(4)})
    loaded = load_task("rte")
    assert (loaded.source.origin, loaded.source.location, loaded.train.num_rows) == (
        "./glue",
        str(isolated / "glue"),
        5,
    )


def test_hub_is_the_last_resort(isolated: Path, rte_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = load_task("rte", rte_copy)
    calls: list[tuple[Any, ...]] = []

    def fake_load_dataset(path: str, name: str, **kwargs: Any) -> datasets.DatasetDict:
        calls.append((path, name))
        # What the hub returns: ClassLabel labels, int32 idx, extra splits.
        text = datasets.Value("string")
        label = datasets.ClassLabel(names=["entailment", "not_entailment"])
        feats = datasets.Features(
            {"sentence1": text, "sentence2": text, "label": label, "idx": datasets.Value("int32")}
        )
        parts = {s: datasets.Dataset.from_dict(getattr(local, s).to_dict(), features=feats) for s in ("train", "dev")}
        return datasets.DatasetDict({"train": parts["train"], "validation": parts["dev"], "test": parts["dev"]})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    hub = prepare_splits("rte")
    assert calls == [("nyu-mll/glue", "rte")]
    assert hub.stats["source"] == "hub:nyu-mll/glue" and hub.stats["source_origin"] == "hub"
    # Same rows from another source: same fingerprint.
    assert hub.fingerprint == prepare_splits("rte", rte_copy).fingerprint


def test_hub_failure_offline_is_explained(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError) as err:
        load_task("mnli")
    msg = str(err.value)
    assert "could not load nyu-mll/glue (config 'mnli') from the Hugging Face hub" in msg
    assert "ConnectionError" in msg and "offline" in msg and "HF_HUB_OFFLINE" in msg
    assert "./glue" in msg and "../shared/glue" in msg  # what was looked at first
    assert "--data-dir" in msg and "CALIBENCH_DATA_DIR" in msg and "MNLI/train.tsv" in msg
    assert isinstance(err.value.__cause__, ConnectionError)


def test_hub_without_the_split(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = datasets.Dataset.from_dict({"premise": [], "hypothesis": [], "label": [], "idx": []})
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: datasets.DatasetDict({"train": empty}))
    with pytest.raises(DataError, match="no split 'validation_matched'"):
        load_task("mnli")


def test_explicit_dir_missing_the_task(rte_copy: Path, no_hub: None) -> None:
    with pytest.raises(DataError) as err:
        load_task("mrpc", rte_copy)
    msg = str(err.value)
    assert str(rte_copy / "mrpc") in msg and str(rte_copy / "MRPC") in msg
    assert "--data-dir" in msg and "CALIBENCH_DATA_DIR" in msg and "hub" in msg


def test_env_dir_is_strict(isolated: Path, rte_copy: Path, monkeypatch: pytest.MonkeyPatch, no_hub: None) -> None:
    monkeypatch.setenv("CALIBENCH_DATA_DIR", str(rte_copy))
    with pytest.raises(DataError, match=r"not in the data directory .*\$CALIBENCH_DATA_DIR"):
        load_task("wnli")
    monkeypatch.setenv("CALIBENCH_DATA_DIR", str(rte_copy / "nowhere"))
    with pytest.raises(DataError, match=r"nowhere .*does not exist"):
        load_task("rte")


# --------------------------------------------------------------------------- parquet variants and damage


def test_sharded_hub_snapshot_names(tmp_path: Path, write_parquet: Writer, pair_rows: RowFactory) -> None:
    root = tmp_path / "snap"
    write_parquet(
        root,
        "rte",
        {
            "train-00000-of-00002": pair_rows(3),
            "train-00001-of-00002": pair_rows(2, start=3),
            "validation-00000-of-00001": pair_rows(4),
        },
    )
    loaded = load_task("rte", root)
    assert loaded.train["idx"][:] == [0, 1, 2, 3, 4]


def test_cached_tables_follow_file_changes(rte_copy: Path, write_parquet: Writer, pair_rows: RowFactory) -> None:
    assert load_task("rte", rte_copy).train.num_rows == 40
    write_parquet(rte_copy, "rte", {"train": pair_rows(7)})
    assert load_task("rte", rte_copy).train.num_rows == 7


def test_unreadable_parquet(rte_copy: Path) -> None:
    (rte_copy / "rte" / "validation.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(DataError, match=r"cannot read .*validation\.parquet as parquet"):
        load_task("rte", rte_copy)


def test_missing_column_names_it_and_the_columns_found(rte_copy: Path, write_parquet: Writer) -> None:
    write_parquet(rte_copy, "rte", {"train": {"sentence1": ["a"], "label": [0], "idx": [0]}})
    with pytest.raises(DataError) as err:
        load_task("rte", rte_copy)
    assert "missing column(s) ['sentence2']" in str(err.value)
    assert "['sentence1', 'label', 'idx']" in str(err.value) and "rte train" in str(err.value)


def test_labels_out_of_range(rte_copy: Path, write_parquet: Writer, pair_rows: RowFactory) -> None:
    rows = pair_rows(6)
    rows["label"] = [0, 1, 2, 1, 5, 0]
    write_parquet(rte_copy, "rte", {"validation": rows})
    with pytest.raises(DataError) as err:
        load_task("rte", rte_copy)
    msg = str(err.value)
    assert "rte validation" in msg and "2 of 6 rows have a label outside 0..1" in msg
    assert "idx 2: label 2" in msg and "idx 4: label 5" in msg


def test_hidden_test_labels_in_a_labelled_split(rte_copy: Path, write_parquet: Writer, pair_rows: RowFactory) -> None:
    rows = pair_rows(4)
    rows["label"] = [-1] * 4
    write_parquet(rte_copy, "rte", {"train": rows})
    with pytest.raises(DataError, match=r"rte train .*4 of 4 rows.*-1 marks a hidden label"):
        load_task("rte", rte_copy)


def test_float_labels_are_rejected(tmp_path: Path, write_parquet: Writer) -> None:
    table = pa.table({"sentence": ["a", "b"], "label": pa.array([0.5, 1.0], pa.float32())})
    write_parquet(tmp_path, "sst2", {"train": table, "validation": table})
    with pytest.raises(DataError, match=r"holds float.*regression"):
        load_task("sst2", tmp_path)


# --------------------------------------------------------------------------- original GLUE TSV layout


def _write_tsv(path: Path, rows: list[list[str]], bom: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written by hand, like the GLUE files: tab-joined, no quoting or escaping at all.
    text = "".join("\t".join(row) + "\n" for row in rows)
    path.write_text(text, encoding="utf-8-sig" if bom else "utf-8")


def test_tsv_single_sentence_without_header(tmp_path: Path) -> None:
    """CoLA: no header; columns source, label, mark, sentence; quotes are plain characters."""
    train = [
        ["gj04", "1", "", 'He said "hi.'],
        ["gj04", "0", "*", "Him left."],
        ["gj04", "1"],
        ["cj99", "1", "", "It rains."],
    ]
    _write_tsv(tmp_path / "CoLA" / "train.tsv", train)
    _write_tsv(tmp_path / "CoLA" / "dev.tsv", [["x", "0", "*", "Dev one."], ["x", "1", "", "Dev two."]])
    loaded = load_task("cola", tmp_path)
    assert loaded.source.kind == "tsv"
    assert loaded.train["sentence"][:] == ['He said "hi.', "Him left.", "It rains."]
    assert loaded.train["label"][:] == [1, 0, 1]
    assert loaded.train["idx"][:] == [0, 1, 3]  # the short row counts as a row, as on the hub
    assert loaded.dropped_malformed == {"train": 1, "official_dev": 0}


def test_tsv_pair_with_string_labels(tmp_path: Path) -> None:
    header = ["index", "sentence1", "sentence2", "label"]
    _write_tsv(
        tmp_path / "RTE" / "train.tsv", [header, ["0", "A.", "B.", "not_entailment"], ["1", "C.", "D.", "entailment"]]
    )
    _write_tsv(
        tmp_path / "RTE" / "dev.tsv", [header, ["0", "E.", "F.", "entailment"], ["1", "G.", "H.", "not_entailment"]]
    )
    loaded = load_task("rte", tmp_path)
    assert loaded.train["label"][:] == [1, 0]  # nyu-mll/glue: entailment=0, not_entailment=1
    assert loaded.dev["sentence2"][:] == ["F.", "H."]
    assert loaded.train.features["label"].names == ["entailment", "not_entailment"]


def test_tsv_mnli_named_columns_and_three_labels(tmp_path: Path) -> None:
    header = [
        "index",
        "promptID",
        "pairID",
        "genre",
        "sentence1_binary_parse",
        "sentence2_binary_parse",
        "sentence1_parse",
        "sentence2_parse",
        "sentence1",
        "sentence2",
        "label1",
        "gold_label",
    ]

    def row(i: int, gold: str) -> list[str]:
        return [str(i), "p", "q", "fiction", "(", "(", "(", "(", f"premise {i}", f"hypothesis {i}", gold, gold]

    _write_tsv(
        tmp_path / "MNLI" / "train.tsv", [header, row(0, "contradiction"), row(1, "neutral"), row(2, "entailment")]
    )
    _write_tsv(tmp_path / "MNLI" / "dev_matched.tsv", [header, row(0, "neutral"), row(1, "contradiction")])
    _write_tsv(tmp_path / "MNLI" / "dev_mismatched.tsv", [header, row(0, "entailment")])
    loaded = load_task("mnli", tmp_path)
    assert loaded.train["label"][:] == [2, 1, 0]
    assert loaded.dev["label"][:] == [1, 2] and loaded.dev["premise"][:] == ["premise 0", "premise 1"]


def test_tsv_wnli_integer_labels_keep_their_values(tmp_path: Path) -> None:
    header = ["index", "sentence1", "sentence2", "label"]
    _write_tsv(tmp_path / "WNLI" / "train.tsv", [header, ["0", "a", "b", "1"], ["1", "c", "d", "0"]])
    _write_tsv(tmp_path / "WNLI" / "dev.tsv", [header, ["0", "e", "f", "0"], ["1", "g", "h", "1"]])
    assert load_task("wnli", tmp_path).train["label"][:] == [1, 0]  # 1 = entailment in both encodings


def test_tsv_mrpc_from_the_original_files(tmp_path: Path) -> None:
    """msr_paraphrase_train.txt (with a BOM) + dev_ids.tsv: idx is the row in the original file."""
    header = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
    rows = [[str(i % 2), f"{i}a", f"{i}b", f"first {i}", f"second {i}"] for i in range(6)]
    _write_tsv(tmp_path / "MRPC" / "msr_paraphrase_train.txt", [header, *rows], bom=True)
    _write_tsv(tmp_path / "MRPC" / "dev_ids.tsv", [["1a", "1b"], ["4a", "4b"]])
    loaded = load_task("mrpc", tmp_path)
    assert loaded.dev["idx"][:] == [1, 4] and loaded.dev["sentence1"][:] == ["first 1", "first 4"]
    assert loaded.train["idx"][:] == [0, 2, 3, 5] and loaded.train["label"][:] == [0, 0, 1, 1]


def test_tsv_mrpc_from_glue_train_and_dev_files(tmp_path: Path) -> None:
    header = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
    _write_tsv(tmp_path / "MRPC" / "train.tsv", [header, ["1", "1", "2", "a", "b"], ["0", "3", "4", "c", "d"]])
    _write_tsv(tmp_path / "MRPC" / "dev.tsv", [header, ["1", "5", "6", "e", "f"]])
    loaded = load_task("mrpc", tmp_path)
    assert loaded.train["label"][:] == [1, 0] and loaded.dev["sentence2"][:] == ["f"]


def test_tsv_and_parquet_copies_give_the_same_splits(shared_glue_dir: Path, tmp_path: Path) -> None:
    """Real RTE written back to its original TSV form (string labels) must fingerprint the same."""
    spec = GLUE_TASKS["rte"]
    for split, file in (("train", "train.tsv"), ("validation", "dev.tsv")):
        table = pq.read_table(shared_glue_dir / "rte" / f"{split}.parquet").to_pylist()
        body = [[str(r["idx"]), r["sentence1"], r["sentence2"], spec.label_names[r["label"]]] for r in table]
        _write_tsv(tmp_path / "RTE" / file, [["index", "sentence1", "sentence2", "label"], *body])
    from_tsv = prepare_splits("rte", tmp_path)
    from_parquet = prepare_splits("rte", shared_glue_dir)
    assert from_tsv.stats["source"].startswith("tsv:")
    assert from_tsv.fingerprint == from_parquet.fingerprint


def test_tsv_missing_header_column(tmp_path: Path) -> None:
    _write_tsv(tmp_path / "QNLI" / "train.tsv", [["index", "question", "text", "label"], ["0", "q", "s", "entailment"]])
    with pytest.raises(DataError, match=r"missing column\(s\) \['sentence'\] in the header row.*'question', 'text'"):
        load_task("qnli", tmp_path)


def test_tsv_unknown_label(tmp_path: Path) -> None:
    header = ["index", "sentence1", "sentence2", "label"]
    _write_tsv(tmp_path / "RTE" / "train.tsv", [header, ["0", "a", "b", "entailment"], ["1", "c", "d", "maybe"]])
    _write_tsv(tmp_path / "RTE" / "dev.tsv", [header, ["0", "a", "b", "entailment"]])
    with pytest.raises(
        DataError, match=r"data row 1: label 'maybe' is neither one of \['entailment', 'not_entailment'\]"
    ):
        load_task("rte", tmp_path)


def test_tsv_missing_dev_file(tmp_path: Path) -> None:
    _write_tsv(tmp_path / "SST-2" / "train.tsv", [["sentence", "label"], ["good", "1"]])
    with pytest.raises(
        DataError, match=r"official dev split 'validation' is absent .*looked for dev\.tsv; found: train\.tsv"
    ):
        load_task("sst2", tmp_path)
