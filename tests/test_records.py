"""The result record: one dataclass, and its JSON form is exactly what the store keeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calibench.records import PartRecord, RecordError, ResultRecord

REPO = Path(__file__).resolve().parents[1]


def _record() -> ResultRecord:
    return ResultRecord(
        key="k1",
        method="baseline+temp-scaling",
        task="rte",
        seed=2,
        model="minilm",
        fingerprint="f" * 16,
        metrics={"ece": {"value": 0.1, "estimator": "ece(bins=15)"}},
        recipe=PartRecord("baseline", {}),
        inference=PartRecord("deterministic", {}),
        calibrator={"name": "temp-scaling", "identity": {}, "params": {"temperature": 1.5}},
        training_key="t1",
        prediction_key="p1",
        n_test=10,
        config={"seed": 2},
        training={},
    )


def test_round_trip_through_json():
    rec = _record()
    text = json.dumps(rec.to_json(), sort_keys=True)
    assert ResultRecord.from_json(json.loads(text)) == rec
    assert rec.to_json()["recipe"] == {"name": "baseline", "options": {}}


def test_a_committed_exported_header_reads_as_a_record():
    path = next((REPO / "leaderboard" / "results").rglob("*.jsonl"), None)
    if path is None:
        pytest.skip("no exported results in this checkout")
    header = json.loads(path.read_text().splitlines()[0])
    rec = ResultRecord.from_json(header)  # fields of the export format it does not hold are ignored
    assert (rec.task, rec.method, rec.seed) == (header["task"], header["method"], header["seed"])


def test_a_record_without_a_required_field_is_named():
    d = _record().to_json()
    del d["fingerprint"]
    with pytest.raises(RecordError, match="lacks fingerprint"):
        ResultRecord.from_json(d)
