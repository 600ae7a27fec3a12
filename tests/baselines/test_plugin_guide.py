"""The plugin guide's example and the example package: what every plugin author copies."""

from __future__ import annotations

import importlib.util
import re
import types
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "calibench-example-plugin" / "src" / "calibench_example_plugin" / "confidence_penalty.py"


def _guide_source() -> str:
    text = (REPO / "docs" / "plugins.md").read_text()
    m = re.search(r"```python\n(# src/calibench_example_plugin/confidence_penalty\.py\n.*?)```", text, re.S)
    assert m, "docs/plugins.md lost its confidence-penalty example"
    return m.group(1)


def _module(name: str, source: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    exec(compile(source, name, "exec"), mod.__dict__)
    return mod


def _package_module() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("example_confidence_penalty", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("where", ["guide", "package"])
def test_the_example_logs_without_torch_warnings(where):
    torch = pytest.importorskip("torch")
    mod = _module("guide_example", _guide_source()) if where == "guide" else _package_module()
    weights = torch.nn.Parameter(torch.randn(4, 2))
    model = lambda **batch: types.SimpleNamespace(logits=weights * 1.0)  # noqa: E731  (logits need grad)
    batch = {"input_ids": torch.zeros(4, 3, dtype=torch.long), "labels": torch.tensor([0, 1, 1, 0])}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "Converting a tensor with requires_grad=True to a scalar"
        out = mod.ConfidencePenalty().loss(model, batch, None)
    out.loss.backward()
    assert weights.grad is not None and 0 < out.logs["entropy"] <= float(torch.log(torch.tensor(2.0)))
