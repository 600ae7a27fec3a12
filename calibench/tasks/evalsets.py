"""Extra evaluation sets of a task: shifted sets (labels used) and OOD sets (labels unused).

A model finetuned on a task also predicts on these, from the same training: ``rte:qnli``
scores an RTE model on QNLI's validation rows (*shift*: in- vs out-of-domain calibration),
``sst2:cola`` feeds it CoLA's sentences (*ood*: can its scores tell them from SST-2's?).
Text fields are mapped onto the trained task's fields and labels by *name* (WNLI's ids are
the reverse of RTE's), and each set is fingerprinted like a split. Everything is checked
when the run is planned, so a pair that does not fit fails before any training.

Spec strings, ``TARGET:SOURCE`` with options as in method strings (lists with ``;``):

* ``rte:qnli``, ``mnli:mnli(split=validation_mismatched)`` -- a registered task's split
  (default: its official dev split); fields by the pair's known map or in order;
* ``imdb:hub(id=Yelp/yelp_polarity,split=test,fields=text,labels=1:negative;2:positive)``;
* ``reviews:file(path=shifted.csv,fields=body,label=stars,labels=1:negative;5:positive)``.

Options: ``split``, ``fields`` (source column per target field, in order, or
``target:source;...``), ``label`` (the source's label column), ``labels`` (source value ->
target label name), ``config`` (hub), ``name`` (how the set is shown), ``size`` (score a
seeded subsample of that many rows, chosen by the training subsample's rule: QNLI's 5,463
pairs cost every RTE training a full prediction pass, and MC dropout ten).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from calibench.errors import OptionError
from calibench.tasks.errors import DataError

EvalKind = Literal["shift", "ood"]
EVAL_KINDS: tuple[str, ...] = ("shift", "ood")
EVALSET_PROTOCOL = "evalset-v1"
_SOURCE_KINDS = ("hub", "file")
_OPTIONS = {"split", "fields", "label", "labels", "config", "name", "id", "path", "size"}

#: known field maps (trained task, source task) -> source column per trained task's text field
BUILTIN_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("rte", "qnli"): ("question", "sentence"),  # GLUE input order of both: first text, second text
    ("rte", "sst2"): ("sentence", "sentence"),  # OOD: a sentence as both premise and hypothesis
    ("sst2", "rte"): ("sentence2",),  # OOD: RTE's hypotheses, single sentences
    ("sst2", "mrpc"): ("sentence1",),
    ("cola", "sst2"): ("sentence",),
}


@dataclass(frozen=True)
class EvalSetSpec:
    """One declared extra evaluation set of the task ``target`` (see the module docstring)."""

    kind: EvalKind
    target: str
    source: Literal["task", "hub", "file"]
    location: str  # a registered task name, a hub dataset id, or a file path
    name: str
    split: str | None = None
    config: str | None = None
    fields: tuple[tuple[str, str], ...] = ()  # (target field, source column); () = the default map
    label_column: str | None = None
    labels: tuple[tuple[str, str], ...] = ()  # (source value, target label name)
    text: str = ""
    size: int | None = None  # a seeded subsample of this many rows (None: every row)

    @property
    def id(self) -> str:
        """``shift-qnli``, ``ood-cola``: how stores, arrays and boards name the set."""
        return f"{self.kind}-{self.name}"

    @property
    def pair(self) -> str:
        """``rte→qnli``: the board's name of the pair."""
        return f"{self.target}→{self.name}"


def _check_kind(kind: str) -> EvalKind:
    if kind not in EVAL_KINDS:
        raise OptionError(f"unknown evaluation-set kind {kind!r}; use one of {EVAL_KINDS}")
    return kind  # type: ignore[return-value]


