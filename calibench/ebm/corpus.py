"""The cached noise corpus NCE reads from, and the cached noise LM that writes it.

Generation is expensive (an LM trained per task, then one sample per input), NCE reads
the corpus sequentially for a whole training run, and several recipes (scalar, hidden,
sharp-hidden; several seeds) share it. So both are artifacts in the
:class:`~calibench.store.artifacts.ArtifactStore`:

* ``noise-lm/<key>``: the trained LM's weights as one safetensors blob (stored as a uint8
  array, so the store's checksums and atomic writes cover it; no pickle), keyed by
  (task, training-text fingerprint, the LM's training options). A larger corpus, another
  seed, or another top-k reuses it without retraining.
* ``noise-corpus/<key>``: ``texts.jsonl`` (one JSON list of 1 or 2 fields per line),
  ``preview.jsonl`` (the masked input and sample text of the first samples, for inspection)
  and ``data.json`` (stats, config, provenance), keyed by (task, fingerprint, full noise
  config, n_samples, seed).

A corrupt (checksum mismatch), partial (no manifest) or inconsistent (wrong count or
arity) artifact is deleted and regenerated, never used.

Long steps report through an optional ``progress(stage, done, total)`` callable (stages
``"noise-lm"``: optimiser steps, ``"noise-corpus"``: usable samples); nothing is printed,
so the CLI can drive a rich progress bar and library callers stay silent.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from calibench.ebm import noise_model as nm
from calibench.ebm.noise_model import FORMAT_VERSION, NoiseModel, NoiseModelConfig, Text, fingerprint_texts
from calibench.store.artifacts import ArtifactCorrupt, ArtifactMissing, ArtifactStore

Progress = Callable[[str, int, int], None]

LM_KIND = "noise-lm"
CORPUS_KIND = "noise-corpus"
PREVIEW_SIZE = 1000  # masked-input / sample pairs kept with a corpus for `noise show`
_CHUNK = 512  # inputs sampled per round while filling a corpus
_EARLY_STOP_AFTER = 256  # attempts before the keep rate is trusted to give up early


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def _n_fields(texts: Sequence[Text]) -> int:
    if not texts:
        raise ValueError("no training texts")
    n = len(texts[0])
    if n not in (1, 2) or any(len(t) != n for t in texts):
        raise ValueError("texts must all be 1-tuples (single sentence) or all 2-tuples (pairs)")
    return n


def noise_lm_key(task_name: str, train_fingerprint: str, cfg: NoiseModelConfig) -> str:
    """Cache key of a trained noise LM: sampling options do not enter it."""
    return _hash({"v": FORMAT_VERSION, "task": task_name, "train": train_fingerprint, "lm": cfg.training_identity()})


def corpus_key(task_name: str, train_fingerprint: str, cfg: NoiseModelConfig, n_samples: int, seed: int) -> str:
    """Cache key of a noise corpus."""
    return _hash(
        {
            "v": FORMAT_VERSION,
            "task": task_name,
            "train": train_fingerprint,
            "cfg": cfg.resolved().to_dict(),
            "n": n_samples,
            "seed": seed,
        }
    )


@dataclass
class NoiseModelInfo:
    key: str
    source: str  # "trained" or "cache"
    train_seconds: float
    wait_seconds: float = 0.0  # waiting for a concurrent training that was training this LM


def get_noise_model(
    task_name: str,
    train_texts: Sequence[Text],
    cfg: NoiseModelConfig,
    artifacts: ArtifactStore,
    progress: Progress | None = None,
    *,
    train_fingerprint: str | None = None,
) -> tuple[NoiseModel, NoiseModelInfo]:
    """The noise LM for this task and config: from the store, or trained and stored."""
    cfg = cfg.resolved()
    fp = train_fingerprint or fingerprint_texts(train_texts)
    key = noise_lm_key(task_name, fp, cfg)
    with artifacts.building(LM_KIND, key) as waited:  # concurrent trainings of a task train it once
        model, info = _noise_model(task_name, train_texts, cfg, artifacts, progress, fp, key)
    return model, replace(info, wait_seconds=waited)


def _noise_model(
    task_name: str,
    train_texts: Sequence[Text],
    cfg: NoiseModelConfig,
    artifacts: ArtifactStore,
    progress: Progress | None,
    fp: str,
    key: str,
) -> tuple[NoiseModel, NoiseModelInfo]:
    try:
        art = artifacts.read(LM_KIND, key)
        blob = art.arrays["weights"].tobytes()
        # the key pins every training option; sampling options come from the caller's cfg
        model = NoiseModel.from_state_bytes(blob, cfg)
        model.train_seconds = float(art.json["train_seconds"])
        model.history = list(art.json.get("history", []))
        return model, NoiseModelInfo(key, "cache", model.train_seconds)
    except (ArtifactMissing, ArtifactCorrupt, KeyError, ValueError, RuntimeError):
        artifacts.delete(LM_KIND, key)  # whatever was there is unusable: retrain
    model = nm.train_noise_model(train_texts, cfg, progress=progress)
    blob = np.frombuffer(model.state_bytes(), dtype=np.uint8)
    artifacts.write(
        LM_KIND,
        key,
        arrays={"weights": blob},
        json_data={
            "task": task_name,
            "train_fingerprint": fp,
            "n_train": len(train_texts),
            "config": cfg.to_dict(),
            "train_seconds": model.train_seconds,
            "history": model.history,
            "format_version": FORMAT_VERSION,
        },
    )
    return model, NoiseModelInfo(key, "trained", model.train_seconds)


@dataclass
class CorpusStats:
    """What a corpus is like; stored with it and shown by ``calibench noise``.

    Lengths are in noise-LM tokens of the generated text (end token excluded).
    """

    count: int
    n_fields: int
    attempted: int  # inputs sampled to obtain ``count`` usable samples
    dropped_separator: int  # wrong number of pair separators
    dropped_empty: int  # an empty field
    dropped_fraction: float  # (dropped_separator + dropped_empty) / attempted
    truncated: int  # kept samples that hit max_new_tokens before the end token
    length_mean: float
    length_p50: float
    length_p90: float
    length_max: int
    dev_perplexity: float | None
    generation_seconds: float
    samples_per_second: float
    noise_model_key: str
    noise_model_source: str  # "trained" or "cache" at generation time
    noise_model_train_seconds: float
    #: the LM's training steps, and its last held-out perplexity where a target stopped it
    #: (None in corpora stored before these were kept)
    noise_model_steps: int | None = None
    noise_model_holdout_perplexity: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class NoiseCorpus:
    """Noise texts as tuples of 1 or 2 fields, so a classifier's tokenizer encodes them like data."""

    key: str
    texts: list[Text]
    stats: CorpusStats
    config: NoiseModelConfig
    from_cache: bool
    preview: list[tuple[str, str]] = field(default_factory=list)  # (masked input, sample)
    path: Path | None = None
    #: seconds this training waited for concurrent ones building the corpus or its noise LM:
    #: neither its own work nor the build's, so the cost model leaves it out of both
    wait_seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> Text:
        return self.texts[i]

    def __iter__(self) -> Iterator[Text]:
        return iter(self.texts)

    def batches(self, batch_size: int, start: int = 0) -> Iterator[list[Text]]:
        """Endless sequential batches, wrapping around: the NCE noise pointer, which
        advances independently of the data pointer (as in the reference)."""
        if batch_size < 1 or not self.texts:
            raise ValueError("need batch_size >= 1 and a non-empty corpus")
        n = len(self.texts)
        pos = start % n
        while True:
            batch = [self.texts[(pos + i) % n] for i in range(batch_size)]
            pos = (pos + batch_size) % n
            yield batch


