"""Saved predictions from any model: logits with labels, read from ``.npy``/``.npz``, JSON lines
or parquet, and checked so that a malformed file fails with one line naming the file, the
problem and the way out (never a wrong number or a traceback).

Formats (one split of one seed per file, or several seeds in one file):

* ``.npz``: arrays ``logits`` (n, C) and ``labels`` (n,); optional ``seeds`` (n,).
* ``.npy``: the logits (n, C); the labels come from a second ``.npy`` file (``labels=``).
* ``.jsonl``: one object per line, ``{"logits": [...], "label": k}``, optional ``"seed": s``.
* ``.parquet``: columns ``logits`` (a list per row) and ``label``, optional ``seed``.

A ``seed`` field splits the rows into one prediction set per seed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calibench.errors import CalibenchError

FORMATS: tuple[str, ...] = (".npz", ".npy", ".jsonl", ".parquet")


class PredictionFileError(CalibenchError, ValueError):
    """A saved-predictions file that cannot be scored, with the reason and the way out."""


@dataclass(frozen=True)
class Predictions:
    """One split of one seed: logits (n, C) float64 and integer labels (n,)."""

    logits: np.ndarray
    labels: np.ndarray
    source: str  # file (and seed) it came from, for messages


def _fail(path: Path | str, message: str) -> PredictionFileError:
    return PredictionFileError(f"{path}: {message}")


def _read_npy(path: Path, labels: Path | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    if labels is None:
        raise _fail(
            path,
            "a .npy file holds only logits; give the labels as a second .npy file (--dev-labels / "
            "--test-labels), or save both in one .npz with arrays 'logits' and 'labels'",
        )
    if not labels.is_file():
        raise _fail(labels, "labels file does not exist")
    return _load_array(path), _load_array(labels), None


def _load_array(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:  # object arrays, corrupt headers
        raise _fail(path, f"not a numeric .npy array ({exc})") from None


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("logits", "labels") if k not in z.files]
            if missing:
                raise _fail(
                    path,
                    f"missing array(s) {missing}; an .npz needs 'logits' (n, C) and 'labels' (n,), found {z.files}",
                )
            return z["logits"], z["labels"], (z["seeds"] if "seeds" in z.files else None)
    except (ValueError, OSError) as exc:
        if isinstance(exc, PredictionFileError):
            raise
        raise _fail(path, f"not a readable .npz archive ({exc})") from None


def _read_jsonl(path: Path) -> tuple[list, list, list | None]:
    logits, labels, seeds = [], [], []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _fail(path, f"line {i} is not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict) or "logits" not in row or "label" not in row:
                raise _fail(path, f'line {i} must be an object with "logits" (a list) and "label" (an int)')
            logits.append(row["logits"])
            labels.append(row["label"])
            seeds.append(row.get("seed"))
    if any(s is not None for s in seeds) and any(s is None for s in seeds):
        raise _fail(path, 'some lines have a "seed" and some do not; give every line a seed or none')
    return logits, labels, (seeds if seeds and seeds[0] is not None else None)


def _read_parquet(path: Path) -> tuple[list, list, list | None]:
    import pandas as pd

    try:
        df = pd.read_parquet(path)
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise _fail(path, f"not a readable parquet file ({type(exc).__name__}: {exc})") from None
    missing = [c for c in ("logits", "label") if c not in df.columns]
    if missing:
        raise _fail(
            path,
            f"missing column(s) {missing}; a parquet file needs 'logits' (a list per row) and "
            f"'label', found {list(df.columns)}",
        )
    seeds = df["seed"].tolist() if "seed" in df.columns else None
    return [list(v) if v is not None else v for v in df["logits"]], df["label"].tolist(), seeds


def _as_matrix(path: Path, logits: object) -> np.ndarray:
    if isinstance(logits, list):
        lengths = {len(r) if isinstance(r, (list, tuple)) else -1 for r in logits}
        if -1 in lengths:
            raise _fail(path, "every row's logits must be a list of numbers")
        if len(lengths) > 1:
            raise _fail(path, f"shape mismatch: rows have different numbers of logits ({sorted(lengths)})")
    try:
        a = np.asarray(logits, dtype=np.float64)
    except (TypeError, ValueError):
        raise _fail(path, "logits must be numbers") from None
    if a.ndim != 2:
        raise _fail(path, f"shape mismatch: logits must be a 2-D array (n, C), got shape {a.shape}")
    if a.shape[0] == 0:
        raise _fail(path, "no predictions in the file")
    if a.shape[1] < 2:
        raise _fail(path, f"logits need at least 2 classes (columns), got {a.shape[1]}")
    bad = ~np.isfinite(a)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise _fail(
            path,
            f"non-finite values (NaN or inf) in {int(bad.any(axis=1).sum())} row(s) of logits, "
            f"first row {row}: {a[row].tolist()}",
        )
    return a


def _as_labels(path: Path, labels: object, n: int, n_classes: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != n:
        raise _fail(path, f"shape mismatch: {n} rows of logits but labels of shape {y.shape}; expected ({n},)")
    if y.dtype == object or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise _fail(path, f"labels must be integer class indices, got {y.dtype} values such as {y[0]!r}")
    if np.issubdtype(y.dtype, np.floating) and (not np.isfinite(y).all() or (y != np.round(y)).any()):
        raise _fail(path, "labels must be integer class indices, found non-integer values")
    y = y.astype(np.int64)
    bad = (y < 0) | (y >= n_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _fail(
            path,
            f"labels out of range [0, {n_classes}) for {n_classes} logit columns: {int(bad.sum())} "
            f"label(s), first at row {i} = {int(y[i])}",
        )
    return y


def read_predictions(path: str | Path, labels: str | Path | None = None) -> dict[int | None, Predictions]:
    """The prediction sets in ``path`` by seed (``None`` when the file has no seed field)."""
    p = Path(path)
    if not p.is_file():
        raise _fail(p, "file does not exist")
    suffix = p.suffix.lower()
    if suffix not in FORMATS:
        raise _fail(p, f"unknown format {p.suffix or '(no extension)'!r}; use one of {', '.join(FORMATS)}")
    if labels is not None and suffix != ".npy":
        raise _fail(p, "a separate labels file goes with .npy logits only; this format holds its own labels")
    if suffix == ".npy":
        raw_logits, raw_labels, raw_seeds = _read_npy(p, Path(labels) if labels is not None else None)
    elif suffix == ".npz":
        raw_logits, raw_labels, raw_seeds = _read_npz(p)
    elif suffix == ".jsonl":
        raw_logits, raw_labels, raw_seeds = _read_jsonl(p)
    else:
        raw_logits, raw_labels, raw_seeds = _read_parquet(p)
    logits = _as_matrix(p, raw_logits)
    y = _as_labels(p if labels is None else Path(labels), raw_labels, logits.shape[0], logits.shape[1])
    if raw_seeds is None:
        return {None: Predictions(logits, y, str(p))}
    seeds = np.asarray(raw_seeds)
    if seeds.shape != (logits.shape[0],) or not np.issubdtype(seeds.dtype, np.integer):
        raise _fail(p, f"seeds must be one integer per row, got {seeds.dtype} of shape {seeds.shape}")
    return {int(s): Predictions(logits[seeds == s], y[seeds == s], f"{p} (seed {int(s)})") for s in np.unique(seeds)}
