"""The dev-halves-v2 protocol: halves in file order, seeded subsampling, empty sides, fingerprint."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibench.tasks import DataError, Splits, prepare_splits
from calibench.tasks.glue import GLUE_TASKS, RTE, SST2
from calibench.tasks.splits import PROTOCOL, compute_fingerprint, subsample_positions

Writer = Callable[..., Path]  # the write_parquet fixture
RowFactory = Callable[..., dict[str, list[Any]]]  # the pair_rows fixture

STATS_KEYS = {
    "task",
    "source",
    "source_origin",
    "dev_split",
    "n_train_full",
    "n_train",
    "n_official_dev",
    "n_dev",
    "n_test",
    "n_unused_middle",
    "dropped_empty",
    "dropped_malformed",
    "data_seed",
    "train_size",
    "train_label_counts",
    "words_mean",
}


def _idx(ds: Any) -> list[int]:
    return ds["idx"][:]


# --------------------------------------------------------------------------- halves


@pytest.mark.parametrize("name", ["rte", "mrpc", "cola", "wnli", "sst2"])
def test_real_dev_halves_in_file_order(name: str, shared_glue_dir: Path) -> None:
    spec = GLUE_TASKS[name]
    official = pq.read_table(shared_glue_dir / spec.hf_config / "validation.parquet")
    n = official.num_rows
    splits = prepare_splits(name, shared_glue_dir)
    assert splits.protocol == PROTOCOL == "dev-halves-v2"
    assert (splits.dev.num_rows, splits.test.num_rows) == (n // 2, n // 2)
    idx = official.column("idx").to_pylist()
    assert _idx(splits.dev) + _idx(splits.test) == idx[: n // 2] + idx[n - n // 2 :]
    texts = official.column(spec.text_fields[0]).to_pylist()[n - n // 2 :]
    for old, new in spec.text_replacements:
        texts = [t.replace(old, new) for t in texts]
    assert splits.test[spec.text_fields[0]][:] == texts
    assert (
        splits.train.num_rows
        == splits.stats["n_train_full"]
        == pq.read_metadata(shared_glue_dir / spec.hf_config / "train.parquet").num_rows
    )


def test_odd_dev_set_leaves_the_middle_row_out_as_the_reference_does(rte_copy: Path) -> None:
    splits = prepare_splits("rte", rte_copy)  # 11 official dev rows: cal_num = 5, row 5 unused
    assert (_idx(splits.dev), _idx(splits.test)) == ([0, 1, 2, 3, 4], [6, 7, 8, 9, 10])
    assert splits.stats["n_unused_middle"] == 1
    assert splits.dev["sentence1"][:] == [f"premise d{i}" for i in range(5)]


def test_splits_shape_and_stats(rte_copy: Path) -> None:
    splits = prepare_splits("rte", rte_copy, train_size=10, data_seed=3)
    for ds in (splits.train, splits.dev, splits.test):
        assert ds.column_names == ["sentence1", "sentence2", "label", "idx"]
        assert ds.features["label"].names == ["entailment", "not_entailment"]
    assert set(splits.stats) == STATS_KEYS
    json.dumps(splits.stats)  # goes into run records as is
    assert splits.stats["n_train_full"] == 40 and splits.stats["n_train"] == 10
    assert (splits.stats["n_official_dev"], splits.stats["n_dev"], splits.stats["n_test"]) == (11, 5, 5)
    assert (splits.stats["data_seed"], splits.stats["train_size"]) == (3, 10)
    assert splits.stats["source"] == f"parquet:{rte_copy}" and splits.stats["dev_split"] == "validation"
    assert "fingerprint=" in repr(splits) and "train=10" in repr(splits)
    for name, ds in (("train", splits.train), ("dev", splits.dev), ("test", splits.test)):
        words = [len(a.split()) + len(b.split()) for a, b in zip(ds["sentence1"], ds["sentence2"])]
        assert splits.stats["words_mean"][name] == pytest.approx(sum(words) / len(words), abs=1e-3)


def test_tiny_official_dev_set_is_an_error(tmp_path: Path, write_parquet: Writer, pair_rows: RowFactory) -> None:
    write_parquet(tmp_path, "rte", {"train": pair_rows(3), "validation": pair_rows(1)})
    with pytest.raises(DataError, match="has 1 usable rows; at least 2"):
        prepare_splits("rte", tmp_path)


# --------------------------------------------------------------------------- training subsample


def test_subsample_is_seeded_sorted_and_leaves_dev_alone(rte_copy: Path) -> None:
    full = prepare_splits("rte", rte_copy)
    a = prepare_splits("rte", rte_copy, train_size=12, data_seed=1)
    again = prepare_splits("rte", rte_copy, train_size=12, data_seed=1)
    other = prepare_splits("rte", rte_copy, train_size=12, data_seed=2)
    assert _idx(a.train) == _idx(again.train) and a.fingerprint == again.fingerprint
    assert _idx(a.train) != _idx(other.train) and a.fingerprint != other.fingerprint
    assert _idx(a.train) == sorted(_idx(a.train)) and len(set(_idx(a.train))) == 12  # file order, no repeats
    assert set(_idx(a.train)) < set(_idx(full.train))
    assert a.train["sentence1"][:] == [f"premise {i}" for i in _idx(a.train)]  # rows stay whole
    assert _idx(a.dev) == _idx(full.dev) and _idx(a.test) == _idx(full.test)


def test_subsamples_of_one_seed_are_nested(rte_copy: Path) -> None:
    sizes = (5, 13, 29)
    chosen = [set(_idx(prepare_splits("rte", rte_copy, train_size=k, data_seed=7).train)) for k in sizes]
    assert chosen[0] < chosen[1] < chosen[2]


def test_subsample_is_pinned_across_versions_and_machines() -> None:
    """A fixed hash, not an RNG stream: these positions must never change (dev-halves-v1 and v2 alike)."""
    idx = np.arange(100, dtype=np.int64)
    assert subsample_positions(idx, 5, 0).tolist() == GOLDEN_POSITIONS_SEED0
    assert subsample_positions(idx, 5, 1).tolist() == GOLDEN_POSITIONS_SEED1


GOLDEN_POSITIONS_SEED0 = [1, 18, 43, 47, 58]
GOLDEN_POSITIONS_SEED1 = [28, 31, 51, 90, 92]


def _splitmix64(x: int) -> int:
    m = (1 << 64) - 1
    z = (x + 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**63 - 1])
def test_subsample_matches_a_pure_python_reference(seed: int) -> None:
    """The vectorised hash must equal the plain-integer definition (no overflow surprises)."""
    idx = np.array([0, 5, 3, 2**40, 7, 1, 99, 12], dtype=np.int64)
    key = {int(i): _splitmix64(int(i) ^ _splitmix64(seed)) for i in idx}
    expected = sorted(sorted(range(len(idx)), key=lambda p: key[int(idx[p])])[:4])
    assert subsample_positions(idx, 4, seed).tolist() == expected


def test_subsample_keys_on_idx_not_position() -> None:
    """Dropping one row must not reshuffle which of the others are chosen."""
    idx = np.arange(50, dtype=np.int64)
    kept = idx[idx != 17]
    with_all = set(idx[subsample_positions(idx, 10, 5)].tolist()) - {17}
    without = set(kept[subsample_positions(kept, 10, 5)].tolist())
    assert with_all <= without


def test_train_size_equal_to_all_rows_keeps_everything(rte_copy: Path) -> None:
    splits = prepare_splits("rte", rte_copy, train_size=40)
    assert _idx(splits.train) == list(range(40))
    assert splits.fingerprint == prepare_splits("rte", rte_copy).fingerprint


def test_train_size_above_available_names_the_count(rte_copy: Path) -> None:
    with pytest.raises(DataError, match=r"train_size=41 exceeds the 40 usable training examples of rte"):
        prepare_splits("rte", rte_copy, train_size=41)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_train_size_must_be_a_positive_int(rte_copy: Path, bad: Any) -> None:
    with pytest.raises(ValueError, match="train_size must be a positive integer"):
        prepare_splits("rte", rte_copy, train_size=bad)


@pytest.mark.parametrize("bad", [-1, 1.0, None, 2**63])
def test_data_seed_must_be_a_non_negative_int(rte_copy: Path, bad: Any) -> None:
    with pytest.raises(ValueError, match="data_seed must be an integer"):
        prepare_splits("rte", rte_copy, data_seed=bad)


# --------------------------------------------------------------------------- empty sides


def test_pairs_with_an_empty_side_are_dropped_before_halving(
    tmp_path: Path, write_parquet: Writer, pair_rows: RowFactory
) -> None:
    train, dev = pair_rows(8), pair_rows(10, tag="d")
    train["sentence2"][1], train["sentence1"][4] = "", "   "
    dev["sentence1"][0], dev["sentence2"][3], dev["sentence2"][7] = None, "\t\n", ""
    write_parquet(tmp_path, "rte", {"train": train, "validation": dev})
    splits = prepare_splits("rte", tmp_path, train_size=6)
    assert splits.stats["dropped_empty"] == {"train": 2, "official_dev": 3}
    assert splits.stats["n_train_full"] == 6 and _idx(splits.train) == [0, 2, 3, 5, 6, 7]
    # 7 usable dev rows: 3 for dev, 3 for test (the middle one, idx 5, unused), after the drop.
    assert (_idx(splits.dev), _idx(splits.test)) == ([1, 2, 4], [6, 8, 9])


def test_single_sentence_tasks_drop_empty_sentences(tmp_path: Path, write_parquet: Writer) -> None:
    rows = {"sentence": ["good", " ", "bad", "fine"], "label": [1, 0, 0, 1]}
    write_parquet(tmp_path, "sst2", {"train": rows, "validation": rows})
    splits = prepare_splits(SST2, tmp_path)
    assert splits.stats["dropped_empty"] == {"train": 1, "official_dev": 1}
    assert splits.train["sentence"][:] == ["good", "bad", "fine"]


# --------------------------------------------------------------------------- fingerprint


def _toy_parts() -> dict[str, pa.Table]:
    def table(texts: list[tuple[str, str]], labels: list[int], idx: list[int]) -> pa.Table:
        return pa.table(
            {
                "sentence1": [a for a, _ in texts],
                "sentence2": [b for _, b in texts],
                "label": pa.array(labels, pa.int64()),
                "idx": pa.array(idx, pa.int64()),
            }
        )

    return {
        "train": table([("a cat", "an animal"), ("Zürich", "a city"), ("x", "y")], [0, 1, 1], [0, 1, 2]),
        "dev": table([("rain", "wet")], [0], [0]),
        "test": table([("sun", "dry"), ("snow", "cold")], [1, 0], [1, 2]),
    }


GOLDEN_FINGERPRINT = "d477e59e9443f7bf"  # under dev-halves-v2
GOLDEN_FINGERPRINT_V1 = "70af528a8ace86f3"  # the same content under dev-halves-v1: stored v1 results keep it


def _reference_fingerprint(parts: dict[str, pa.Table], protocol: str = PROTOCOL) -> str:
    """The documented definition, restated with struct and plain Python."""
    h = hashlib.sha256(
        "\x00".join(
            ["calibench-splits/1", protocol, "rte", "entailment|not_entailment", "sentence1|sentence2"]
        ).encode()
    )
    for name in sorted(parts):
        rows = parts[name].to_pylist()
        h.update(f"\x00{name}\x00".encode())
        h.update(struct.pack("<q", len(rows)))
        h.update(b"".join(struct.pack("<q", r["idx"]) for r in rows))
        h.update(b"".join(struct.pack("<q", r["label"]) for r in rows))
        for field in ("sentence1", "sentence2"):
            h.update(b"".join(struct.pack("<q", len(r[field].encode())) for r in rows))
            h.update(b"".join(r[field].encode() for r in rows))
    return h.hexdigest()[:16]


def test_fingerprint_is_pinned() -> None:
    """The definition is part of the protocol: same content, same hex, in every process and machine."""
    assert compute_fingerprint(RTE, _toy_parts()) == _reference_fingerprint(_toy_parts()) == GOLDEN_FINGERPRINT
    v1 = compute_fingerprint(RTE, _toy_parts(), protocol="dev-halves-v1")
    assert v1 == _reference_fingerprint(_toy_parts(), "dev-halves-v1") == GOLDEN_FINGERPRINT_V1


def test_fingerprint_is_stable_and_from_content(rte_copy: Path, tmp_path: Path) -> None:
    a, b = prepare_splits("rte", rte_copy), prepare_splits("rte", rte_copy)
    assert len(a.fingerprint) == 16 and int(a.fingerprint, 16) >= 0
    assert a.fingerprint == b.fingerprint
    parts = {"train": a.train, "dev": a.dev, "test": a.test}
    assert compute_fingerprint(RTE, parts) == a.fingerprint  # datasets or tables, same hash
    copy = tmp_path / "copy"
    (copy / "rte").mkdir(parents=True)
    for f in (rte_copy / "rte").iterdir():
        (copy / "rte" / f.name).write_bytes(f.read_bytes())
    assert prepare_splits("rte", copy).fingerprint == a.fingerprint  # the path is not content


def test_fingerprint_depends_on_task_and_protocol() -> None:
    parts = _toy_parts()
    base = compute_fingerprint(RTE, parts)
    assert compute_fingerprint(replace(RTE, name="rte2"), parts) != base
    assert compute_fingerprint(RTE, parts, protocol="dev-halves-v1") != base
    moved = dict(parts, dev=parts["test"].slice(0, 1), test=pa.concat_tables([parts["dev"], parts["test"].slice(1)]))
    assert compute_fingerprint(RTE, moved) != base  # same rows, different dev/test boundary


CELL = st.tuples(st.sampled_from(["train", "dev", "test"]), st.sampled_from(["sentence1", "sentence2", "label", "idx"]))


@settings(max_examples=60, deadline=None)
@given(cell=CELL, row=st.integers(0, 2), text=st.text(max_size=8), number=st.integers(-5, 5))
def test_fingerprint_changes_with_any_cell(cell: tuple[str, str], row: int, text: str, number: int) -> None:
    parts = _toy_parts()
    split, column = cell
    table = parts[split]
    row = row % table.num_rows
    values = table.column(column).to_pylist()
    new = text if column.startswith("sentence") else number
    if values[row] == new:
        return
    values[row] = new
    parts[split] = table.set_column(
        table.column_names.index(column), column, pa.array(values, table.schema.field(column).type)
    )
    assert compute_fingerprint(RTE, parts) != compute_fingerprint(RTE, _toy_parts())


def test_fingerprint_sees_row_order_and_text_boundaries() -> None:
    parts = _toy_parts()
    base = compute_fingerprint(RTE, parts)
    swapped = dict(parts, train=parts["train"].take([1, 0, 2]))
    assert compute_fingerprint(RTE, swapped) != base
    t = parts["dev"]
    shifted = t.set_column(0, "sentence1", pa.array(["rai"])).set_column(1, "sentence2", pa.array(["nwet"]))
    assert compute_fingerprint(RTE, dict(parts, dev=shifted)) != base


def test_custom_task_specs_work_without_registration(
    tmp_path: Path, write_parquet: Writer, pair_rows: RowFactory
) -> None:
    toy = replace(RTE, name="toy-nli", hf_config="toy", display_name="Toy")
    write_parquet(tmp_path, "toy", {"train": pair_rows(4), "validation": pair_rows(4)})
    splits = prepare_splits(toy, tmp_path)
    assert isinstance(splits, Splits) and splits.task is toy and splits.stats["task"] == "toy-nli"


def test_mrpc_text_is_normalised_as_the_reference_does(shared_glue_dir: Path) -> None:
    """' ,' -> ',', ' .' -> '.', " 's" -> "'s" in every split and both sentences."""
    official = pq.read_table(shared_glue_dir / "mrpc" / "validation.parquet")
    raw = official.column("sentence1").to_pylist()
    row = next(i for i, t in enumerate(raw[: len(raw) // 2]) if " ," in t or " 's" in t or " ." in t)
    splits = prepare_splits("mrpc", shared_glue_dir)
    got = splits.dev["sentence1"][row]
    assert got == raw[row].replace(" ,", ",").replace(" .", ".").replace(" 's", "'s") != raw[row]
    for ds in (splits.train, splits.dev, splits.test):
        for field in ("sentence1", "sentence2"):
            assert not any(" ," in t or " 's" in t for t in ds[field][:])


def test_other_tasks_are_not_normalised(shared_glue_dir: Path) -> None:
    official = pq.read_table(shared_glue_dir / "rte" / "validation.parquet")
    splits = prepare_splits("rte", shared_glue_dir)
    assert splits.dev["sentence1"][:] == official.column("sentence1").to_pylist()[: official.num_rows // 2]
