"""One check for every executor that runs jobs elsewhere: a tiny real grid through it gives the
in-process executor's numbers bit for bit when both run with one torch thread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _tiny_run import tiny_run_args

from calibench.cli import main
from calibench.store.db import Store


def assert_same_numbers_as_in_process(tmp_path: Path, glue_dir: str, executor_args: list[str]) -> Store:
    """Run the grid in this process (one thread) and with ``executor_args``; compare every
    logits array and metric. Returns the other executor's store."""
    import torch

    grid = [
        "--methods",
        "baseline,temp-scaling",
        *tiny_run_args(task="rte", train_size=32, steps=3, batch_size=8, max_length=32, seeds=2),
        "--data-dir",
        glue_dir,
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what each job of the other executor gets: the same float reduction order
    try:
        assert main(["run", *grid, "-o", str(tmp_path / "local")]) == 0
    finally:
        torch.set_num_threads(threads)
    assert main(["run", *grid, "-o", str(tmp_path / "other"), *executor_args]) == 0

    local, other = Store(tmp_path / "local"), Store(tmp_path / "other")
    keys = local.artifacts.keys("logits")
    assert len(keys) == 2 and other.artifacts.keys("logits") == keys  # same trainings (hash incl. precision)
    for key in keys:
        a, b = local.artifacts.read("logits", key).arrays, other.artifacts.read("logits", key).arrays
        assert a.keys() == b.keys()
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=f"{key}/{name}")
    metrics = [{(r["method"], r["seed"]): r["metrics"] for r in s.results()} for s in (local, other)]
    assert len(metrics[0]) == 4 and metrics[0] == metrics[1]
    assert other.integrity_check() == []
    return other
