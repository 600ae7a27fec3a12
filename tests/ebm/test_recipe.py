"""The EBM recipes on the common loop: loss decomposition, heads, pointers, divergence guard.

A tiny random BERT and a fixed stand-in noise corpus keep these fast; the real noise model
is exercised in test_ebm_e2e.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from calibench import registry
from calibench.config import DataSpec, Hyper, TrainingSpec
from calibench.ebm import recipe as ebm_recipe
from calibench.ebm.energy import SCALAR_HEAD_KEY, compute_energy
from calibench.ebm.nce import nce_loss
from calibench.errors import OptionError
from calibench.execution.jobs import build_context
from calibench.training.loop import TrainingDiverged, train

NOISE = [(f"noise sample number {i} with some words",) for i in range(64)]


@pytest.fixture
def fake_corpus(monkeypatch):
    calls = []

    def get_noise_corpus(task, train_texts, dev_texts, cfg, n_samples, seed, artifacts, progress=None):
        calls.append({"task": task, "n_samples": n_samples, "cfg": cfg, "seed": seed})
        stats = SimpleNamespace(to_dict=lambda: {"count": len(NOISE)})
        return SimpleNamespace(texts=NOISE, key="fake", from_cache=False, stats=stats, wait_seconds=0.0)

    monkeypatch.setattr("calibench.ebm.corpus.get_noise_corpus", get_noise_corpus)
    return calls


def make_ctx(tiny_bert, shared_glue_dir, tmp_path, recipe="ebm-hidden", steps=4, **opts):
    spec = TrainingSpec(
        data=DataSpec("sst2", 40, 0, data_dir=str(shared_glue_dir)),
        recipe=recipe,
        recipe_options=opts,
        model=tiny_bert,
        seed=0,
        hyper=Hyper(lr=1e-3, batch_size=8, epochs=None, max_steps=steps, precision="fp32"),
    )
    ctx, _ = build_context(spec, cache_dir=str(tmp_path))
    ctx.total_steps = steps
    return ctx, registry.create("recipe", recipe, **opts)


@pytest.mark.parametrize("name", ["ebm-hidden", "ebm-sharp-hidden", "ebm-scalar"])
def test_loss_is_ce_plus_lambda_nce(name, tiny_bert, shared_glue_dir, tmp_path, fake_corpus):
    ctx, recipe = make_ctx(tiny_bert, shared_glue_dir, tmp_path, name, k=2, nce_lambda=0.5, nce_batch_size=4)
    recipe.setup(ctx)
    assert fake_corpus[0]["n_samples"] == 4 * 4 * 2  # steps x NCE batch x K: no noise reused
    model = ctx.model.eval()  # dropout off: the hand computation sees the same function
    data_ptr, noise_ptr = ctx.state["data_ptr"], ctx.state["noise_ptr"]
    # this step's NCE rows, fixed (the passes' own order is tested in tests/training/test_batching.py)
    ctx.state["data_ptr"], ctx.state["noise_ptr"] = iter([np.arange(4)]), iter([np.arange(8)])
    batch = ctx.batch(ctx.train, np.arange(8, 16))
    out = recipe.loss(model, batch, ctx)
    with torch.no_grad():
        ce = F.cross_entropy(model(**batch).logits, batch["labels"])
        head = model.extra_heads[SCALAR_HEAD_KEY] if name == "ebm-scalar" else None

        def energy(enc, idx):
            o = model(**ctx.batch(enc, idx))
            return compute_energy(recipe.energy, o.logits, o.hidden, head)

        e_data = energy(ctx.train, np.arange(4))
        e_noise = energy(ctx.state["noise"], np.arange(8))  # K noise batches of NCE-batch size, any order
        expected = ce + 0.5 * nce_loss(e_data, e_noise, 2.0).loss
    torch.testing.assert_close(out.loss.detach(), expected, rtol=1e-5, atol=1e-6)
    assert {"ce", "nce/loss", "nce/energy_data", "nce/energy_noise", "nce/pair_accuracy"} <= set(out.logs)
    # the recipe's own passes: NCE-batch-size data rows, K x NCE-batch-size noise rows, each row
    # once before any repeats
    assert [len(next(data_ptr)) for _ in range(2)] == [4, 4]
    noise_rows = np.concatenate([next(noise_ptr) for _ in range(4)])
    assert len(noise_rows) == 32 and len(set(noise_rows.tolist())) == 32


def test_scalar_head_is_trained(tiny_bert, shared_glue_dir, tmp_path, fake_corpus):
    ctx, recipe = make_ctx(tiny_bert, shared_glue_dir, tmp_path, "ebm-scalar", k=1)
    log = train(ctx, recipe, log_every=1)
    head = ctx.model.extra_heads[SCALAR_HEAD_KEY]
    assert head.out_proj.out_features == 1  # the reference's 2-layer shape with one output
    assert all(p.grad is None for p in head.parameters())  # zeroed after the last step...
    assert len(log.history) == 4 and all(np.isfinite(h["nce/loss"]) for h in log.history)
    ctx2, recipe2 = make_ctx(tiny_bert, shared_glue_dir, tmp_path, "ebm-scalar", k=1)
    recipe2.setup(ctx2)
    before = [p.detach().clone() for p in ctx2.model.extra_heads[SCALAR_HEAD_KEY].parameters()]
    ctx3, recipe3 = make_ctx(tiny_bert, shared_glue_dir, tmp_path, "ebm-scalar", k=1)
    train(ctx3, recipe3)
    after = list(ctx3.model.extra_heads[SCALAR_HEAD_KEY].parameters())
    assert any(not torch.equal(b, a) for b, a in zip(before, after))  # ...and it moved
    linear = make_ctx(tiny_bert, shared_glue_dir, tmp_path, "ebm-scalar", k=1, scalar_head="linear")
    linear[1].setup(linear[0])
    assert isinstance(linear[0].model.extra_heads[SCALAR_HEAD_KEY], torch.nn.Linear)


def test_hidden_variants_add_no_head(tiny_bert, shared_glue_dir, tmp_path, fake_corpus):
    for name in ("ebm-hidden", "ebm-sharp-hidden"):
        ctx, recipe = make_ctx(tiny_bert, shared_glue_dir, tmp_path, name, k=1)
        recipe.setup(ctx)
        assert len(ctx.model.extra_heads) == 0


def test_exploding_energy_stops_the_run_naming_step_and_term(tiny_bert, shared_glue_dir, tmp_path, fake_corpus):
    ctx, recipe = make_ctx(tiny_bert, shared_glue_dir, tmp_path, "ebm-hidden", k=1, energy_limit=1e-9)
    with pytest.raises(TrainingDiverged, match=r"at step 0: energy_data exploded") as err:
        train(ctx, recipe)
    assert err.value.step == 0 and "nce/energy_noise" in err.value.logs


def test_bad_options_are_refused_when_the_recipe_is_built():
    # at construction, so the planner refuses them before any noise LM is trained
    with pytest.raises(ValueError, match="k >= 1"):
        registry.create("recipe", "ebm-hidden", k=0)
    with pytest.raises(ValueError, match="nce_lambda >= 0"):
        registry.create("recipe", "ebm-hidden", nce_lambda=-1.0)
    with pytest.raises(ValueError, match="noise_passes must be >= 1"):
        registry.create("recipe", "ebm-hidden", noise_passes=-2)
    with pytest.raises(ValueError, match="unknown option.*valid options"):
        registry.create("recipe", "ebm-hidden", K=8)
    with pytest.raises(OptionError, match="noise LM: layers keeps the first N"):
        registry.create("recipe", "ebm-hidden", noise_layers=2)  # tiny-scratch has no pretrained layers


@pytest.mark.parametrize(
    ("option", "field", "value"),
    [
        ("noise_layers", "layers", 3),
        ("noise_head_negatives", "head_negatives", 2048),
        ("noise_target_perplexity", "target_perplexity", 125.0),
    ],
)
def test_a_later_noise_lm_option_reaches_its_config_and_the_key_only_when_set(option, field, value):
    plain = registry.create("recipe", "ebm-hidden", noise_lm="minilm")
    changed = registry.create("recipe", "ebm-hidden", noise_lm="minilm", **{option: value})
    assert getattr(changed.noise_config("sst2"), field) == value and getattr(plain.noise_config("sst2"), field) is None
    assert option not in plain.training_identity("ebm-hidden")[1]  # stored trainings keep their keys
    assert changed.training_identity("ebm-hidden")[1][option] == value


def test_the_noise_lms_sampled_head_needs_a_negative():
    with pytest.raises(OptionError, match="head_negatives must be >= 1"):
        registry.create("recipe", "ebm-hidden", noise_head_negatives=0)
    with pytest.raises(OptionError, match="target_perplexity must be > 1"):
        registry.create("recipe", "ebm-hidden", noise_target_perplexity=0.5)


def test_noise_config_follows_the_reference_per_task():
    r = registry.create("recipe", "ebm-hidden", noise_lm="gpt2")
    assert r.noise_config("rte").epochs == 8 and r.noise_config("wnli").epochs == 16
    assert r.noise_config("sst2").epochs == 4
    assert registry.create("recipe", "ebm-hidden").noise_config("rte").epochs is None  # tiny LM's own default
    assert ebm_recipe.EBMRecipe.defaults["k"] == 8 and ebm_recipe.EBMRecipe.defaults["nce_lambda"] == 1.0


def test_energy_is_an_option_and_the_old_names_are_aliases_with_the_same_training_keys():
    import json
    import re
    from pathlib import Path

    from calibench.config import TrainingSpec

    assert registry.create("recipe", "ebm-scalar").energy == "scalar"
    assert registry.create("recipe", "ebm", energy="sharp-hidden").energy == "sharp-hidden"
    assert registry.canonical_name("recipe", "ebm-hidden") == "ebm"
    with pytest.raises(ValueError, match=r"write ebm\(energy=scalar\) instead"):
        registry.create("recipe", "ebm-hidden", energy="scalar")
    with pytest.raises(ValueError, match="energy must be one of scalar, hidden, sharp-hidden"):
        registry.create("recipe", "ebm", energy="cold")
    assert registry.create("recipe", "ebm", energy="hidden").training_identity("ebm") == registry.create(
        "recipe", "ebm-hidden"
    ).training_identity("ebm-hidden")
    # every committed EBM result rebuilds to exactly the training identity it was stored under
    root = Path(__file__).resolve().parents[2] / "leaderboard" / "results"
    # in-domain result files only: RTE's shift and OOD exports (…seed0.shift-qnli.jsonl) have no config
    results = sorted(p for p in root.rglob("ebm-*.jsonl") if re.fullmatch(r".+\.seed\d+\.jsonl", p.name))
    if not results:
        pytest.skip("no committed EBM results in this checkout")
    for path in results:
        config = json.loads(path.read_text().splitlines()[0])["config"]
        recipe = registry.create("recipe", config["recipe"], **config["recipe_options"])
        assert recipe.training_identity(config["recipe"]) == (config["recipe"], config["recipe_options"])
        spec = TrainingSpec.from_json(config)
        energy = config["recipe"].removeprefix("ebm-")
        again = registry.create("recipe", "ebm", energy=energy, **config["recipe_options"]).training_identity("ebm")
        assert TrainingSpec.from_json({**config, "recipe": again[0], "recipe_options": again[1]}).key == spec.key


@pytest.mark.parametrize("native", [True, False])
def test_noise_bf16_auto_is_resolved_before_the_training_key(monkeypatch, native):
    """Emulated bf16 (AVX2 CPUs) made the noise LM ~11x slower, so the benchmark preset asks
    for ``auto``; the key must record what ran, so that it matches trainings stored with
    the resolved value on either kind of machine."""
    from calibench.training import precision

    monkeypatch.setattr(precision, "bf16_native", lambda device: native)
    auto = registry.create("recipe", "ebm-hidden", noise_bf16="auto")
    assert auto.options["noise_bf16"] is native
    assert auto.noise_config("sst2").bf16 is native
    explicit = registry.create("recipe", "ebm-hidden", noise_bf16=native)
    assert auto.training_identity("ebm-hidden") == explicit.training_identity("ebm-hidden")
    with pytest.raises(ValueError, match="noise_bf16 must be true, false or auto"):
        registry.create("recipe", "ebm-hidden", noise_bf16="fast")


def test_a_training_is_the_same_whether_its_noise_lm_was_cached_or_not(tiny_bert, shared_glue_dir, tmp_path):
    """The first EBM training of a task builds the noise LM and corpus inside its own setup;
    the next ones find them cached. Both must draw the same dropout afterwards."""
    runs = []
    for _ in range(2):  # the same store: trained the first time, cached the second
        ctx, recipe = make_ctx(tiny_bert, shared_glue_dir, tmp_path, "ebm-hidden", k=1, noise_epochs=1)
        train(ctx, recipe)
        runs.append((ctx.state["corpus"].from_cache, [p.detach().clone() for p in ctx.model.parameters()]))
    (cold, first), (warm, second) = runs
    assert (cold, warm) == (False, True)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