def parse_eval_set(text: str, kind: str) -> EvalSetSpec:
    """``TARGET:SOURCE[(options)]`` to a spec; the names are checked against the registry."""
    from calibench.specstring import SpecSyntaxError, parse_call
    from calibench.tasks.custom import as_list, as_map
    from calibench.tasks.lookup import get_task

    k = _check_kind(kind)
    flag = f"--{k}"
    target, colon, rest = text.partition(":")
    if not colon or not target.strip() or not rest.strip():
        raise OptionError(
            f"{flag} {text!r}: write TRAINED_TASK:SOURCE, e.g. rte:qnli, sst2:cola, "
            "mnli:mnli(split=validation_mismatched) or imdb:hub(id=Yelp/yelp_polarity,...)"
        )
    try:
        part_name, options = parse_call(rest)
    except SpecSyntaxError as exc:
        raise OptionError(f"{flag} {text!r}: {exc}") from None
    o = dict(options)
    unknown = sorted(set(o) - _OPTIONS)
    if unknown:
        raise OptionError(f"{flag} {text!r}: unknown option(s) {unknown}; known: {sorted(_OPTIONS)}")
    trained = get_task(target.strip())
    if part_name in _SOURCE_KINDS:
        key = "id" if part_name == "hub" else "path"
        if key not in o:
            raise OptionError(f"{flag} {text!r}: {part_name}(...) needs {key}=...")
        location = str(o[key])
        source: Literal["task", "hub", "file"] = part_name  # type: ignore[assignment]
        default_name = Path(location).stem if source == "file" else location.rstrip("/").split("/")[-1]
    else:
        location = get_task(part_name).name
        source, default_name = "task", location
    split = None if o.get("split") is None else str(o["split"])
    if source == "task" and split is not None and split != get_task(location).dev_split_name:
        default_name = f"{location}-{split}"
    fields: tuple[tuple[str, str], ...] = ()
    if "fields" in o:
        raw = o["fields"]
        if isinstance(raw, dict) or (isinstance(raw, str) and ":" in raw):
            fmap = as_map(raw)
            bad = sorted(set(fmap) - set(trained.text_fields))
            if bad:
                raise OptionError(
                    f"{flag} {text!r}: fields={raw!r} names {bad}, not text fields of "
                    f"{trained.name} {list(trained.text_fields)}"
                )
            fields = tuple((f, fmap[f]) for f in trained.text_fields if f in fmap)
        else:
            cols = as_list(raw)
            if len(cols) != len(trained.text_fields):
                raise OptionError(
                    f"{flag} {text!r}: fields={raw!r} gives {len(cols)} column(s) for "
                    f"{trained.name}'s {len(trained.text_fields)} text field(s) {list(trained.text_fields)}"
                )
            fields = tuple(zip(trained.text_fields, cols))
        if len(fields) != len(trained.text_fields):
            missing = [f for f in trained.text_fields if f not in dict(fields)]
            raise OptionError(f"{flag} {text!r}: fields= does not map {trained.name}'s text field(s) {missing}")
    size = o.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise OptionError(f"{flag} {text!r}: size must be a positive whole number of rows, got {size!r}")
    name = str(o.get("name", default_name))
    if not name or any(c in name for c in "/\\:, "):
        raise OptionError(
            f"{flag} {text!r}: name {name!r} may not contain '/', '\\', ':', ',' or spaces; give name=..."
        )
    return EvalSetSpec(
        kind=k,
        target=trained.name,
        source=source,
        location=location,
        name=name,
        split=split,
        config=None if o.get("config") is None else str(o["config"]),
        fields=fields,
        label_column=None if o.get("label") is None else str(o["label"]),
        labels=tuple(sorted(as_map(o["labels"]).items())) if "labels" in o else (),
        text=text.strip(),
        size=size,
    )


@dataclass(frozen=True, eq=False)
class EvalSet:
    """A loaded evaluation set in the trained task's schema, with its content fingerprint."""

    spec: EvalSetSpec
    data: Any  # datasets.Dataset with the trained task's text fields, label, idx
    fingerprint: str
    stats: dict[str, Any]