def _load_corpus(artifacts: ArtifactStore, key: str, n_samples: int, n_fields: int) -> NoiseCorpus:
    art = artifacts.read(CORPUS_KIND, key)  # raises ArtifactMissing / ArtifactCorrupt
    lines = art.lines.get("texts")
    data = art.json
    if lines is None or "stats" not in data:
        raise ArtifactCorrupt(f"noise corpus {key}: texts or stats missing")
    stats = CorpusStats(**data["stats"])
    if not (len(lines) == stats.count == n_samples):
        raise ArtifactCorrupt(f"noise corpus {key}: {len(lines)} texts, stats say {stats.count}, expected {n_samples}")
    texts: list[Text] = []
    for row in lines:
        if not isinstance(row, list) or len(row) != n_fields or not all(isinstance(s, str) and s for s in row):
            raise ArtifactCorrupt(f"noise corpus {key}: malformed text {row!r}")
        texts.append(tuple(row))
    preview = [(str(a), str(b)) for a, b in art.lines.get("preview", [])]
    return NoiseCorpus(
        key=key,
        texts=texts,
        stats=stats,
        config=NoiseModelConfig.from_dict(data["config"]),
        from_cache=True,
        preview=preview,
        path=art.path,
    )


def _render_sample(fields: Sequence[str], sep: str) -> str:
    return f" {sep} ".join(fields)


