"""The noise corpus: cache hits, LM reuse, corrupt/partial/inconsistent artifacts
regenerated, stats, sequential reading, inspection."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from _tiny import bert_style_lm, single_texts, tiny_config

from calibench.ebm import corpus as corpus_mod
from calibench.ebm import noise_model as nm
from calibench.ebm.corpus import (
    CORPUS_KIND,
    LM_KIND,
    NoiseCorpus,
    generate_samples,
    get_noise_corpus,
    inspect_samples,
)
from calibench.ebm.sampling import DecodedSample
from calibench.store.artifacts import ArtifactStore

N = 24


@pytest.fixture(scope="module")
def _built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, NoiseCorpus, dict[str, int]]:
    """One store holding a trained tiny LM and the default corpus, built once per module
    from empty, with the LM trainings and corpus generations it took counted."""
    root = tmp_path_factory.mktemp("built")
    with pytest.MonkeyPatch.context() as mp:
        calls = _count(mp)
        c = _get(ArtifactStore(root))
    return root, c, dict(calls)


@pytest.fixture
def store(_built, tmp_path: Path) -> ArtifactStore:
    """A private copy of the built store: the LM and the default corpus are already there."""
    shutil.copytree(_built[0], tmp_path / "store")
    return ArtifactStore(tmp_path / "store")


def _count(mp: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts LM trainings and corpus generations (timing-free cache-hit checks)."""
    calls = {"train": 0, "generate": 0}
    real_train, real_gen = nm.train_noise_model, corpus_mod.generate_samples

    def train(*a, **k):
        calls["train"] += 1
        return real_train(*a, **k)

    def gen(*a, **k):
        calls["generate"] += 1
        return real_gen(*a, **k)

    mp.setattr(nm, "train_noise_model", train)
    mp.setattr(corpus_mod, "generate_samples", gen)
    return calls


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    return _count(monkeypatch)


def _get(store: ArtifactStore, n: int = N, seed: int = 0, **cfg: object) -> NoiseCorpus:
    return get_noise_corpus("toy", single_texts(30), single_texts(6), tiny_config(**cfg), n, seed, store)


def test_first_call_generates_second_call_is_a_cache_hit(_built, store, counted) -> None:
    _, first, calls = _built  # built from an empty store
    assert not first.from_cache and calls == {"train": 1, "generate": 1}
    assert len(first) == N and all(isinstance(t, tuple) and len(t) == 1 for t in first)
    s = first.stats
    assert s.count == N and s.attempted == N + s.dropped_separator + s.dropped_empty
    assert s.dropped_fraction == pytest.approx((s.attempted - N) / s.attempted)
    assert s.noise_model_source == "trained" and s.dev_perplexity is not None and s.dev_perplexity > 1
    assert 0 < s.length_p50 <= s.length_p90 <= s.length_max <= tiny_config().max_new_tokens
    assert first.preview and all(isinstance(a, str) and isinstance(b, str) for a, b in first.preview)

    second = _get(store)
    assert second.from_cache and counted == {"train": 0, "generate": 0}
    assert second.texts == first.texts and second.stats == first.stats and second.key == first.key


def test_a_training_that_waits_for_a_concurrent_build_records_the_wait(store) -> None:
    """The cost model keeps that wait out of the training's own fixed cost: on two workers
    the second EBM training of a task once showed 12 minutes of "fixed" time that was this."""
    import threading

    key = _get(store).key
    assert _get(store).wait_seconds < 0.5  # nobody else building: no wait
    held, release = threading.Event(), threading.Event()

    def other_builder() -> None:  # a second flock on its own open file: as another process
        with ArtifactStore(store.root).building(CORPUS_KIND, key):
            held.set()
            release.wait(10)

    t = threading.Thread(target=other_builder)
    t.start()
    held.wait(10)
    threading.Timer(1.0, release.set).start()
    waited = _get(store)
    t.join()
    assert waited.from_cache and 0.8 < waited.wait_seconds < 10


def test_a_cached_encoder_family_lm_is_loaded_not_retrained(tmp_path) -> None:
    """BERT ties its decoder's weight and bias to other tensors, stored once: the load must
    re-tie them (it once failed, and every cached MiniLM noise LM was silently retrained)."""
    folder = bert_style_lm(tmp_path / "enc")
    cfg, store = tiny_config(lm=str(folder), lr=1e-3, epochs=1), ArtifactStore(tmp_path / "art")
    trained, first = corpus_mod.get_noise_model("toy", single_texts(8), cfg, store)
    cached, again = corpus_mod.get_noise_model("toy", single_texts(8), cfg, store)
    assert (first.source, again.source) == ("trained", "cache")
    assert cached.perplexity(single_texts(4)) == trained.perplexity(single_texts(4))


