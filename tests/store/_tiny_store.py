"""Helpers of the store tests: the tiny run command and the damage the issue reproduces with."""

from __future__ import annotations

from pathlib import Path

from _tiny_run import tiny_run_args

#: a tiny BERT on 48 RTE examples, 4 steps: seconds, and the whole pipeline
TINY = tiny_run_args(task="rte", train_size=48, steps=4, batch_size=8, max_length=64, seeds=2)
METHODS = "baseline,temp-scaling,label-smoothing+temp-scaling"


def run_args(store: Path, model: str, glue: str) -> list[str]:
    return ["run", "--methods", METHODS, *TINY, "--model", model, "--data-dir", glue, "--output-dir", str(store)]


def flip_bytes(path: Path, offset: int = 200, n: int = 8) -> None:
    """XOR ``n`` bytes at ``offset``: the damage the issue reproduces with."""
    data = bytearray(path.read_bytes())
    for i in range(offset, min(offset + n, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
