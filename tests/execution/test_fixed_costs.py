"""Per-process fixed costs: a process that runs several trainings reads the tokenizer once and
tokenises each split once, and its results are bit-identical to each training in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import datasets
import pytest

from calibench.training import encoded_cache

# Runs the trainings named on the command line, in order, in this one process; prints the
# sha256 of every prediction array and of the training losses, and the load counts.
SCRIPT = textwrap.dedent(
    """
    import hashlib, json, sys
    from calibench.config import DataSpec, Hyper, TrainingSpec
    from calibench.execution.jobs import run_training
    from calibench.models import encoders
    from calibench.training import encoded_cache

    model, glue, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    SPECS = {
        "A": ("baseline", 0, (("deterministic", ()), ("mc-dropout", (("passes", 2),)))),
        "B": ("label-smoothing", 1, (("deterministic", ()),)),
    }
    out = {}
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
            pkey + "/" + arr: hashlib.sha256(p["arrays"][arr].tobytes()).hexdigest()
            for pkey, p in res.predictions.items()
            for arr in sorted(p["arrays"])
        }
        digest["losses"] = [h["loss"] for h in res.record["train_log"]["history"]]
        out[name] = digest
    out["counts"] = {"loads": encoders.load_counts, "encoded": encoded_cache.counts}
    print(json.dumps(out))
    """
)


def _run(model: str, glue: str, *names: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, model, glue, *names], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_two_trainings_in_one_process_match_each_in_a_fresh_process_and_hit_the_caches(tiny_bert, shared_glue_dir):
    both = _run(tiny_bert, str(shared_glue_dir), "A", "B")
    alone = _run(tiny_bert, str(shared_glue_dir), "B")
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
