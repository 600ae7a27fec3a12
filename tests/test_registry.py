import subprocess
import sys

import pytest

from calibench import registry
from calibench.methods.compose import parse_method


def test_builtin_and_plugin_methods_are_listed():
    assert "baseline" in registry.names("recipe")
    assert "deterministic" in registry.names("inference")
    temp = registry.get_entry("calibrator", "temp-scaling")
    assert temp.source == "calibench"  # the baselines ship inside this distribution
    assert temp.target == "baselines.temperature:TemperatureScaling"


def test_unknown_name_suggests_closest():
    with pytest.raises(registry.RegistryError, match="Did you mean 'temp-scaling'"):
        parse_method("temp-scalin")
    with pytest.raises(registry.RegistryError, match="unknown task 'sst3'.*'sst2'"):
        registry.get("task", "sst3")


def test_listing_does_not_import_torch():
    code = (
        "import sys; from calibench import registry; "
        "[registry.entries(k) for k in registry.KINDS]; "
        "from calibench.cli import build_parser; build_parser(); "
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:5]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_register_rejects_conflicting_names(restore_registry):
    restore_registry.register("recipe", "test-dummy", "x.y:Z")
    restore_registry.register("recipe", "test-dummy", "x.y:Z")  # idempotent
    with pytest.raises(ValueError, match="already registered"):
        restore_registry.register("recipe", "test-dummy", "other:Thing")
    with pytest.raises(ValueError, match="may not"):
        restore_registry.register("recipe", "a+b", "x:y")


def test_tests_that_register_put_the_registry_back():
    assert "test-dummy" not in registry.names("recipe")
    assert "test-nan-loss" not in registry.names("recipe")


def test_calibench_registers_through_its_own_entry_point():
    from importlib.metadata import entry_points

    assert "calibench.builtin" in {ep.value for ep in entry_points(group="calibench.methods")}
    source = open(registry.__file__).read()
    assert "import calibench.builtin" not in source and "from calibench import builtin" not in source


def test_tasks_are_described_once():
    from calibench.tasks.glue import GLUE_TASKS

    for name, spec in GLUE_TASKS.items():
        assert registry.get("task", name) is spec
        assert registry.get_entry("task", name).description == spec.description
