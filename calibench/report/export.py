"""Results as reviewable text: one JSON-lines file per run, enough to recompute every metric.

Why text in the repository: the leaderboard is generated in CI from files a reviewer can
read and diff, and every number on it is recomputed from them, so a submitted number cannot
disagree with its predictions unnoticed.

Layout: ``<dir>/<task>/<method>.seed<N>.jsonl`` (names percent-encoded, so any method label
maps to one file and back). Line 1 is a JSON header::

    {"format": "calibench-result/1", "task": ..., "method": ..., "seed": ..., "model": ...,
     "fingerprint": ..., "key": ..., "training_key": ..., "config": {...}, "split": {...},
     "calibrator": {...}, "metrics": {key: {"value": ..., "estimator": ...}},
     "n_test": n, "n_classes": C, "columns": ["label", "p0", ..., "p{C-1}"], ...}

then one line per test example, in test order: ``[label, p0, ..., p{C-1}]``. The
probabilities are the float32 values the results store keeps, each written as the shortest
decimal that reads back to the same float32, so the text is exact: a leaderboard from the
files equals one from the store, digit for digit. The header's metrics are recomputed from
exactly these probabilities at export; the store's own values (computed in float64 before
the float32 cast) are compared and any difference above ``STORE_ATOL`` is reported.

Local data paths are left out so re-exporting the same results on another machine gives
the same bytes. The training's timings (``timings``: loop, noise-LM, sampling, prediction
and job seconds, as :func:`calibench.records.training_timings` extracts them) are
kept: they are facts of the run, fixed once it is stored, and they let a clone holding only
the committed results calibrate ``calibench run --dry-run``'s cost model (``calibench
timings`` prints them). Nothing on a board reads them. Results on shifted and OOD sets are
written beside these as ``<task>/<method>.seed<N>.<eval_set>.jsonl``
(:mod:`calibench.report.export_extra`).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calibench.errors import StoreNotFound
from calibench.report.runs import (
    Disagreement,
    LeaderboardError,
    MetricMismatch,
    Run,
    metric_disagreements,
    recompute_metrics,
)

FORMAT = "calibench-result/1"

#: A stored value may differ from its recomputation on the float32 probabilities by more
#: than rounding only when float32 storage moved an example across a bin edge (or made an
#: arg-max tie); above this the export says so, naming the run.
STORE_ATOL = 1e-6

#: Submitted (header) metrics were recomputed from the very probabilities in the file, so
#: beyond floating-point summation order they must agree exactly.
SUBMITTED_ATOL = 1e-9

#: Record fields that are copied into the header as they are.
HEADER_FIELDS: tuple[str, ...] = (
    "task",
    "method",
    "seed",
    "model",
    "fingerprint",
    "key",
    "training_key",
    "prediction_key",
    "recipe",
    "inference",
    "calibrator",
)

#: Split statistics that describe this machine (where the data was read from), not the data.
MACHINE_SPLIT_FIELDS: frozenset[str] = frozenset({"source", "source_origin"})


def run_path(task: str, method: str, seed: int) -> Path:
    """``<task>/<method>.seed<seed>.jsonl``, percent-encoded (injective, filesystem-safe)."""

    def q(text: str) -> str:
        return urllib.parse.quote(text, safe="+=-_,()")

    return Path(q(task)) / f"{q(method)}.seed{int(seed)}.jsonl"


def format_float32(values: np.ndarray) -> list[str]:
    """Shortest decimal strings that read back (as float32) to exactly ``values`` (float32).

    Positional notation (``0.87345123``), scientific below 1e-4 (``1.2e-09``) so that tiny
    probabilities of confident models stay short.
    """
    out = []
    for v in values.astype(np.float32).ravel():
        if v != 0 and abs(v) < 1e-4:
            out.append(np.format_float_scientific(v, unique=True, trim="0", exp_digits=2))
        else:
            out.append(np.format_float_positional(v, unique=True, trim="0"))
    return out


def header_of(run: Run) -> dict[str, Any]:
    """The header line of ``run``'s file; its ``metrics`` recomputed from ``run.probs``."""
    rec = run.record
    header: dict[str, Any] = {"format": FORMAT}
    for k in HEADER_FIELDS:
        header[k] = rec.get(k)
    if run.result.members:  # an ensemble: the seed and keys of each member training
        header["members"] = run.result.members
    config = dict(run.result.config)
    config.pop("data_dir", None)  # a local path; the fingerprint identifies the data
    header["config"] = config
    training = run.result.training
    header["split"] = {k: v for k, v in sorted((training.get("split") or {}).items()) if k not in MACHINE_SPLIT_FIELDS}
    header["precision"] = training.get("precision")
    header["versions"] = training.get("versions")
    if training.get("timings"):  # seconds per part of the training and of this evaluation (execution.costs)
        header["timings"] = {**training["timings"], "eval_seconds": run.result.eval_seconds}
    header["metrics"] = recompute_metrics(run)
    header["n_test"] = int(run.labels.shape[0])
    header["n_classes"] = int(run.probs.shape[1])
    header["columns"] = ["label", *(f"p{c}" for c in range(run.probs.shape[1]))]
    return header


