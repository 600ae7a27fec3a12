"""Per-process fixed costs: a process that runs several trainings reads the tokenizer once and
tokenises each split once, and its results are bit-identical to each training in a fresh process."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import datasets
import pytest

from calibench.training import encoded_cache

SPECS = {  # two trainings that share a task's splits: different recipes, seeds and inferences
    "A": ("baseline", 0, (("deterministic", ()), ("mc-dropout", (("passes", 2),)))),
    "B": ("label-smoothing", 1, (("deterministic", ()),)),
}


def run_trainings(model: str, glue: str, names: list[str]) -> dict:
    """Run the named trainings in order in this process; the sha256 of every prediction array,
    the training losses, and this process's load counts."""
    from calibench.config import DataSpec, Hyper, TrainingSpec
    from calibench.execution.jobs import run_training
    from calibench.models import encoders

    out: dict = {}
    for name in names:
        recipe, seed, inferences = SPECS[name]
        spec = TrainingSpec(
            data=DataSpec("mrpc", train_size=24, data_dir=glue),
            recipe=recipe,
            model=model,
            seed=seed,
            hyper=Hyper(batch_size=8, max_steps=2, max_length=32, precision="fp32", eval_batch_size=64),
            inferences=inferences,
        )
        res = run_training(spec, keep_model=False)
        digest = {
            f"{pkey}/{arr}": hashlib.sha256(p["arrays"][arr].tobytes()).hexdigest()
            for pkey, p in res.predictions.items()
            for arr in sorted(p["arrays"])
        }
        digest["losses"] = [h["loss"] for h in res.record["train_log"]["history"]]
        out[name] = digest
    out["counts"] = {"loads": dict(encoders.load_counts), "encoded": dict(encoded_cache.counts)}
    return out


def _fresh_process(model: str, glue: str, names: list[str]) -> dict:
    """``run_trainings`` in a process of its own: no state left by other tests (torch threads,
    kernels a test installed), so the two sides differ only in what ran before in them."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(
        [sys.executable, __file__, model, glue, *names], env=env, capture_output=True, text=True, timeout=1800
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_two_trainings_in_one_process_match_each_in_a_fresh_process_and_hit_the_caches(tiny_bert, shared_glue_dir):
    both = _fresh_process(tiny_bert, str(shared_glue_dir), ["A", "B"])  # A, then B, in one process
    alone = _fresh_process(tiny_bert, str(shared_glue_dir), ["B"])

    assert both["A"] and both["B"] and alone["B"]
    assert both["B"] == alone["B"]  # logits, labels and losses: the same bytes
    assert both["A"] != both["B"]  # different recipes and seeds: the digests do tell trainings apart
    # one tokenizer read, one fresh encoder per training; the second training's three splits from the cache
    assert both["counts"]["loads"] == {"tokenizer": 1, "encoder": 2}
    assert both["counts"]["encoded"] == {"hits": 3, "misses": 3}
    assert alone["counts"]["encoded"] == {"hits": 0, "misses": 3}


class _Tok:
    """A stand-in tokenizer that counts its calls (one token per word)."""

    name_or_path = "words"
    model_input_names = ["input_ids"]
    pad_token_id = 0

    def __init__(self) -> None:
        self.calls = 0

    def __len__(self) -> int:
        return 100

    def __call__(self, first, second=None, **_):
        self.calls += 1
        return {"input_ids": [[len(w) for w in t.split()] for t in first]}


def test_the_cache_is_keyed_by_content_bounded_and_read_only(monkeypatch):
    encoded_cache.clear()
    monkeypatch.setattr(encoded_cache, "MAX_ENTRIES", 2)
    tok = _Tok()
    ds = datasets.Dataset.from_dict({"sentence": ["a bb", "ccc"], "label": [0, 1]})
    first = encoded_cache.encode_dataset_cached(tok, ds, ("sentence",), 8, content_key=("fp1", "train"))
    assert encoded_cache.encode_dataset_cached(tok, ds, ("sentence",), 8, content_key=("fp1", "train")) is first
    assert tok.calls == 1
    assert first.input_ids == [[1, 2], [3]]
    with pytest.raises(ValueError):
        first.labels[0] = 5  # shared between trainings: nobody may change it
    # another content key, another max_length: tokenised anew
    encoded_cache.encode_dataset_cached(tok, ds, ("sentence",), 8, content_key=("fp2", "train"))
    encoded_cache.encode_dataset_cached(tok, ds, ("sentence",), 4, content_key=("fp2", "train"))
    assert tok.calls == 3
    # bounded: the least recently used entry (fp1) was dropped
    encoded_cache.encode_dataset_cached(tok, ds, ("sentence",), 8, content_key=("fp1", "train"))
    assert tok.calls == 4
    assert encoded_cache.counts == {"hits": 1, "misses": 4}
    encoded_cache.clear()


if __name__ == "__main__":  # the fresh process of the first test
    print(json.dumps(run_trainings(sys.argv[1], sys.argv[2], sys.argv[3:])))
