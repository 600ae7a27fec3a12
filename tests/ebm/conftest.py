"""Shared settings for the EBM tests.

* One torch thread: the models here are tiny, and on a small shared machine a second
  OpenMP thread that has to wait for a busy core makes each forward pass ~20x slower.
* Slow tests (training a noise LM on real SST-2 text) run only when asked for:
  ``pytest -m slow`` (or ``CALIBENCH_RUN_SLOW=1``); the default run stays under 30 s.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

_HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    markexpr = config.getoption("-m", default="") or ""
    if "slow" in markexpr or os.environ.get("CALIBENCH_RUN_SLOW"):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow (or CALIBENCH_RUN_SLOW=1)")
    for item in items:
        if "slow" in item.keywords and os.path.abspath(str(item.fspath)).startswith(_HERE):
            item.add_marker(skip)