def generate_samples(
    model: NoiseModel,
    train_texts: Sequence[Text],
    n_samples: int,
    seed: int,
    progress: Progress | None = None,
) -> tuple[list[Text], list[tuple[str, str]], dict[str, Any]]:
    """Walk ``train_texts`` in order (cycling), re-mask each input and sample it until
    ``n_samples`` usable samples exist. Returns (texts, preview pairs, counters)."""
    _n_fields(train_texts)  # validates
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    sep = model.tokenizer.convert_ids_to_tokens(model.tokens.sep)
    kept: list[Text] = []
    preview: list[tuple[str, str]] = []
    lengths: list[int] = []
    counts = {"attempted": 0, "dropped_separator": 0, "dropped_empty": 0, "truncated": 0}
    max_attempts = 20 * n_samples + 10 * _CHUNK
    pos = 0
    n_train = len(train_texts)
    while len(kept) < n_samples:
        # stop as soon as the keep rate so far cannot fill the corpus within max_attempts (a
        # noise LM that never keeps the pair separator fails in seconds, not after hours)
        projected = counts["attempted"] * n_samples / max(len(kept), 1e-9)
        hopeless = counts["attempted"] >= _EARLY_STOP_AFTER and projected > max_attempts
        if counts["attempted"] >= max_attempts or hopeless:
            raise RuntimeError(
                f"noise model kept only {len(kept)} of {counts['attempted']} samples "
                f"({counts['dropped_separator']} lost the pair separator); train it longer or lower mask_rate"
            )
        need = n_samples - len(kept)
        size = min(_CHUNK, need)  # never more than needed: every sampled input is accounted for
        batch = [train_texts[(pos + i) % n_train] for i in range(size)]
        pos = (pos + size) % n_train
        out = model.sample(batch, rng=rng, generator=gen)
        counts["attempted"] += size
        for masked, s in zip(out.masked, out.samples):
            if s.fields is None:
                counts[f"dropped_{s.dropped}"] += 1
                continue
            kept.append(s.fields)
            lengths.append(s.n_tokens)
            counts["truncated"] += int(s.truncated)
            if len(preview) < PREVIEW_SIZE:
                preview.append((model.render(masked), _render_sample(s.fields, sep)))
        if progress is not None:
            progress("noise-corpus", len(kept), n_samples)
    counts["lengths"] = lengths
    return kept, preview, counts


def get_noise_corpus(
    task_name: str,
    train_texts: Sequence[Text],
    dev_texts: Sequence[Text] | None,
    cfg: NoiseModelConfig,
    n_samples: int,
    seed: int,
    artifacts: ArtifactStore,
    progress: Progress | None = None,
) -> NoiseCorpus:
    """The noise corpus for a task: read from the store, or generated (training or loading
    the noise LM first) and stored. ``dev_texts`` only feed the stored perplexity."""
    if n_samples < 1:
        raise ValueError("n_samples must be >= 1")
    cfg = cfg.resolved()
    train_texts = [tuple(t) for t in train_texts]
    n_fields = _n_fields(train_texts)
    fp = fingerprint_texts(train_texts)
    key = corpus_key(task_name, fp, cfg, n_samples, seed)
    with artifacts.building(CORPUS_KIND, key) as waited:  # concurrent trainings of a task build it once
        try:
            corpus = _load_corpus(artifacts, key, n_samples, n_fields)
        except (ArtifactMissing, ArtifactCorrupt, ValueError, TypeError, KeyError):
            # missing, partial (no manifest), corrupt or inconsistent: never used, regenerated
            artifacts.delete(CORPUS_KIND, key)
            corpus = _build_corpus(
                task_name, train_texts, dev_texts, cfg, n_samples, seed, artifacts, progress, fp, key
            )
    return replace(corpus, wait_seconds=corpus.wait_seconds + waited)