def _text_columns(
    spec: EvalSetSpec, trained: Any, source_fields: tuple[str, ...] | None, where: str
) -> tuple[str, ...]:
    if spec.fields:
        return tuple(dict(spec.fields)[f] for f in trained.text_fields)
    if source_fields is not None:  # a registered task
        known = BUILTIN_FIELDS.get((trained.name, spec.location))
        if known is not None:
            return known
        if len(source_fields) == len(trained.text_fields):
            return source_fields
        raise DataError(
            f"{where}: {spec.location} has {len(source_fields)} text field(s) {list(source_fields)}, "
            f"{trained.name} has {len(trained.text_fields)} {list(trained.text_fields)}; say which "
            f"column feeds which field with fields=..., e.g. {spec.target}:{spec.location}"
            f"(fields={';'.join([source_fields[0]] * len(trained.text_fields))})"
        )
    return tuple(trained.text_fields)  # hub / file: columns named like the trained task's fields


def load_eval_set(spec: EvalSetSpec, data_dir: str | os.PathLike[str] | None = None) -> EvalSet:
    """Read, map, check and fingerprint one evaluation set (empty texts dropped and counted)."""
    from calibench.tasks.loading import load_split, to_dataset
    from calibench.tasks.lookup import get_task
    from calibench.tasks.splits import compute_fingerprint, drop_empty
    from calibench.tasks.tables import class_names, map_to_task, read_table_file

    trained = get_task(spec.target)
    where = f"{spec.kind} set {spec.text!r}"
    label_column: str | None = None if spec.kind == "ood" else (spec.label_column or "label")
    if spec.source == "task":
        src = get_task(spec.location)
        split = spec.split or src.dev_split_name
        table, source = load_split(src, split, data_dir)  # checked in the source task's own schema
        names: list[str] | None = list(src.label_names)
        cols = _text_columns(spec, trained, src.text_fields, where)
        label_column = None if spec.kind == "ood" else "label"
        origin = f"{source} {split}"
    elif spec.source == "hub":
        import datasets

        split = spec.split or "validation"
        try:
            ds = datasets.load_dataset(spec.location, spec.config, split=split)
        except Exception as exc:  # offline, unknown id or split: one message
            raise DataError(
                f"{where}: could not load {spec.location!r} split {split!r} from the Hugging Face "
                f"hub: {type(exc).__name__}: {exc}. Offline, save it as a file and use file(path=...)"
            ) from exc
        table = ds.with_format("arrow")[:]
        names = class_names(ds.features, label_column) if label_column else None
        cols = _text_columns(spec, trained, None, where)
        origin = f"hub:{spec.location} {split}"
    else:
        table = read_table_file(spec.location)
        names, cols, origin = None, _text_columns(spec, trained, None, where), f"file:{Path(spec.location).resolve()}"
    mapped, no_gold = map_to_task(
        trained,
        table,
        text_columns=cols,
        label_column=label_column,
        source_label_names=names,
        label_map=dict(spec.labels),
        where=where,
    )
    kept, dropped = drop_empty(trained, mapped)
    if kept.num_rows == 0:
        raise DataError(f"{where}: no usable rows ({dropped} had an empty text field)")
    available = kept.num_rows
    if spec.size is not None and spec.size < available:
        import numpy as np
        import pyarrow as pa

        from calibench.tasks.splits import subsample_positions

        idx = kept.column("idx").to_numpy() if "idx" in kept.column_names else np.arange(available)
        kept = kept.take(pa.array(subsample_positions(idx, spec.size, 0)))
    fingerprint = compute_fingerprint(trained, {spec.id: kept}, protocol=EVALSET_PROTOCOL)
    stats = {
        "eval_set": spec.id,
        "kind": spec.kind,
        "pair": spec.pair,
        "definition": spec.text,
        "source": origin,
        "n": kept.num_rows,
        "n_available": available,
        "dropped_empty": dropped,
        "dropped_no_gold_label": no_gold,
        "text_columns": list(cols),
        "fingerprint": fingerprint,
    }
    return EvalSet(spec, to_dataset(trained, kept, spec.id.replace("-", "_")), fingerprint, stats)
