"""The partial-to-full corruption: mask rate, span merging, protected tokens, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from calibench.ebm.masking import encode_fields, mask_spans, merge_masks

MASK, SEP, CLS = 103, 102, 101


def _mask_with(ids: list[int], masked_positions: set[int], protected: set[int] = frozenset()) -> list[int]:
    hits = [i in masked_positions for i in range(len(ids))]
    return merge_masks(ids, hits, mask_id=MASK, protected_ids=protected)


def test_consecutive_masks_merge_into_one_span() -> None:
    ids = [1, 2, 3, 4, 5, 6, 7]
    assert _mask_with(ids, {1, 2, 3, 5}) == [1, MASK, 5, MASK, 7]
    assert _mask_with(ids, set(range(7))) == [MASK]
    assert _mask_with(ids, set()) == ids


def test_separator_is_never_masked_and_breaks_a_span() -> None:
    ids = [1, 2, SEP, 3, 4]
    # every position drawn as "mask": the separator survives and splits the run in two
    assert _mask_with(ids, set(range(5)), protected={SEP, CLS}) == [MASK, SEP, MASK]


def test_rate_zero_and_one() -> None:
    rng = np.random.default_rng(0)
    ids = list(range(1000, 1050))
    assert mask_spans(ids, mask_id=MASK, rate=0.0, rng=rng) == ids
    assert mask_spans(ids, mask_id=MASK, rate=1.0, rng=rng) == [MASK]
    with pytest.raises(ValueError):
        mask_spans(ids, mask_id=MASK, rate=1.5, rng=rng)


def test_empirical_rate_is_m_over_many_tokens() -> None:
    """Unmerged, the fraction of masked tokens is ~M; merged, spans = number of mask runs."""
    rng = np.random.default_rng(123)
    m = 0.4
    n_tok, n_masked, n_spans = 0, 0, 0
    for _ in range(400):
        ids = list(range(2000, 2050))
        out = mask_spans(ids, mask_id=MASK, rate=m, rng=rng)
        kept = sum(1 for t in out if t != MASK)
        n_tok += len(ids)
        n_masked += len(ids) - kept
        n_spans += out.count(MASK)
    assert n_masked / n_tok == pytest.approx(m, abs=0.01)  # 20k Bernoulli(0.4): sd 0.0035
    # expected number of runs of a Bernoulli(m) sequence of length L: m + (L-1) m (1-m)
    expected_spans = 400 * (m + 49 * m * (1 - m))
    assert n_spans == pytest.approx(expected_spans, rel=0.03)


def test_numpy_and_torch_generators_are_deterministic() -> None:
    ids = list(range(3000, 3100))
    a = mask_spans(ids, mask_id=MASK, rate=0.4, rng=np.random.default_rng(7))
    b = mask_spans(ids, mask_id=MASK, rate=0.4, rng=np.random.default_rng(7))
    c = mask_spans(ids, mask_id=MASK, rate=0.4, rng=np.random.default_rng(8))
    assert a == b and a != c
    t1 = mask_spans(ids, mask_id=MASK, rate=0.4, rng=torch.Generator().manual_seed(7))
    t2 = mask_spans(ids, mask_id=MASK, rate=0.4, rng=torch.Generator().manual_seed(7))
    assert t1 == t2 and MASK in t1
    with pytest.raises(TypeError):
        mask_spans(ids, mask_id=MASK, rate=0.4, rng=7)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    ids=st.lists(st.sampled_from([1, 2, 3, SEP, CLS]), min_size=0, max_size=40),
    rate=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_corruption_invariants(ids: list[int], rate: float, seed: int) -> None:
    out = mask_spans(ids, mask_id=MASK, rate=rate, rng=np.random.default_rng(seed), protected_ids={SEP, CLS})
    # protected tokens all survive, in order
    assert [t for t in out if t in (SEP, CLS)] == [t for t in ids if t in (SEP, CLS)]
    # no two masks in a row
    assert all(not (a == MASK and b == MASK) for a, b in zip(out, out[1:]))
    # the unmasked tokens are an order-preserving subsequence of the input
    it = iter(ids)
    assert all(any(t == s for s in it) for t in out if t != MASK)
    assert len(out) <= len(ids)


def test_encode_fields_joins_pairs_with_the_separator_and_keeps_literal_text() -> None:
    from transformers import AutoTokenizer

    from calibench.ebm.noise_model import _resolve_name

    tok = AutoTokenizer.from_pretrained(_resolve_name("all-MiniLM-L6-v2"))
    [single] = encode_fields(tok, [("a good film",)], SEP)
    assert SEP not in single and len(single) == 3
    [pair] = encode_fields(tok, [("a good film", "it was bad")], SEP)
    assert pair.count(SEP) == 1 and pair[:3] == single
    # a literal "[SEP]" typed inside a text is text, not the pair separator
    [lit] = encode_fields(tok, [("a [SEP] b",)], SEP)
    assert SEP not in lit
    with pytest.raises(ValueError):
        encode_fields(tok, [("a",), ("b", "c")], SEP)