def _build_corpus(
    task_name: str,
    train_texts: list[Text],
    dev_texts: Sequence[Text] | None,
    cfg: NoiseModelConfig,
    n_samples: int,
    seed: int,
    artifacts: ArtifactStore,
    progress: Progress | None,
    fp: str,
    key: str,
) -> NoiseCorpus:
    n_fields = _n_fields(train_texts)
    model, info = get_noise_model(task_name, train_texts, cfg, artifacts, progress, train_fingerprint=fp)
    t0 = time.perf_counter()
    texts, preview, c = generate_samples(model, train_texts, n_samples, seed, progress)
    gen_seconds = time.perf_counter() - t0
    dev_ppl = model.perplexity(list(dev_texts), seed=seed) if dev_texts else None
    lengths = np.asarray(c["lengths"], dtype=np.float64)
    dropped = c["dropped_separator"] + c["dropped_empty"]
    stats = CorpusStats(
        count=len(texts),
        n_fields=n_fields,
        attempted=c["attempted"],
        dropped_separator=c["dropped_separator"],
        dropped_empty=c["dropped_empty"],
        dropped_fraction=dropped / max(c["attempted"], 1),
        truncated=c["truncated"],
        length_mean=float(lengths.mean()),
        length_p50=float(np.percentile(lengths, 50)),
        length_p90=float(np.percentile(lengths, 90)),
        length_max=int(lengths.max()),
        dev_perplexity=dev_ppl,
        generation_seconds=gen_seconds,
        samples_per_second=len(texts) / max(gen_seconds, 1e-9),
        noise_model_key=info.key,
        noise_model_source=info.source,
        noise_model_train_seconds=info.train_seconds,
        noise_model_steps=int(model.history[-1]["steps"]) if model.history else None,
        noise_model_holdout_perplexity=model.history[-1].get("holdout_perplexity") if model.history else None,
    )
    path = artifacts.write(
        CORPUS_KIND,
        key,
        lines={"texts": [list(t) for t in texts], "preview": [list(p) for p in preview]},
        json_data={
            "task": task_name,
            "train_fingerprint": fp,
            "n_samples": n_samples,
            "seed": seed,
            "config": cfg.to_dict(),
            "stats": stats.to_dict(),
            "format_version": FORMAT_VERSION,
        },
    )
    return NoiseCorpus(
        key=key,
        texts=texts,
        stats=stats,
        config=cfg,
        from_cache=False,
        preview=preview,
        path=path,
        wait_seconds=info.wait_seconds,
    )


def inspect_samples(
    corpus_or_model: NoiseCorpus | NoiseModel,
    texts: Sequence[Text] | None = None,
    n: int = 10,
    seed: int = 0,
) -> list[tuple[str, str]]:
    """``n`` (masked input, sample) pairs as display strings, pair fields joined by the
    separator token.

    From a :class:`NoiseModel`: the first ``n`` of ``texts`` are masked and sampled afresh
    with ``seed`` (dropped samples show their raw decoding). From a :class:`NoiseCorpus`:
    ``n`` pairs drawn with ``seed`` from the preview stored with it (``texts`` unused).
    """
    if n < 1:
        return []
    if isinstance(corpus_or_model, NoiseCorpus):
        pv = corpus_or_model.preview
        if not pv:
            return []
        idx = np.sort(np.random.default_rng(seed).choice(len(pv), size=min(n, len(pv)), replace=False))
        return [pv[i] for i in idx]
    model = corpus_or_model
    if not texts:
        raise ValueError("inspecting a noise model needs input texts")
    chosen = [tuple(t) for t in texts[:n]]
    out = model.sample(chosen, rng=np.random.default_rng(seed), generator=torch.Generator().manual_seed(seed))
    sep = model.tokenizer.convert_ids_to_tokens(model.tokens.sep)
    rendered: list[tuple[str, str]] = []
    for masked, s in zip(out.masked, out.samples):
        if s.fields is not None:
            sample = _render_sample(s.fields, sep)
        else:
            sample = f"(dropped: {s.dropped}) {s.raw}"
        rendered.append((model.render(masked), sample))
    return rendered