def test_a_larger_corpus_or_new_seed_reuses_the_trained_lm(store, counted) -> None:
    a = _get(store)
    b = _get(store, n=N + 5)
    c = _get(store, seed=1, top_k=5)  # sampling options do not retrain either
    assert counted == {"train": 0, "generate": 2} and a.from_cache
    assert b.stats.noise_model_source == c.stats.noise_model_source == "cache"
    # the cached LM samples with the caller's sampling options, not those it was trained under
    model, info = corpus_mod.get_noise_model("toy", single_texts(30), tiny_config(top_k=5), store)
    assert info.source == "cache" and model.config.top_k == 5 and c.config.top_k == 5
    assert len({a.key, b.key, c.key}) == 3 and len(store.keys(LM_KIND)) == 1
    d = _get(store, n=3, mask_rate=0.2)  # a training option does
    assert counted["train"] == 1 and d.stats.noise_model_source == "trained"


def test_a_target_perplexity_trains_another_lm_and_the_corpus_records_where_it_stopped(store, counted) -> None:
    plain = _get(store)
    assert plain.stats.noise_model_steps == 4 and plain.stats.noise_model_holdout_perplexity is None  # 30 / 8
    stopped = _get(store, epochs=3, target_perplexity=1e9)  # reached after the first epoch
    assert counted == {"train": 1, "generate": 1} and len(store.keys(LM_KIND)) == 2
    assert stopped.stats.noise_model_steps == 4  # 28 of 30 inputs trained on, 2 held out
    assert stopped.stats.noise_model_holdout_perplexity > 1
    again = _get(store, epochs=3, target_perplexity=1e9)
    assert again.from_cache and again.stats == stopped.stats


def test_the_callers_rng_ends_the_same_whether_the_lm_was_trained_loaded_or_cached(tmp_path) -> None:
    """An EBM training gets its corpus inside its own training, then draws its dropout from
    torch's global RNG: building, training or loading the noise LM must not move that RNG,
    or the training's numbers would depend on what the cache held."""
    import torch

    store = ArtifactStore(tmp_path / "art")

    def rng_after_get() -> torch.Tensor:
        torch.manual_seed(11)
        _get(store)
        return torch.random.get_rng_state()

    trained = rng_after_get()
    cached = rng_after_get()
    for key in store.keys(CORPUS_KIND):
        store.delete(CORPUS_KIND, key)
    loaded = rng_after_get()  # the LM from the cache, the corpus sampled again
    torch.manual_seed(11)
    assert all(torch.equal(s, torch.random.get_rng_state()) for s in (trained, cached, loaded))


def test_generation_is_deterministic_given_the_seed(store, _built) -> None:
    store.delete(CORPUS_KIND, _get(store).key)
    again = _get(store)  # regenerated from the cached LM
    assert not again.from_cache and again.texts == _built[1].texts


def _corpus_dir(store: ArtifactStore, key: str):
    return store.path(CORPUS_KIND, key)


def test_corrupt_corpus_is_regenerated_not_used(store, counted) -> None:
    first = _get(store)
    f = _corpus_dir(store, first.key) / "texts.jsonl"
    f.write_text(f.read_text().replace("a", "b", 1))  # flips the checksum
    again = _get(store)
    assert not again.from_cache and counted == {"train": 0, "generate": 1}
    assert again.texts == first.texts  # same seed, same corpus
    assert _get(store).from_cache  # and the repaired artifact is used from then on


def test_partial_corpus_without_manifest_is_regenerated(store, counted) -> None:
    first = _get(store)
    (_corpus_dir(store, first.key) / "MANIFEST.json").unlink()
    again = _get(store)
    assert not again.from_cache and counted["generate"] == 1 and again.texts == first.texts


def test_count_mismatch_is_detected_even_with_valid_checksums(store, counted) -> None:
    first = _get(store)
    art = store.read(CORPUS_KIND, first.key)
    store.delete(CORPUS_KIND, first.key)
    store.write(CORPUS_KIND, first.key, lines={"texts": art.lines["texts"][:-3]}, json_data=art.json)
    again = _get(store)
    assert not again.from_cache and len(again) == N and counted["generate"] == 1


def test_corrupt_noise_lm_is_retrained(store, counted) -> None:
    first = _get(store)
    [lm_key] = store.keys(LM_KIND)
    w = store.path(LM_KIND, lm_key) / "weights.npy"
    raw = bytearray(w.read_bytes())
    raw[-1] ^= 0xFF
    w.write_bytes(bytes(raw))
    _get(store, n=3)
    assert first.from_cache and counted["train"] == 1


def test_batches_read_sequentially_and_wrap_around(store) -> None:
    c = _get(store, n=5)
    it = c.batches(2)
    got = [next(it) for _ in range(4)]
    flat = [t for b in got for t in b]
    assert flat == [c[i % 5] for i in range(8)]
    assert next(c.batches(3, start=4)) == [c[4], c[0], c[1]]


@dataclass
class _FakeTokens:
    sep: int = 2


class _FakeTokenizer:
    def convert_ids_to_tokens(self, i: int) -> str:
        return "[SEP]"


