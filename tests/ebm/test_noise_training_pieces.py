"""The noise-LM trainer uses the finetuning loop's pieces, with the results it had with its own.

Its own copies were: weight decay off for parameters named "ln"/"norm" (the loop: "LayerNorm"),
the same schedule formula, and length-grouped batches sorted shortest first. The checks
below restate those copies and show the shared pieces give the same groups and batches.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_ebm_noise_model import tiny_config

from calibench.ebm.masking import encode_fields
from calibench.ebm.noise_model import build_lm, load_tokenizer
from calibench.training.batching import length_grouped_batches
from calibench.training.loop import param_groups


def _old_epoch_batches(lengths, batch_size, rng):
    perm = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for s in range(0, len(perm), pool):
        chunk = perm[s : s + pool]
        chunk = chunk[np.argsort([lengths[i] for i in chunk], kind="stable")]
        batches.extend(chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


@pytest.mark.parametrize(("n", "batch_size"), [(7, 3), (400, 16), (1234, 5)])
def test_shortest_first_length_grouping_is_the_noise_trainers_old_batching(n, batch_size):
    lengths = list(np.random.default_rng(n).integers(1, 60, size=n))
    new = length_grouped_batches(lengths, batch_size, np.random.default_rng([3, 1]), descending=False)
    old = _old_epoch_batches(lengths, batch_size, np.random.default_rng([3, 1]))
    assert len(new) == len(old) and all(np.array_equal(a, b) for a, b in zip(new, old))


def test_the_loops_decay_groups_equal_the_old_name_rule_on_the_noise_lm():
    cfg = tiny_config(epochs=1).resolved()
    tokenizer, tokens = load_tokenizer(cfg)
    lm = build_lm(cfg, tokenizer, tokens)
    assert encode_fields(tokenizer, [("a b",)], tokens.sep)  # a real tokenizer and LM
    old_no_decay = {id(p) for name, p in lm.named_parameters() if p.ndim < 2 or "ln" in name or "norm" in name}
    decay, no_decay = param_groups(lm, 0.1)
    assert {id(p) for p in no_decay["params"]} == old_no_decay
    assert {id(p) for p in decay["params"]} == {id(p) for p in lm.parameters()} - old_no_decay
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.1, 0.0)
    assert isinstance(lm, torch.nn.Module)
