"""The tiny-run CLI arguments the end-to-end tests share (task, training size, steps, batch,
length, seeds), written once so each test states only the values it chose."""

from __future__ import annotations


def tiny_run_args(
    *,
    task: str | None = "rte",
    train_size: int = 32,
    steps: int = 3,
    batch_size: int = 8,
    max_length: int = 32,
    seeds: int | None = 1,
) -> list[str]:
    """``--tasks T --train-size N --max-steps S --batch-size B --max-length L --seeds K``
    (``task`` or ``seeds`` None: left out, for a caller that gives its own)."""
    args = ["--tasks", task] if task is not None else []
    args += ["--train-size", str(train_size), "--max-steps", str(steps), "--batch-size", str(batch_size)]
    args += ["--max-length", str(max_length)]
    return args + (["--seeds", str(seeds)] if seeds is not None else [])
