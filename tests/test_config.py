import subprocess
import sys

import pytest

from calibench.config import DataSpec, Hyper, TrainingSpec, config_hash
from calibench.errors import OptionError
from calibench.presets import get_preset


def spec(**kw):
    base = dict(data=DataSpec("rte", 100, 0, fingerprint="f"), recipe="baseline", seed=0, hyper=Hyper())
    base.update(kw)
    return TrainingSpec(**base)


def test_key_depends_on_identity_only():
    a = spec()
    assert a.key == spec(inferences=(("mc-dropout", ()),), need_train_logits=True).key
    assert a.key == spec(data=DataSpec("rte", 100, 0, data_dir="/elsewhere", fingerprint="f")).key
    assert a.key != spec(seed=1).key
    assert a.key != spec(hyper=Hyper(lr=1e-5)).key
    assert a.key != spec(data=DataSpec("rte", 100, 0, fingerprint="g")).key
    assert a.key != spec(recipe_options={"alpha": 0.1}).key


def test_key_stable_across_processes():
    code = (
        "from calibench.config import *; "
        "print(TrainingSpec(data=DataSpec('rte',100,0,fingerprint='f'),recipe='baseline').key)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == spec().key


def test_json_round_trip():
    s = spec(inferences=(("deterministic", ()), ("mc-dropout", (("passes", 10),))), need_train_logits=True)
    assert TrainingSpec.from_json(s.to_json()) == s


def test_config_hash_is_order_independent():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})


def test_paper_preset_has_the_papers_table():
    p = get_preset("paper")
    h = p.hyper_for("rte")
    assert (h.lr, h.batch_size, h.max_steps, h.warmup_steps) == (2e-5, 16, 2036, 122)
    assert p.hyper_for("mnli").max_steps == 30968
    assert len(p.tasks) == 8 and p.model == "roberta-base"
    # explicit flags override: epochs replace the preset's steps
    h = p.hyper_for("rte", epochs=2.0, lr=3e-5)
    assert (h.epochs, h.max_steps, h.warmup_steps, h.lr) == (2.0, None, None, 3e-5)


def test_cpu_ebm_preset_is_cpu_with_the_minilm_noise_lm():
    from dataclasses import asdict

    from calibench import registry

    cpu, ebm = get_preset("cpu"), get_preset("cpu-ebm")
    assert asdict(ebm.hyper) == asdict(cpu.hyper) and (ebm.tasks, ebm.seeds, ebm.train_size) == (
        cpu.tasks,
        cpu.seeds,
        cpu.train_size,
    )
    assert cpu.options_for("ebm-hidden")["noise_lm"] == "tiny-scratch"
    assert {o["noise_lm"] for o in ebm.recipe_options.values()} == {"minilm"}
    for opts in ebm.recipe_options.values():  # every option is one the EBM recipes know
        registry.create("recipe", "ebm-hidden", **opts)


def test_extra_outputs_are_not_part_of_the_training_identity():
    from calibench.config import DataSpec, TrainingSpec

    base = TrainingSpec(data=DataSpec(task="rte", fingerprint="f"), recipe="baseline")
    more = base.with_(
        eval_sets=(("shift-qnli", "rte:qnli", "abc"),),
        outputs_only=True,
        stored=("k",),
        data=DataSpec(task="rte", fingerprint="f", task_def="x=files(...)"),
    )
    assert more.key == base.key
    back = TrainingSpec.from_json(more.to_json())
    assert back.eval_sets == more.eval_sets and back.data.task_def == "x=files(...)" and back.key == base.key


def test_paper_steps_are_the_reference_scripts_divided_by_stepdiv():
    """The reference divides MAXSTEP/WARMSTEP by STEPDIV (4 on the large tasks) in the baseline
    and the NCE scripts alike; paper-full-steps is the undivided schedule (audit item 2.11)."""
    paper, full = get_preset("paper"), get_preset("paper-full-steps")
    assert (paper.hyper_for("sst2").max_steps, paper.hyper_for("sst2").warmup_steps) == (20935 // 4, 1256 // 4)
    assert (full.hyper_for("sst2").max_steps, full.hyper_for("sst2").warmup_steps) == (20935, 1256)
    assert full.hyper_for("qqp").max_steps == 4 * paper.hyper_for("qqp").max_steps == 113272
    for small in ("mrpc", "cola", "rte", "wnli"):  # STEPDIV=1 there
        assert full.hyper_for(small) == paper.hyper_for(small)
    assert full.recipe_options == paper.recipe_options  # EBM and baseline share one schedule


def test_paper_preset_noise_corpus_and_noise_lm_epochs_follow_the_reference():
    """~2M noise samples per task (so K=8 reuses none), and 8 noise-LM epochs on MRPC (items 2.6, 2.7)."""
    from calibench import registry

    opts = get_preset("paper").options_for("ebm-hidden")
    assert opts["max_noise_samples"] == 2_000_000
    recipe = registry.create("recipe", "ebm-hidden", **opts)
    assert {t: recipe.noise_config(t).epochs for t in ("mrpc", "rte", "cola", "wnli", "sst2")} == {
        "mrpc": 8,
        "rte": 8,
        "cola": 8,
        "wnli": 16,
        "sst2": 4,
    }


def test_every_preset_is_in_the_docs_and_the_help():
    from calibench import presets
    from calibench.cli import build_parser

    run = next(
        a
        for a in build_parser()._subparsers._group_actions[0].choices["run"]._actions
        if "--preset" in a.option_strings
    )
    for name in presets.PRESETS:
        assert f"``{name}``" in presets.__doc__
        assert name in run.help


def test_the_benchmark_preset_is_the_whole_grid_in_one_command():
    from calibench.api import resolve_run

    cfg = resolve_run(None, preset="benchmark")
    assert [m.label for m in cfg.methods] == list(get_preset("benchmark").methods) and len(cfg.methods) == 16
    assert cfg.tasks == ["cola", "sst2", "mrpc", "rte", "wnli"] and cfg.seeds == [0, 1, 2]
    assert (cfg.train_size, cfg.train_sizes) == (None, {"sst2": 4000})  # full sets, SST-2 subsampled
    assert "methods" in cfg.chosen_by_preset
    assert resolve_run(None, preset="benchmark", train_size=500).train_sizes == {}  # an explicit size is for all
    assert resolve_run("baseline", preset="benchmark").methods[0].label == "baseline"
    with pytest.raises(OptionError, match="--methods is required: preset 'cpu' has no methods"):
        resolve_run(None, preset="cpu")
