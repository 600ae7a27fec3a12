"""The house's own rules: the version in one place, ruff and import-linter configured."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import calibench

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_the_version_lives_in_calibench_only():
    project = _pyproject()["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert version("calibench") == calibench.__version__


def test_lint_is_configured_for_ci_and_pre_commit():
    tool = _pyproject()["tool"]
    assert tool["ruff"]["lint"]["select"]
    assert "ruff" in (REPO / ".pre-commit-config.yaml").read_text()


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.skip('import-linter is not installed (pip install -e ".[dev]")')
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([exe, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, check=False)


def test_the_layer_contracts_hold_and_a_violation_breaks_them(tmp_path):
    assert "importlinter" in _pyproject()["tool"]
    ok = _lint_imports(REPO)
    assert ok.returncode == 0, ok.stdout[-3000:]
    # the same tree with the report importing the training loop: the check must fail
    shutil.copytree(REPO / "calibench", tmp_path / "calibench", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    text = tmp_path / "calibench" / "report" / "text.py"
    text.write_text(text.read_text() + "\nfrom calibench.training import loop  # noqa: E402,F401\n")
    bad = _lint_imports(tmp_path)
    assert bad.returncode != 0 and "the report reads stored results, it never trains BROKEN" in bad.stdout
