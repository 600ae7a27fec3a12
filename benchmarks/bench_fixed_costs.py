"""A training's fixed cost (everything before its first step), without and with the
per-process caches, in one run.

Each mode runs ``--trainings`` times ``calibench.execution.jobs.build_context`` -- what the
training job does before it trains: read the splits, load the encoder and tokenizer, build
the model, tokenise train/dev/test -- for one task in one process, timing each call:

* ``uncached``: the per-process caches are emptied before every call (the tokenizer and the
  tokenised splits), as every training paid before they existed;
* ``cached``: as the job runs now; after the first training the tokenizer and the tokenised
  splits come from the process's caches (``calibench.models.encoders.load_tokenizer``,
  ``calibench.training.encoded_cache``).

The first call of a process also pays one-off imports and the page cache's first read of the
checkpoint, so a warm-up call runs before either mode. Both modes check they built the same
tokens. Run::

    python benchmarks/bench_fixed_costs.py --task mrpc            # full MRPC training set
    python benchmarks/bench_fixed_costs.py --task sst2 --train-size 2000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

try:
    import calibench  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="mrpc")
    p.add_argument("--train-size", type=int, default=None, help="default: the whole training set")
    p.add_argument("--model", default="minilm")
    p.add_argument("--trainings", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    import torch
    from transformers.utils import logging as hf_logging

    from calibench.config import DataSpec, Hyper, TrainingSpec
    from calibench.execution.jobs import build_context
    from calibench.models import encoders
    from calibench.training import encoded_cache

    hf_logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    spec = TrainingSpec(
        data=DataSpec(args.task, train_size=args.train_size), recipe="baseline", model=args.model, hyper=Hyper()
    )

    def clear() -> None:
        encoded_cache.clear()
        encoders._tokenizers.clear()

    t = time.perf_counter()
    _, want = build_context(spec)  # warm-up: imports, first read of the checkpoint
    print(f"warm-up (first call of the process): {time.perf_counter() - t:.2f} s", file=sys.stderr)
    rows = {}
    for mode in ("uncached", "cached"):
        clear()
        secs = []
        for _ in range(args.trainings):
            if mode == "uncached":
                clear()
            t = time.perf_counter()
            _, enc = build_context(spec)
            secs.append(time.perf_counter() - t)
            assert all(enc[k].input_ids == want[k].input_ids for k in want), "the modes built different tokens"
        rows[mode] = secs
    n = len(want["train"])
    print(f"\n{args.task}, {n} training rows, model {args.model}, {args.trainings} trainings per mode")
    print(f"{'mode':<10} {'first s':>8} {'later s (median)':>17} {'total s':>8}")
    for mode, secs in rows.items():
        later = statistics.median(secs[1:]) if len(secs) > 1 else float("nan")
        print(f"{mode:<10} {secs[0]:>8.2f} {later:>17.2f} {sum(secs):>8.2f}")
    u, c = rows["uncached"], rows["cached"]
    if len(u) > 1:
        print(f"fixed cost per later training: {statistics.median(u[1:]):.2f} s -> {statistics.median(c[1:]):.2f} s")


if __name__ == "__main__":
    main()