def run_text(run: Run) -> str:
    """The whole file of one run (header line + one line per test example)."""
    probs = np.asarray(run.probs, dtype=np.float32)
    if probs.dtype != run.probs.dtype:
        raise LeaderboardError(f"{run.name}: expected float32 probabilities as stored, got {run.probs.dtype}")
    text = format_float32(probs)
    back = np.array(text, dtype=np.float64).astype(np.float32).reshape(probs.shape)
    if not np.array_equal(back, probs):  # the text must be exact; never silently round
        raise LeaderboardError(f"{run.name}: probabilities do not survive the text round trip")
    c = probs.shape[1]
    lines = [json.dumps(header_of(run), sort_keys=True, separators=(",", ":"))]
    for i, label in enumerate(np.asarray(run.labels).tolist()):
        lines.append("[" + ",".join([str(int(label)), *text[i * c : (i + 1) * c]]) + "]")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`export_runs` did."""

    written: tuple[Path, ...]
    unchanged: tuple[Path, ...]
    removed: tuple[Path, ...]  # files of earlier exports no longer in the selection
    store_disagreements: tuple[Disagreement, ...]  # store values vs recomputation (float32 storage)


#: The extra-set files beside the in-domain ones (:mod:`calibench.report.export_extra`).
EXTRA_FORMAT = "calibench-extra/1"


def _file_format(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline()
        return json.loads(first).get("format")
    except (OSError, ValueError, AttributeError):
        return None


def _is_result_file(path: Path) -> bool:
    """An in-domain or extra-set result file of an export (the ones a new export replaces)."""
    return _file_format(path) in (FORMAT, EXTRA_FORMAT)


def export_runs(runs: Sequence[Run], out_dir: str | Path, *, keep_existing: bool = False) -> ExportSummary:
    """Write one file per run under ``out_dir`` (see the module docstring).

    The directory then mirrors ``runs``: result files of earlier exports that are not among
    them are removed unless ``keep_existing`` (other files are never touched). Files whose
    content is unchanged are not rewritten. Two runs that would share a file (the same task,
    method and seed -- e.g. two encoders in one store) are refused: select one first.
    """
    out = Path(out_dir)
    targets: dict[Path, Run] = {}
    for run in runs:
        rel = run_path(run.task, run.method, run.seed)
        if rel in targets:
            raise LeaderboardError(
                f"{targets[rel].name} and {run.name} would both be exported as {rel}: they differ in "
                "model, data or settings; export them separately (--model, --tasks, --methods)"
            )
        targets[rel] = run
    disagreements = tuple(metric_disagreements(runs, STORE_ATOL))
    written, unchanged = [], []
    for rel, run in sorted(targets.items()):
        path = out / rel
        text = run_text(run)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            unchanged.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    removed = []
    if not keep_existing and out.is_dir():
        keep = {out / rel for rel in targets}
        for path in sorted(out.rglob("*.jsonl")):
            if path not in keep and _is_result_file(path):
                path.unlink()
                removed.append(path)
        for d in sorted((p for p in out.rglob("*") if p.is_dir()), reverse=True):
            if not any(d.iterdir()):
                d.rmdir()
    return ExportSummary(tuple(written), tuple(unchanged), tuple(removed), disagreements)


def read_run(path: str | Path) -> Run:
    """One exported run; malformed content is an error naming the file and line."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if not lines:
        raise LeaderboardError(f"{path}: empty file")
    try:
        header = json.loads(lines[0])
    except ValueError as exc:
        raise LeaderboardError(f"{path}:1: the header is not JSON ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise LeaderboardError(f"{path}:1: not a {FORMAT} file")
    missing = [
        k
        for k in ("task", "method", "seed", "model", "fingerprint", "metrics", "n_test", "n_classes")
        if k not in header
    ]
    if missing:
        raise LeaderboardError(f"{path}:1: header lacks {', '.join(missing)}")
    n, c = int(header["n_test"]), int(header["n_classes"])
    rows = lines[1:]
    if len(rows) != n:
        raise LeaderboardError(f"{path}: header says {n} test examples, the file has {len(rows)} rows")
    parsed = []
    for i, line in enumerate(rows, start=2):
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not (isinstance(row, list) and len(row) == c + 1 and all(isinstance(v, (int, float)) for v in row)):
            raise LeaderboardError(
                f"{path}:{i}: expected a list of {c + 1} numbers [label, p0, ...], got {line[:80]!r}"
            )
        parsed.append(row)
    table = np.array(parsed, dtype=np.float64).reshape(n, c + 1)
    labels = table[:, 0]
    if not np.array_equal(labels, np.round(labels)):
        raise LeaderboardError(f"{path}: labels (first column) must be integers")
    record = {k: v for k, v in header.items() if k != "format"}
    record["training"] = {
        "split": header.get("split") or {},
        "precision": header.get("precision"),
        "versions": header.get("versions"),
    }
    return Run(record, table[:, 1:].astype(np.float32), labels.astype(np.int64), str(path))


def load_result_runs(results_dir: str | Path, *, verify: bool = True) -> list[Run]:
    """Every exported run under ``results_dir``, in path order.

    With ``verify`` (the default) every metric in every header is recomputed from the file's
    probabilities and must agree (``SUBMITTED_ATOL``); otherwise :class:`MetricMismatch`
    names each disagreeing file and metric.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise StoreNotFound(f"no results directory {str(root)!r} (write one with `calibench export --output DIR`)")
    paths = [p for p in sorted(root.rglob("*.jsonl")) if _file_format(p) != EXTRA_FORMAT]  # extra sets: export_extra
    if not paths:
        raise StoreNotFound(f"no *.jsonl result files under {str(root)!r}")
    runs = [read_run(p) for p in paths]
    if verify:
        bad = metric_disagreements(runs, SUBMITTED_ATOL)
        if bad:
            raise MetricMismatch(
                f"{len(bad)} submitted metric value(s) disagree with the recomputation from their "
                "probabilities:\n  " + "\n  ".join(map(str, bad))
            )
    return runs


def export_summary_lines(summary: ExportSummary, out_dir: str | Path) -> list[str]:
    """Human-readable lines about an export (for the CLI)."""
    lines = [
        f"{len(summary.written)} file(s) written, {len(summary.unchanged)} unchanged, "
        f"{len(summary.removed)} stale file(s) removed under {out_dir}"
    ]
    lines += [f"removed {p}" for p in summary.removed]
    if summary.store_disagreements:
        lines.append(
            f"{len(summary.store_disagreements)} stored value(s) differ from the recomputation on the stored float32 "
            f"probabilities by more than {STORE_ATOL:g} (float32 storage moved an example across a bin edge or "
            "made an arg-max tie); the exported metrics are the recomputed ones:"
        )
        lines += [f"  {d}" for d in summary.store_disagreements]
    return lines
