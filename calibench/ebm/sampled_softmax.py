"""Sampled softmax for the noise LM's vocabulary head (Bengio & Senécal 2008; Jean et al. 2015).

Why: the tied 30k-wide head of a small LM such as MiniLM is about a third of a training
step's compute (its forward, its input gradient and its weight gradient). A sampled softmax
scores each labelled position against a small candidate set instead: every distinct target
of the batch, plus ``S`` negatives drawn from a proposal ``q`` over the rest of the
vocabulary. The partition function is then estimated by importance sampling,

    Z = sum_{w in T} e^{l_w} + sum_{w not in T} e^{l_w}
      ~ sum_{w in T} e^{l_w} + (1/S) sum_{s=1..S} e^{l_{w_s}} / q_R(w_s),

an unbiased estimate of ``Z`` (``q_R`` is ``q`` restricted to the words outside the batch's
targets ``T``), so the loss is the cross-entropy over the candidates with each negative's
logit lowered by ``log(S q_R(w))``. Perplexity is always measured with the full softmax.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

#: the unigram part of the proposal is counts^POWER (word2vec's smoothing: frequent words
#: are likelier negatives, rare ones not starved)
POWER = 0.75


def proposal(counts: torch.Tensor, unigram_share: float = 0.5) -> torch.Tensor:
    """A proposal over the vocabulary: ``unigram_share`` of the mass on the training text's
    smoothed unigram distribution, the rest uniform, so every word can be drawn."""
    if counts.ndim != 1 or counts.numel() == 0:
        raise ValueError("counts must be a non-empty vector, one count per vocabulary row")
    if not 0.0 <= unigram_share < 1.0:
        raise ValueError(f"unigram_share must be in [0, 1), got {unigram_share}")
    counts = counts.double().clamp_min(0)
    smoothed = counts.pow(POWER)
    uniform = torch.full_like(smoothed, 1.0 / counts.numel())
    if smoothed.sum() == 0:
        return uniform
    return unigram_share * smoothed / smoothed.sum() + (1 - unigram_share) * uniform


def token_counts(rows: Iterable[Iterable[int]], vocab: int) -> torch.Tensor:
    """How often each id occurs in ``rows`` (ids >= ``vocab`` are an error)."""
    counts = torch.zeros(vocab, dtype=torch.float64)
    for row in rows:
        ids = torch.as_tensor(list(row), dtype=torch.long)
        if ids.numel():
            counts += torch.bincount(ids, minlength=vocab).double()[:vocab]
    return counts


def sampled_nll(
    features: torch.Tensor,
    targets: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    q: torch.Tensor,
    n_negatives: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Summed NLL of ``targets`` (N,) under the sampled softmax of ``features`` (N, d) against
    the output rows ``weight`` (V, d) and ``bias`` (V,): the batch's distinct targets plus
    ``n_negatives`` draws (with replacement) from ``q`` restricted to the other words."""
    if n_negatives < 1:
        raise ValueError(f"n_negatives must be >= 1, got {n_negatives}")
    positives = torch.unique(targets)  # sorted
    rest = q.clone()
    rest[positives] = 0
    mass = rest.sum()
    if mass > 0:
        negatives = torch.multinomial(rest.float(), n_negatives, replacement=True, generator=generator)
        log_expected = torch.log(n_negatives * rest[negatives] / mass).to(torch.float32)
        candidates = torch.cat([positives, negatives])
        correction = torch.cat([torch.zeros(len(positives)), log_expected])
    else:  # the batch's targets are the whole vocabulary: the exact softmax
        candidates, correction = positives, torch.zeros(len(positives))
    logits = features @ weight.index_select(0, candidates).T
    if bias is not None:
        logits = logits + bias.index_select(0, candidates)
    logits = logits.float() - correction
    return torch.nn.functional.cross_entropy(logits, torch.searchsorted(positives, targets), reduction="sum")


def head_parts(lm: Any, head: Any) -> tuple[Any, torch.Tensor, torch.Tensor | None]:
    """``(features, weight, bias)`` of a causal LM's vocabulary head ``head`` (what
    :func:`calibench.ebm.sampling.split_head` returns): a function from the body's hidden
    states to the head's last input, and the output projection's parameters. The head's
    own transform (BERT's dense + GELU + LayerNorm, RoBERTa's) runs with its decoder
    stood in for by the identity; GPT-2's head is the projection itself."""
    out = lm.get_output_embeddings()
    if out is None or not isinstance(getattr(out, "weight", None), torch.Tensor):
        raise ValueError(f"{type(lm).__name__} has no output projection a sampled softmax can use")
    bias = getattr(out, "bias", None)
    if head is out:
        return (lambda hidden: hidden), out.weight, bias
    owner, name = next(
        ((m, n) for m in head.modules() for n, child in m.named_children() if child is out),
        (None, None),
    )
    if owner is None:
        raise ValueError(f"{type(head).__name__} does not hold the LM's output projection")

    def features(hidden: torch.Tensor) -> torch.Tensor:
        setattr(owner, name, torch.nn.Identity())
        try:
            return head(hidden)
        finally:
            setattr(owner, name, out)

    return features, out.weight, bias
