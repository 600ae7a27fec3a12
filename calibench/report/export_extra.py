"""Results on extra evaluation sets (shifted and OOD sets) as reviewable text, beside the
in-domain results of :mod:`calibench.report.export`, so a board built from an exported
results directory shows its in- vs out-of-domain and OOD sections like one built from the
store.

Layout: ``<dir>/<task>/<method>.seed<N>.<eval_set>.jsonl``. Line 1 is a JSON header
``{"format": "calibench-extra/1", "record": {...}, "arrays": [[name, dtype, n], ...]}`` (the
record without machine-specific fields); then one line per array, in the header's order,
as a JSON list: float32 arrays in the shortest decimals that read back to the same float32
(exact, as the in-domain files), integer arrays as integers. A shifted set's arrays are
``test_probs`` (flattened row-major, ``n`` rows) and ``test_labels``; an OOD set's are the
in- and out-of-distribution scores. The in-domain twin is found by its key among the
directory's in-domain results.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from calibench.report.export import EXTRA_FORMAT, SUBMITTED_ATOL, format_float32, run_path
from calibench.report.runs import LeaderboardError, MetricMismatch, Run, disagrees, recompute_stored
from calibench.report.shift import ExtraRun

#: Record fields a file keeps (the rest -- configs with local paths, timings -- stay in the store).
EXTRA_FIELDS: tuple[str, ...] = (
    "key",
    "method",
    "task",
    "seed",
    "model",
    "eval_set",
    "eval_kind",
    "pair",
    "eval_set_stats",
    "in_domain_key",
    "fingerprint",
    "eval_set_fingerprint",
    "training_key",
    "prediction_key",
    "calibrator",
    "metrics",
    "n_test",
)
MACHINE_STAT_FIELDS = frozenset({"source", "source_origin", "path"})


def extra_path(run: ExtraRun) -> Path:
    """``<task>/<method>.seed<N>.<eval_set>.jsonl`` next to the in-domain file of the same run."""
    base = run_path(run.record["task"], run.record["method"], run.record["seed"])
    return base.with_name(base.stem + "." + urllib.parse.quote(str(run.record["eval_set"]), safe="-_") + ".jsonl")


def _array_line(values: np.ndarray) -> str:
    if np.issubdtype(values.dtype, np.integer):
        return "[" + ",".join(str(int(v)) for v in values.ravel()) + "]"
    return "[" + ",".join(format_float32(values.astype(np.float32))) + "]"


def extra_text(run: ExtraRun) -> str:
    """The whole file of one extra-set result."""
    record = {k: run.record.get(k) for k in EXTRA_FIELDS if k in run.record}
    stats = record.get("eval_set_stats")
    if isinstance(stats, dict):
        record["eval_set_stats"] = {k: v for k, v in sorted(stats.items()) if k not in MACHINE_STAT_FIELDS}
    names = sorted(run.arrays)
    header = {
        "format": EXTRA_FORMAT,
        "record": record,
        "arrays": [
            [n, "int64" if np.issubdtype(run.arrays[n].dtype, np.integer) else "float32", int(run.arrays[n].shape[0])]
            for n in names
        ],
    }
    if "test_probs" in run.arrays:
        header["n_classes"] = int(run.arrays["test_probs"].shape[1])
    lines = [json.dumps(header, sort_keys=True, separators=(",", ":"))]
    lines += [_array_line(np.asarray(run.arrays[n])) for n in names]
    return "\n".join(lines) + "\n"


def is_extra_file(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            return json.loads(f.readline()).get("format") == EXTRA_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def read_extra(path: str | Path, in_domain: dict[str, Run]) -> ExtraRun:
    """One exported extra-set result, joined to its in-domain twin (``in_domain``: key -> run)."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        header = json.loads(lines[0])
        record = dict(header["record"])
        specs = header["arrays"]
        if len(lines) != 1 + len(specs):
            raise ValueError(f"{len(specs)} arrays announced, {len(lines) - 1} lines follow")
        arrays = {}
        for (name, dtype, n), line in zip(specs, lines[1:]):
            values = np.array(json.loads(line), dtype=np.float64)
            if name == "test_probs":
                values = values.reshape(n, int(header["n_classes"]))
            elif values.shape != (n,):
                raise ValueError(f"array {name} has {values.size} values, the header says {n}")
            arrays[name] = values.astype(np.int64 if dtype == "int64" else np.float32)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LeaderboardError(f"{path}: not a readable {EXTRA_FORMAT} file ({exc})") from exc
    twin = in_domain.get(record.get("in_domain_key", ""))
    in_arrays = {"test_probs": twin.probs, "test_labels": twin.labels} if twin is not None else None
    return ExtraRun(record, arrays, dict(twin.record) if twin is not None else None, in_arrays)


def check_extra_metrics(run: ExtraRun, source: str) -> None:
    """A shifted set's stored metrics must equal their recomputation from the file's probabilities."""
    if "test_probs" not in run.arrays:
        return
    stored = run.record.get("metrics", {})
    fresh = recompute_stored(stored, run.arrays["test_probs"], run.arrays["test_labels"])
    bad = [
        f"{key}: stored {stored[key]['value']!r}, recomputed {f['value']!r}"
        for key, f in fresh.items()
        if disagrees(stored[key]["value"], f["value"], SUBMITTED_ATOL)
    ]
    if bad:
        raise MetricMismatch(f"{source}: " + "; ".join(bad))


def with_recomputed_metrics(run: ExtraRun) -> ExtraRun:
    """``run`` with a shifted set's metrics recomputed from its float32 probabilities (as the export writes them)."""
    if "test_probs" not in run.arrays:
        return run
    metrics = recompute_stored(run.record.get("metrics", {}), run.arrays["test_probs"], run.arrays["test_labels"])
    return ExtraRun({**run.record, "metrics": metrics}, run.arrays, run.in_domain, run.in_arrays)


def export_extra_runs(runs: Sequence[ExtraRun], out_dir: str | Path) -> list[Path]:
    """Write each extra-set result under ``out_dir`` (after :func:`calibench.report.export.export_runs`,
    which removes the extra-set files of earlier exports); returns the paths."""
    out = Path(out_dir)
    written = []
    for run in runs:
        path = out / extra_path(run)
        text = extra_text(with_recomputed_metrics(run))
        if not (path.is_file() and path.read_text(encoding="utf-8") == text):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def load_extra_result_runs(results_dir: str | Path, runs: Sequence[Run]) -> list[ExtraRun]:
    """Every exported extra-set result under ``results_dir``, joined to its in-domain twin among ``runs``."""
    by_key: dict[str, Any] = {str(r.record.get("key")): r for r in runs}
    out = []
    for path in sorted(Path(results_dir).rglob("*.jsonl")):
        if is_extra_file(path):
            extra = read_extra(path, by_key)
            check_extra_metrics(extra, str(path))
            out.append(extra)
    return out