class _FakePairModel:
    """Scripted samples: every third loses its separator, every fifth has an empty side."""

    tokens = _FakeTokens()
    tokenizer = _FakeTokenizer()

    def __init__(self) -> None:
        self.seen: list[tuple[str, ...]] = []
        self.n = 0

    def render(self, ids: list[int]) -> str:
        return "masked"

    def sample(self, texts, *, rng, generator):
        from calibench.ebm.noise_model import NoiseSamples

        out = []
        for t in texts:
            self.seen.append(t)
            self.n += 1
            if self.n % 3 == 0:
                out.append(DecodedSample(None, "separator", 4, False, "x y"))
            elif self.n % 5 == 0:
                out.append(DecodedSample(None, "empty", 2, False, "[SEP] y"))
            else:
                out.append(DecodedSample((t[0] + "!", t[1]), None, 5, self.n % 7 == 0))
        return NoiseSamples([[1]] * len(texts), out)


def test_dropped_pair_samples_are_counted_and_replaced_by_walking_on() -> None:
    texts = [(f"a{i}", f"b{i}") for i in range(10)]
    model = _FakePairModel()
    kept, preview, c = generate_samples(model, texts, 12, seed=0)  # type: ignore[arg-type]
    assert len(kept) == 12 and all(len(t) == 2 for t in kept)
    assert c["attempted"] == len(model.seen) == 12 + c["dropped_separator"] + c["dropped_empty"]
    assert c["dropped_separator"] > 0 and c["dropped_empty"] > 0
    # the training set is walked in order, cycling
    assert model.seen == [texts[i % 10] for i in range(len(model.seen))]
    assert preview[0] == ("masked", "a0! [SEP] b0")


def test_inspect_samples_from_a_model_and_from_a_corpus(store) -> None:
    c = _get(store)
    pairs = inspect_samples(c, n=4, seed=0)
    assert len(pairs) == 4 and all(p in c.preview for p in pairs)
    assert inspect_samples(c, n=4, seed=0) == pairs
    model, _ = corpus_mod.get_noise_model("toy", single_texts(30), tiny_config(), store)
    shown = inspect_samples(model, single_texts(3), n=3, seed=0)
    assert len(shown) == 3
    masked, sample = shown[0]
    assert isinstance(sample, str) and ("[MASK]" in masked or masked.startswith("[CLS]"))
    assert inspect_samples(model, single_texts(3), n=3, seed=0) == shown


def test_stats_are_stored_as_json(store) -> None:
    c = _get(store)
    data = json.loads((store.path(CORPUS_KIND, c.key) / "data.json").read_text())
    assert data["stats"]["count"] == N and data["n_samples"] == N and data["task"] == "toy"
    assert nm.NoiseModelConfig.from_dict(data["config"]) == tiny_config().resolved()
    assert np.isfinite(data["stats"]["generation_seconds"])


def test_noise_show_reads_the_cached_corpus_else_uses_the_presets_noise_lm(
    tmp_path, monkeypatch, shared_glue_dir
) -> None:
    from calibench import api, registry
    from calibench.presets import get_preset

    c = get_noise_corpus(
        "sst2", single_texts(30), single_texts(6), tiny_config(), N, 0, ArtifactStore(tmp_path / "cache")
    )
    shown = api.noise_preview("sst2", n=3, output_dir=str(tmp_path))
    assert c.key in shown.source and len(shown.pairs) == 3 and all(p in c.preview for p in shown.pairs)

    # no corpus yet: the noise LM shown is the one the default preset's EBM recipes train
    seen = {}

    def get_noise_model(task, texts, cfg, *a, **k):
        seen["cfg"] = cfg
        raise RuntimeError("stop here")

    monkeypatch.setattr(corpus_mod, "get_noise_model", get_noise_model)
    with pytest.raises(RuntimeError, match="stop here"):
        api.noise_preview("sst2", output_dir=str(tmp_path / "empty"), data_dir=str(shared_glue_dir), train_size=50)
    opts = get_preset(None).options_for("ebm-hidden")
    assert seen["cfg"] == registry.create("recipe", "ebm-hidden", **opts).noise_config("sst2").resolved()
    assert seen["cfg"].lm == opts["noise_lm"]


def test_a_noise_lm_that_never_keeps_the_separator_fails_fast() -> None:
    """Every sample loses its pair separator: the corpus gives up after the first few hundred
    attempts (the keep rate cannot reach n_samples), not after 20 x n_samples."""
    from types import SimpleNamespace

    from calibench.ebm.noise_model import NoiseSamples
    from calibench.ebm.sampling import DecodedSample

    calls = []

    def sample(batch, rng=None, generator=None):
        calls.append(len(batch))
        lost = DecodedSample(fields=None, dropped="separator", n_tokens=5, truncated=False, raw="a b")
        return NoiseSamples(masked=[[1]] * len(batch), samples=[lost] * len(batch))

    tokenizer = SimpleNamespace(convert_ids_to_tokens=lambda i: "[SEP]")
    model = SimpleNamespace(sample=sample, tokenizer=tokenizer, tokens=SimpleNamespace(sep=0))
    with pytest.raises(RuntimeError, match="lost the pair separator"):
        generate_samples(model, [("a", "b")] * 10, n_samples=48, seed=0)
    assert sum(calls) < 400  # the old bound: 20 * 48 + 10 * 512 = 6080 attempts
