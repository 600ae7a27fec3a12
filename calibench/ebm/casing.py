"""Can the energy tell noise from data by letter case alone?

The offline ``tiny-scratch`` noise LM decodes through MiniLM's *uncased* WordPiece, so its
samples are all lower case. A cased classifier (RoBERTa's BPE, say) sees capitals in every
data row and none in the noise, and NCE can then be won on case alone: the energy learns
nothing about the data's density. This module detects that before training.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any


class CaseMismatchWarning(UserWarning):
    """Noise samples are lower-cased but the classifier's tokenizer sees case."""


def tokenizer_is_cased(tokenizer: Any) -> bool:
    """True when ``tokenizer`` encodes ``"Paris"`` and ``"paris"`` differently."""
    return (
        tokenizer("Paris", add_special_tokens=False)["input_ids"]
        != tokenizer("paris", add_special_tokens=False)["input_ids"]
    )


def _upper_fraction(texts: Sequence[Sequence[str]]) -> float:
    letters = upper = 0
    for row in texts:
        for text in row:
            for ch in text:
                if ch.isalpha():
                    letters += 1
                    upper += ch.isupper()
    return upper / letters if letters else 0.0


def case_mismatch(
    data_texts: Sequence[Sequence[str]], noise_texts: Sequence[Sequence[str]], tokenizer: Any
) -> str | None:
    """A one-line explanation when the data has capitals, the noise none, and the tokenizer is cased."""
    data_upper, noise_upper = _upper_fraction(data_texts), _upper_fraction(noise_texts)
    if data_upper == 0.0 or noise_upper > 0.0 or not tokenizer_is_cased(tokenizer):
        return None
    return (
        f"the noise samples are all lower case but {data_upper:.1%} of the training text's letters are "
        "capitals and the classifier's tokenizer is cased, so the energy can tell noise from data by case "
        "alone; use a cased noise LM (noise_lm=gpt2, or the classifier's own checkpoint) or an uncased "
        "classifier"
    )


def warn_on_case_mismatch(
    data_texts: Sequence[Sequence[str]], noise_texts: Sequence[Sequence[str]], tokenizer: Any
) -> str | None:
    """Warn (:class:`CaseMismatchWarning`) when :func:`case_mismatch` finds one; return its text."""
    why = case_mismatch(data_texts, noise_texts, tokenizer)
    if why is not None:
        warnings.warn(f"EBM noise: {why}", CaseMismatchWarning, stacklevel=2)
    return why
