"""Plugins that fail clearly: a broken implementation, a missing attribute, a wrong base,
a calibrator without ``fit_on`` in its defaults."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from test_plugins import cli, write_plugin

from calibench.methods.base import Calibrator, Recipe
from calibench.methods.compose import parse_method, parse_methods

BROKEN_IMPL = """
    from calibench.registry import register
    register("calibrator", "heavy-cal", "heavyplug_impl:HeavyCalibrator", description="imports a missing library")
    register("calibrator", "typo-cal", "heavyplug_ok:NoSuchClass", description="names a missing attribute")
"""


def _install(root: Path) -> None:
    root.mkdir(exist_ok=True)
    write_plugin(root, "heavyplug", "heavyplug_register", BROKEN_IMPL)
    (root / "heavyplug_impl.py").write_text("import a_library_that_is_not_installed\n")
    (root / "heavyplug_ok.py").write_text("X = 1\n")


@pytest.mark.parametrize(
    ("method", "why"),
    [
        (
            "heavy-cal",
            "heavyplug_impl:HeavyCalibrator cannot be loaded: ModuleNotFoundError: "
            "No module named 'a_library_that_is_not_installed'",
        ),
        ("typo-cal", "heavyplug_ok:NoSuchClass cannot be loaded: AttributeError:"),
    ],
)
def test_an_implementation_that_fails_at_lookup_is_one_line_naming_the_plugin(tmp_path, shared_glue_dir, method, why):
    _install(tmp_path / "site")
    out = cli(
        "run",
        "--methods",
        f"baseline,{method}",
        "--tasks",
        "rte",
        "--train-size",
        "64",
        "--data-dir",
        str(shared_glue_dir),
        "-o",
        str(tmp_path / "store"),
        "--dry-run",
        pythonpath=str(tmp_path / "site"),
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert f"calibrator '{method}' from plugin heavyplug: {why}" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_a_failed_lookup_is_listed_and_unknown_methods_mention_failed_plugins(tmp_path, monkeypatch, restore_registry):
    site = tmp_path / "site"
    site.mkdir()
    _install(site)
    write_plugin(site, "brokenplug", "brokenplug_register", "raise ImportError('needs a missing library')\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    restore_registry.load_plugins(force=True)
    with pytest.raises(restore_registry.PluginError, match="heavy-cal"):
        parse_method("heavy-cal").calibrator.instantiate("calibrator")
    errors = restore_registry.plugin_errors()
    assert "heavyplug (calibrator heavy-cal)" in errors and "brokenplug (brokenplug_register)" in errors
    with pytest.raises(restore_registry.RegistryError, match=r"unknown method 'focal'.*failed to load: .*brokenplug"):
        parse_method("focal")


def test_the_base_class_is_checked_on_register_and_on_lookup(restore_registry):
    with pytest.raises(TypeError, match="not a subclass of calibench.methods.base.Recipe"):
        restore_registry.register("recipe", "not-a-recipe", dict)
    restore_registry.register("recipe", "lazy-not-a-recipe", "collections:OrderedDict", source="someplugin")
    with pytest.raises(restore_registry.PluginError, match="from plugin someplugin is .*not a subclass of"):
        restore_registry.get("recipe", "lazy-not-a-recipe")
    with pytest.raises(TypeError, match="not an instance of calibench.metrics.specs.Metric"):
        restore_registry.register("metric", "bare-function", np.mean)


class _NoFitOn(Calibrator):
    """A plugin calibrator written without fit_on in its defaults."""

    defaults: ClassVar[dict[str, Any]] = {"shrink": 0.5}

    def fit(self, logits: np.ndarray, labels: np.ndarray) -> _NoFitOn:
        return self

    def predict_proba(self, logits: np.ndarray) -> np.ndarray:
        z = np.asarray(logits) * self.options["shrink"]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def test_the_core_owns_fit_on(shared_glue_dir, restore_registry):
    from calibench.config import Hyper
    from calibench.execution.planner import make_plan

    assert _NoFitOn().fit_on == "dev" and _NoFitOn(fit_on="train").fit_on == "train"
    assert _NoFitOn.defaults == {"fit_on": "dev", "shrink": 0.5}
    with pytest.raises(ValueError, match="fit_on must be 'dev' or 'train', got 'test'"):
        _NoFitOn(fit_on="test")
    restore_registry.register("calibrator", "no-fit-on", _NoFitOn, source="someplugin")
    plan = make_plan(
        parse_methods("no-fit-on,no-fit-on(fit_on=train)"),
        ["rte"],
        [0],
        model="minilm",
        hyper_for=lambda t: Hyper(),
        train_size=64,
        data_dir=str(shared_glue_dir),
    )
    assert [s.need_train_logits for s in plan.trainings] == [True]
    assert issubclass(_NoFitOn, Calibrator) and not issubclass(_NoFitOn, Recipe)
