"""The corruption of the partial-to-full noise model.

Each (subword) token is replaced by the mask token independently with probability ``M``
(default 0.4); each run of consecutive masked tokens is then merged into *one* mask token,
so the noise LM cannot read span lengths off the prefix and must decide how much text to
write. Special and separator tokens (``protected_ids``) are never masked and break runs,
so a pair task's ``a [SEP] b`` keeps its separator and the model learns to reproduce it.

Randomness is explicit: pass a ``numpy.random.Generator`` or a ``torch.Generator``; the same
generator state gives the same corruption.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

Rng = np.random.Generator | torch.Generator


def _uniforms(n: int, rng: Rng) -> np.ndarray:
    if isinstance(rng, np.random.Generator):
        return rng.random(n)
    if isinstance(rng, torch.Generator):
        return torch.rand(n, generator=rng, dtype=torch.float64).numpy()
    raise TypeError(f"rng must be a numpy Generator or a torch Generator, got {type(rng).__name__}")


def mask_spans(
    ids: Sequence[int],
    *,
    mask_id: int,
    rate: float,
    rng: Rng,
    protected_ids: Iterable[int] = (),
) -> list[int]:
    """Mask each unprotected token with probability ``rate``; merge runs of masks into one.

    Draws exactly ``len(ids)`` uniforms (protected positions included) so the stream of
    random numbers does not depend on which tokens are special.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"mask rate must be in [0, 1], got {rate}")
    ids = list(ids)
    if not ids:
        return []
    hits = _uniforms(len(ids), rng) < rate
    return merge_masks(ids, hits, mask_id=mask_id, protected_ids=protected_ids)


def merge_masks(
    ids: Sequence[int], hits: Sequence[bool], *, mask_id: int, protected_ids: Iterable[int] = ()
) -> list[int]:
    """Replace ``ids[i]`` by the mask where ``hits[i]`` (unless protected), one mask per run."""
    if len(ids) != len(hits):
        raise ValueError("ids and hits differ in length")
    protected = set(protected_ids)
    out: list[int] = []
    prev_masked = False
    for tok, hit in zip(ids, hits):
        if hit and tok not in protected:
            if not prev_masked:
                out.append(mask_id)
            prev_masked = True
        else:
            out.append(tok)
            prev_masked = False
    return out


def encode_fields(tokenizer: Any, texts: Sequence[Sequence[str]], sep_id: int) -> list[list[int]]:
    """Token ids of 1- or 2-field texts, each as one sequence ``a [SEP] b`` (no other specials).

    Fields are tokenized separately (one batched call per field position) with
    ``split_special_tokens``, so a literal "[SEP]" typed inside a text is tokenized as text
    and can never be confused with the pair separator.
    """
    if not texts:
        return []
    n_fields = len(texts[0])
    if n_fields == 0 or any(len(t) != n_fields for t in texts):
        raise ValueError("every text needs the same, non-zero number of fields")
    per_field = [
        tokenizer([t[f] for t in texts], add_special_tokens=False, split_special_tokens=True)["input_ids"]
        for f in range(n_fields)
    ]
    out: list[list[int]] = []
    for i in range(len(texts)):
        ids: list[int] = []
        for f in range(n_fields):
            if f:
                ids.append(sep_id)
            ids.extend(per_field[f][i])
        out.append(ids)
    return out
