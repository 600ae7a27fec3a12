"""The house's own rules: the version in one place, ruff and import-linter configured."""

from __future__ import annotations

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
