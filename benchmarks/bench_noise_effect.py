"""Does a cheaper noise LM buy worse noise? Its effect on NCE and on the EBM's calibration.

Trains an EBM recipe once per noise-LM variant (each a method spec, e.g. the presets' LM next
to ``ebm-hidden(noise_head_negatives=2048,noise_target_perplexity=70)``) through ``calibench
run``, each into its own store, and prints per variant:

* ``LM steps``, ``LM s``, ``held-out ppl``: the noise LM's training steps and seconds, and
  the held-out perplexity it stopped at (with a target);
* ``dev ppl``: the noise LM's perplexity on the task's dev half (stored with the corpus);
* ``sample s``, ``len``: corpus sampling seconds and the samples' mean length (noise-LM tokens);
* ``pair acc``: NCE pair accuracy (how often the energy ranks a data row below a noise row:
  0.5 is noise the energy cannot tell from data, 1.0 noise too easy to teach it anything),
  the mean over the training log and over its last quarter;
* the test half's accuracy, ECE (15 bins), the paper's ECE (20 bins) and NLL.

A variant whose store already holds the training is read, not retrained (``calibench run``
skips finished work), so ``--store-root`` keeps the trainings between runs.

    python benchmarks/bench_noise_effect.py --store-root /tmp/noise-effect --parallel
    python benchmarks/bench_noise_effect.py --preset cpu-ebm --tasks sst2 --train-size 500 \\
        --variant ebm-hidden --variant 'ebm-hidden(noise_target_perplexity=70)'
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

try:
    import calibench  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_VARIANTS = (
    "ebm-hidden",
    "ebm-hidden(noise_lr=3e-4,noise_head_negatives=2048,noise_target_perplexity=70)",
)
CLI = "import sys; from calibench.cli import main; sys.exit(main())"


def _store_dir(root: Path, i: int) -> Path:
    return root / f"variant-{i}"


def run_argv(args, variant: str, store: Path) -> list[str]:
    argv = [sys.executable, "-c", CLI, "run", "--preset", args.preset, "--tasks", args.task]
    argv += ["--methods", variant, "--seeds", f"{args.seed},", "-o", str(store), "--jobs", "1"]
    if args.train_size:
        argv += ["--train-size", str(args.train_size)]
    if args.parallel:
        argv += ["--cpus-per-job", "1"]  # one core each
    return argv


def summarise(store: Path) -> dict:
    from calibench.store.db import Store

    st = Store(store, read_only=True)
    done = [t for t in st.trainings("done") if (t.get("spec") or {}).get("recipe", "").startswith("ebm")]
    if len(done) != 1:
        raise SystemExit(f"{store}: expected one finished EBM training, found {len(done)}")
    record = done[0]["record"] or {}
    history = (record.get("train_log") or {}).get("history") or []
    pair = [h["nce/pair_accuracy"] for h in history if "nce/pair_accuracy" in h]
    last = pair[-max(1, len(pair) // 4) :]
    corpus = (record.get("recipe_record") or {}).get("noise_corpus") or {}
    (result,) = st.results()
    m = {k: v["value"] for k, v in result["metrics"].items()}
    return {
        "lm_steps": corpus.get("noise_model_steps"),
        "lm_s": corpus.get("noise_model_train_seconds"),
        "held_out": corpus.get("noise_model_holdout_perplexity"),
        "dev_ppl": corpus.get("dev_perplexity"),
        "sample_s": corpus.get("generation_seconds"),
        "length": corpus.get("length_mean"),
        "pair_mean": sum(pair) / len(pair) if pair else float("nan"),
        "pair_last": sum(last) / len(last) if last else float("nan"),
        **{k: m[k] for k in ("accuracy", "ece", "ece_paper", "nll")},
    }


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="benchmark")
    p.add_argument("--task", "--tasks", dest="task", default="sst2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-size", type=int, default=None, help="default: the preset's")
    p.add_argument("--variant", action="append", default=None, metavar="METHOD", help="an EBM method spec (repeatable)")
    p.add_argument("--store-root", type=Path, required=True, help="one store per variant below it (reused)")
    p.add_argument("--parallel", action="store_true", help="train the variants at once, one thread each")
    args = p.parse_args(argv)
    variants = args.variant or list(DEFAULT_VARIANTS)

    t0 = time.perf_counter()
    procs = []
    args.store_root.mkdir(parents=True, exist_ok=True)
    for i, v in enumerate(variants):
        store = _store_dir(args.store_root, i)
        log = args.store_root.joinpath(f"variant-{i}.log").open("w")
        proc = subprocess.Popen(run_argv(args, v, store), stdout=log, stderr=subprocess.STDOUT)
        procs.append((v, proc, log))
        if not args.parallel:
            proc.wait()
    for v, proc, log in procs:
        if proc.wait() != 0:
            raise SystemExit(f"{v}: calibench run failed (exit {proc.returncode}); see {log.name}")
        log.close()
    print(
        f"{args.task}, preset {args.preset}, seed {args.seed}: {len(variants)} variant(s) in {time.perf_counter() - t0:.0f} s"
    )

    print(
        "\n| variant | LM steps | LM s | held-out ppl | dev ppl | sample s | len | pair acc (mean, last quarter) "
        "| accuracy | ECE | ECE (paper) | NLL |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for i, v in enumerate(variants):
        s = summarise(_store_dir(args.store_root, i))
        print(
            f"| `{v}` | {_fmt(s['lm_steps'], 'd')} | {_fmt(s['lm_s'], '.0f')} | {_fmt(s['held_out'], '.1f')} "
            f"| {_fmt(s['dev_ppl'], '.1f')} | {_fmt(s['sample_s'], '.0f')} | {_fmt(s['length'], '.1f')} "
            f"| {s['pair_mean']:.3f}, {s['pair_last']:.3f} | {s['accuracy']:.4f} | {s['ece']:.4f} "
            f"| {s['ece_paper']:.4f} | {s['nll']:.4f} |"
        )


if __name__ == "__main__":
    main()
