"""The baselines as plugins: registration, listing, broken plugins, composition and shared trainings."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from calibench import registry
from calibench.config import TrainingSpec
from calibench.methods.compose import parse_method, parse_methods

BASELINES = {
    "recipe": {"label-smoothing", "mixup", "focal-loss"},
    "inference": {"mc-dropout", "last-layer-laplace"},
    "calibrator": {
        "temp-scaling",
        "vector-scaling",
        "histogram-binning",
        "isotonic",
        "bbq",
        "enir",
        "beta-calibration",
    },
}
#: the library that does each method's work, as `calibench ls methods` names it
LIBRARIES = {
    "baseline": "torch",
    "label-smoothing": "torch",
    "focal-loss": "torch",
    "mixup": "calibench",
    "deterministic": "calibench",
    "mc-dropout": "calibench",
    "last-layer-laplace": "laplace-torch",
    "temp-scaling": "scipy",
    "vector-scaling": "netcal",
    "isotonic": "netcal",
    "ebm-hidden": "calibench",
}
DONE_WHEN = "baseline,temp-scaling,label-smoothing,mixup,mc-dropout,label-smoothing+temp-scaling"


def cli(*args: str, pythonpath: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "calibench.cli", *args], capture_output=True, text=True, env=env, check=False
    )


@pytest.mark.parametrize("kind", sorted(BASELINES))
def test_baselines_are_registered_lazily_through_the_entry_point(kind):
    for name in BASELINES[kind]:
        entry = registry.get_entry(kind, name)
        assert isinstance(entry.target, str) and entry.target.startswith("baselines.")  # a string: nothing imported
        assert entry.source == "calibench" and entry.description
        assert registry.kind_of(name) == kind
        entry.load()  # and the string points at something real


def test_ls_lists_every_baseline_with_kind_and_source_without_importing_torch():
    code = (
        "import sys, io, contextlib; from calibench.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): main(['ls', 'methods'])\n"
        "heavy = [m for m in ('torch', 'netcal', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    out = cli("ls", "methods")
    assert out.returncode == 0, out.stderr
    rows = {line.split("│")[1].strip(): line for line in out.stdout.splitlines() if line.count("│") >= 4}
    for kind, names in BASELINES.items():
        for name in names:
            assert kind in rows[name] and "calibench" in rows[name], rows.get(name)
    header = next(line for line in out.stdout.splitlines() if "description" in line)
    column = [c.strip() for c in header.split("┃")].index("library")
    for name, library in LIBRARIES.items():
        assert [c.strip() for c in rows[name].split("│")][column] == library, rows[name]


def write_plugin(root: Path, dist: str, module: str, source: str) -> None:
    """A minimal installed distribution: a module and a dist-info with its entry point."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[calibench.methods]\n{dist} = {module}\n")


def test_a_broken_plugin_is_named_and_the_others_still_load(tmp_path):
    write_plugin(tmp_path, "brokenplug", "brokenplug_register", "raise ImportError('needs a missing library')\n")
    write_plugin(
        tmp_path,
        "goodplug",
        "goodplug_register",
        """
        from calibench.registry import register
        register("calibrator", "good-calibrator", "goodplug_impl:Good", description="from a healthy plugin")
        register("calibrator", "good-wrapper", "goodplug_impl:Wrap", description="wraps", library="sklearn")
    """,
    )
    out = cli("ls", "methods", pythonpath=str(tmp_path))
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "good-calibrator" in text and "goodplug" in text  # the healthy third-party plugin
    # the library column: the plugin's own name unless it names the library it wraps
    assert "good-calibrator │ calibrator │ from a healthy plugin │ goodplug │ goodplug" in text
    assert "good-wrapper │ calibrator │ wraps │ sklearn │ goodplug" in text
    assert "temp-scaling" in text and "mixup" in text  # calibench's own baselines
    assert "plugins that failed to load" in text
    assert "brokenplug (brokenplug_register): ImportError: needs a missing library" in text


