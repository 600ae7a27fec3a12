"""Tokenised splits kept per process, so a grid tokenises each task once, not once per training.

A grid trains many methods and seeds on one task; each training used to tokenise the same
rows again (on MiniLM: 1.3 s for MRPC's splits, 8 s for all of SST-2's 67k sentences,
``benchmarks/bench_grid.py``). Tokenising is a pure function of the tokenizer, the texts and
``max_length``, so the result is shared: the key is the tokenizer's identity, ``max_length``,
the text fields and a content key the caller names (a split's fingerprint, which hashes its
rows, texts and labels, plus the split's name). Entries are read-only where numpy allows it
(``labels``); nothing in calibench changes an :class:`~calibench.training.batching.Encoded`
after it is built. The cache holds at most :data:`MAX_ENTRIES` splits, least recently used
out first; :func:`clear` empties it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any

from calibench.training import batching
from calibench.training.batching import Encoded

#: splits kept (train/dev/test of four tasks, or a few extra evaluation sets on top)
MAX_ENTRIES = 12

_cache: OrderedDict[tuple[Any, ...], Encoded] = OrderedDict()
#: how often a lookup found its split (``hits``) or had to tokenise it (``misses``)
counts: dict[str, int] = {"hits": 0, "misses": 0}


def tokenizer_identity(tokenizer: Any) -> tuple[Any, ...]:
    """What makes two tokenizers encode alike: class, source, vocabulary size, model inputs."""
    return (
        type(tokenizer).__qualname__,
        str(getattr(tokenizer, "name_or_path", "")),
        len(tokenizer),
        tuple(getattr(tokenizer, "model_input_names", ())),
    )


def encode_dataset_cached(
    tokenizer: Any, dataset: Any, text_fields: Sequence[str], max_length: int, *, content_key: Hashable
) -> Encoded:
    """:func:`~calibench.training.batching.encode_dataset`, shared within the process.

    ``content_key`` must change whenever the rows do (e.g. ``(fingerprint, "train")``)."""
    key = (tokenizer_identity(tokenizer), int(max_length), tuple(text_fields), content_key)
    hit = _cache.get(key)
    if hit is not None:
        _cache.move_to_end(key)
        counts["hits"] += 1
        return hit
    counts["misses"] += 1
    enc = batching.encode_dataset(tokenizer, dataset, text_fields, max_length)
    enc.labels.setflags(write=False)
    _cache[key] = enc
    while len(_cache) > MAX_ENTRIES:
        _cache.popitem(last=False)
    return enc


def clear() -> None:
    """Forget every kept split (and reset the counts)."""
    _cache.clear()
    counts.update(hits=0, misses=0)
