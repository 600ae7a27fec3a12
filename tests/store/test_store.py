import numpy as np
import pytest

from calibench.store.artifacts import ArtifactCorrupt, ArtifactMissing, ArtifactStore
from calibench.store.db import Store


def test_artifact_round_trip_and_checksum(tmp_path):
    a = ArtifactStore(tmp_path)
    a.write("logits", "k1", arrays={"x": np.arange(6.0).reshape(3, 2)}, json_data={"m": 1}, lines={"t": ["a\nb", "é"]})
    got = a.read("logits", "k1")
    np.testing.assert_array_equal(got.arrays["x"], np.arange(6.0).reshape(3, 2))
    assert got.json == {"m": 1} and got.lines["t"] == ["a\nb", "é"]
    # corrupt one byte: detected on read
    f = a.path("logits", "k1") / "x.npy"
    data = bytearray(f.read_bytes())
    data[-1] ^= 1
    f.write_bytes(bytes(data))
    with pytest.raises(ArtifactCorrupt, match="checksum"):
        a.read("logits", "k1")
    assert not a.verify("logits", "k1")


def test_partial_artifact_is_invisible(tmp_path):
    a = ArtifactStore(tmp_path)
    p = a.path("logits", "k2")
    p.mkdir(parents=True)
    (p / "x.npy").write_bytes(b"half")  # a crash before the manifest
    assert not a.exists("logits", "k2")
    with pytest.raises(ArtifactMissing):
        a.read("logits", "k2")
    a.write("logits", "k2", arrays={"x": np.ones(2)})  # regenerated over the leftover
    assert a.verify("logits", "k2")


def test_artifacts_refuse_pickle(tmp_path):
    a = ArtifactStore(tmp_path)
    with pytest.raises(ValueError):
        a.write("logits", "k3", arrays={"x": np.array([object()], dtype=object)})
    assert not a.exists("logits", "k3")


def test_claims_and_leases(tmp_path):
    s = Store(tmp_path)
    assert s.claim("t", {}, "A", lease_s=100)
    assert not s.claim("t", {}, "B", lease_s=100)  # live lease held by A
    assert s.claim("t", {}, "A")  # the owner may re-claim
    s2 = Store(tmp_path)
    assert s2.claim("u", {}, "B", lease_s=-1)  # expired at once
    assert s.claim("u", {}, "A")  # an expired lease can be taken over
    s.fail_training("u", "A", "boom", "tb")
    assert s.training("u")["status"] == "failed"
    assert s.claim("u", {}, "C")  # failed jobs can be retried
    assert s.training("u")["attempts"] == 3


def test_finish_is_atomic_with_predictions(tmp_path):
    s = Store(tmp_path)
    s.claim("t", {"a": 1}, "A")
    s.artifacts.write("logits", "p", arrays={"dev_logits": np.zeros((2, 2))})
    s.finish_training("t", "A", {"r": 1}, [("p", "deterministic", {}, ["dev", "test"])])
    row = s.training("t")
    assert row["status"] == "done" and row["record"] == {"r": 1}
    assert s.prediction("p")["training_key"] == "t"
    assert s.integrity_check() == []
    s.release("t", "A")  # releasing a finished job does nothing
    assert s.training("t")["status"] == "done"
