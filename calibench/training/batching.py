"""Tokenised splits, dynamic padding and length-grouped batches.

Length grouping (as ``transformers``' ``group_by_length``): shuffle, cut into mega-batches
of ``mega`` batches, sort each mega-batch by length, slice it into batches and shuffle the
batches. Each batch then holds similar lengths, so dynamic padding wastes little, while
the order stays random at the scale that matters for SGD.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import torch


@dataclass
class Encoded:
    """A tokenised split, unpadded. ``token_type_ids`` is None for encoders without them."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    labels: np.ndarray  # (n,) int64; -1 where unlabelled (noise samples)
    pad_id: int

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.input_ids), dtype=np.int64, count=len(self.input_ids))


def encode_texts(
    tokenizer, texts: Sequence[Sequence[str]], labels: Sequence[int] | np.ndarray | None, max_length: int
) -> Encoded:
    """Tokenise rows of 1 or 2 text fields (pairs as the tokenizer's own pair template)."""
    if len(texts) == 0:
        raise ValueError("nothing to encode: the split is empty")
    width = len(texts[0])
    first = [t[0] for t in texts]
    second = [t[1] for t in texts] if width == 2 else None
    enc = tokenizer(first, second, truncation=True, max_length=max_length, padding=False, return_attention_mask=False)
    tti = enc.get("token_type_ids") if "token_type_ids" in tokenizer.model_input_names else None
    labs = np.full(len(texts), -1, dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return Encoded(list(enc["input_ids"]), list(tti) if tti is not None else None, labs, pad)


def encode_dataset(tokenizer, dataset, text_fields: Sequence[str], max_length: int) -> Encoded:
    """Tokenise a ``datasets.Dataset`` split with its task's text columns and ``label``."""
    cols = [dataset[f] for f in text_fields]
    texts = list(zip(*cols))
    return encode_texts(tokenizer, texts, dataset["label"], max_length)


def collate(
    enc: Encoded, idx: Sequence[int] | np.ndarray, device: torch.device | None = None
) -> dict[str, torch.Tensor]:
    """Pad ``idx`` rows to the longest among them (dynamic padding).

    Vectorised: the rows are concatenated once and scattered into the padded matrix through
    the attention mask (row-major, so row by row, left-aligned) -- no per-row tensor ops."""
    idx = np.asarray(idx, dtype=np.int64)
    rows = [enc.input_ids[i] for i in idx]
    n = len(rows)
    lens = np.fromiter(map(len, rows), dtype=np.int64, count=n)
    width = int(lens.max())
    mask = np.arange(width) < lens[:, None]
    total = int(lens.sum())
    ids = np.full((n, width), enc.pad_id, dtype=np.int64)
    ids[mask] = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=total)
    batch = {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask.astype(np.int64)),
        "labels": torch.from_numpy(np.ascontiguousarray(enc.labels[idx], dtype=np.int64)),
    }
    if enc.token_type_ids is not None:
        tti = np.zeros((n, width), dtype=np.int64)
        tti[mask] = np.fromiter(chain.from_iterable(enc.token_type_ids[i] for i in idx), dtype=np.int64, count=total)
        batch["token_type_ids"] = torch.from_numpy(tti)
    if device is not None and device.type != "cpu":
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    return batch


def length_grouped_batches(
    lengths: np.ndarray | Sequence[int],
    batch_size: int,
    rng: np.random.Generator,
    mega: int = 50,
    drop_last: bool = False,
    descending: bool = True,
) -> list[np.ndarray]:
    """One epoch of index batches, grouped by length within random mega-batches.

    Each mega-batch (``mega`` batches of a random permutation) is sorted by length, longest
    first (``descending=False``: shortest first, the noise LM's order), cut into batches, and
    the batches are shuffled.
    """
    lengths = np.asarray(lengths)
    perm = rng.permutation(len(lengths))
    batches: list[np.ndarray] = []
    step = batch_size * mega
    for s in range(0, len(perm), step):
        chunk = perm[s : s + step]
        chunk = chunk[np.argsort(-lengths[chunk] if descending else lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def random_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    perm = rng.permutation(n)
    return [perm[i : i + batch_size] for i in range(0, n, batch_size)]


def endless_length_grouped(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Length-grouped epochs back to back, endlessly (EBM's NCE data and noise passes, which
    run beside the CE epochs): every row once per epoch, batches padded little."""
    if len(lengths) == 0:
        raise ValueError("no rows to batch")
    while True:
        yield from length_grouped_batches(lengths, batch_size, rng)


def eval_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Length-sorted batches for inference; callers scatter outputs back by index."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