def test_methods_compose_across_kinds_with_options():
    m = parse_method("mixup(on=embeddings)+mc-dropout(passes=3)+isotonic(fit_on=train)")
    assert (m.recipe.name, m.inference.name, m.calibrator.name) == ("mixup", "mc-dropout", "isotonic")
    assert m.recipe.instantiate("recipe").options == {"alpha": 0.4, "on": "embeddings"}
    assert m.inference.instantiate("inference").options == {"passes": 3}
    assert m.calibrator.instantiate("calibrator").fit_on == "train"
    m = parse_method("label-smoothing+temp-scaling")
    assert (m.recipe.name, m.inference.name, m.calibrator.name) == ("label-smoothing", "deterministic", "temp-scaling")
    with pytest.raises(registry.RegistryError, match="Did you mean 'mc-dropout'"):
        parse_method("mc-droput")


def test_the_planner_shares_trainings_by_recipe_and_asks_for_train_logits_when_needed(shared_glue_dir):
    from calibench.config import Hyper
    from calibench.execution.planner import make_plan

    def plan(methods: str):
        return make_plan(
            parse_methods(methods),
            ["rte"],
            [0, 1],
            model="minilm",
            hyper_for=lambda t: Hyper(),
            train_size=1000,
            data_dir=str(shared_glue_dir),
        )

    p = plan(DONE_WHEN)
    assert len(p.trainings) == 6 and len(p.evaluations) == 12  # 3 recipes x 2 seeds; 6 methods x 2 seeds
    assert sorted(s.recipe for s in p.trainings) == sorted(["baseline", "label-smoothing", "mixup"] * 2)
    for spec in p.trainings:
        infs = {name for name, _ in spec.inferences}
        assert infs == ({"deterministic", "mc-dropout"} if spec.recipe == "baseline" else {"deterministic"})
        assert not spec.need_train_logits
    by_method = {(e.method.label, e.seed): e.training_key for e in p.evaluations}
    assert by_method[("temp-scaling", 0)] == by_method[("baseline", 0)] == by_method[("mc-dropout", 0)]
    assert by_method[("label-smoothing+temp-scaling", 1)] == by_method[("label-smoothing", 1)]
    assert by_method[("baseline", 0)] != by_method[("baseline", 1)]

    p = plan("baseline,temp-scaling(fit_on=train),label-smoothing,mc-dropout")
    need = {s.recipe: s.need_train_logits for s in p.trainings}
    assert need == {"baseline": True, "label-smoothing": False}
    base = next(s for s in p.trainings if s.recipe == "baseline")
    assert base.train_inferences == (("deterministic", ()),)  # only the one a calibrator fits on
    mc = next(opts for name, opts in base.inferences if name == "mc-dropout")
    assert base.predicts_train("deterministic", {}) and not base.predicts_train("mc-dropout", mc)
    assert TrainingSpec.from_json(base.to_json()).train_inferences == base.train_inferences
    old = TrainingSpec.from_json({k: v for k, v in base.to_json().items() if k != "train_inferences"})
    assert old.predicts_train("mc-dropout", mc)  # stored before the rule: every inference predicted train


def test_dry_run_of_the_done_when_command_plans_three_trainings_per_task_and_seed(shared_glue_dir, tmp_path):
    out = cli(
        "run",
        "--methods",
        DONE_WHEN,
        "--tasks",
        "rte",
        "--train-size",
        "1000",
        "--seeds",
        "2",
        "--data-dir",
        str(shared_glue_dir),
        "-o",
        str(tmp_path),
        "--dry-run",
    )
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "6 distinct training(s), 12 evaluation(s) of 6 method(s) on 1 task(s)" in text
    for seed in (0, 1):
        assert f"train rte baseline seed {seed} -> deterministic, mc-dropout" in text
        assert f"train rte label-smoothing seed {seed} -> deterministic" in text
        assert f"train rte mixup seed {seed} -> deterministic" in text
