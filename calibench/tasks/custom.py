"""Tasks beyond GLUE: a user's own classification data, from local files or the hub.

A custom task is an ordinary :class:`~calibench.tasks.spec.TaskSpec` whose ``source``
says where its rows live and which columns hold the texts and the label. It trains,
evaluates and can be shifted to exactly like a GLUE task: the same split protocol (its
validation split is halved into dev and test), the same fingerprint, the same checks.

From Python or a plugin (registered like a method plugin, see ``docs/plugins.md``)::

    register("task", "reviews", custom_task("reviews", files={"train": "train.csv",
             "validation": "dev.csv"}, text=["review"], labels=["negative", "positive"]))

From the command line, the same definition as one string (lists separated by ``;``)::

    --task-def 'reviews=files(train=train.csv,validation=dev.csv,text=review,labels=negative;positive)'
    --task-def 'imdb=hub(id=stanfordnlp/imdb,validation=test,text=text,labels=neg;pos)'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from calibench.errors import OptionError
from calibench.tasks.errors import DataError
from calibench.tasks.spec import METRICS, CustomSource, TaskSpec

KINDS = ("files", "hub")
_OPTIONS = {"train", "validation", "text", "label", "labels", "metric", "id", "config", "description"}


def as_list(value: Any) -> list[str]:
    """``a;b`` or a tuple/list, as a list of strings (option values in spec strings)."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [v.strip() for v in str(value).split(";") if v.strip()]


def as_map(value: Any) -> dict[str, str]:
    """``k:v;k:v`` or a dict, as a dict of strings."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    out = {}
    for item in as_list(value):
        k, sep, v = item.partition(":")
        if not sep:
            raise OptionError(f"{item!r} in {value!r} is not key:value")
        out[k.strip()] = v.strip()
    return out


def custom_task(
    name: str,
    *,
    text: Sequence[str],
    labels: Sequence[str],
    files: Mapping[str, str] | None = None,
    hub: str | None = None,
    config: str | None = None,
    splits: Mapping[str, str] | None = None,
    label: str = "label",
    metric: str = "accuracy",
    description: str = "",
    definition: str = "",
) -> TaskSpec:
    """A task on local ``files`` (split -> path) or the ``hub`` dataset id (split -> hub split in
    ``splits``, default ``train`` and ``validation``). ``text`` names the 1 or 2 text columns,
    ``label`` the label column, ``labels`` the class names in id order."""
    if (files is None) == (hub is None):
        raise OptionError(f"task {name!r}: give files=... or hub=..., not {'both' if files else 'neither'}")
    if metric not in METRICS:
        raise OptionError(f"task {name!r}: metric {metric!r} is not one of {METRICS}")
    if files is not None:
        missing = [s for s in ("train", "validation") if s not in files]
        if missing:
            raise OptionError(
                f"task {name!r}: files= needs a {' and a '.join(missing)} file "
                "(the validation file is halved into dev and test)"
            )
        source = CustomSource(
            "files", "", tuple((s, str(p)) for s, p in files.items()), tuple(text), label, definition=definition
        )
    else:
        chosen = {"train": "train", "validation": "validation", **(splits or {})}
        source = CustomSource("hub", str(hub), tuple(chosen.items()), tuple(text), label, config, definition)
    fields = tuple(dict.fromkeys(text))
    if len(fields) != len(text):
        raise OptionError(f"task {name!r}: the same column {list(text)} cannot be both text fields")
    return TaskSpec(
        name=name,
        hf_config=config or "",
        text_fields=fields,
        label_names=tuple(labels),
        metric=metric,
        hf_path=str(hub or ""),
        source=source,  # type: ignore[arg-type]
        description=description or f"custom task ({source.kind}: {hub or ', '.join(files or {})})",
    )


def parse_task_def(text: str) -> TaskSpec:
    """``NAME=files(...)`` or ``NAME=hub(...)`` (see the module docstring) to a :class:`TaskSpec`."""
    from calibench.specstring import SpecSyntaxError, parse_call

    name, eq, rest = text.partition("=")
    name = name.strip()
    if not eq or not name or not rest.strip():
        raise OptionError(
            f"--task-def {text!r}: write NAME=files(train=PATH,validation=PATH,text=COL,labels=A;B) "
            "or NAME=hub(id=DATASET,text=COL,labels=A;B)"
        )
    try:
        part_name, options = parse_call(rest)
    except SpecSyntaxError as exc:
        raise OptionError(f"--task-def {text!r}: {exc}") from None
    if part_name not in KINDS:
        raise OptionError(f"--task-def {text!r}: unknown source {part_name!r}; use files(...) or hub(...)")
    o = dict(options)
    unknown = sorted(set(o) - _OPTIONS)
    if unknown:
        raise OptionError(f"--task-def {text!r}: unknown option(s) {unknown}; known: {sorted(_OPTIONS)}")
    for needed in ("text", "labels"):
        if needed not in o:
            raise OptionError(f"--task-def {text!r}: give {needed}=... (e.g. text=sentence, labels=negative;positive)")
    common: dict[str, Any] = {
        "text": as_list(o["text"]),
        "labels": as_list(o["labels"]),
        "label": str(o.get("label", "label")),
        "metric": str(o.get("metric", "accuracy")),
        "description": str(o.get("description", "")),
        "definition": text,
    }
    if part_name == "files":
        for bad in ("id", "config"):
            if bad in o:
                raise OptionError(f"--task-def {text!r}: {bad}= is for hub(...) sources")
        files = {s: str(o[s]) for s in ("train", "validation") if s in o}
        return custom_task(name, files=files, **common)
    if "id" not in o:
        raise OptionError(f"--task-def {text!r}: hub(...) needs id=DATASET (a Hugging Face dataset id)")
    splits = {s: str(o[s]) for s in ("train", "validation") if s in o}
    return custom_task(
        name, hub=str(o["id"]), config=None if o.get("config") is None else str(o["config"]), splits=splits, **common
    )


def register_task_def(text: str) -> TaskSpec:
    """Parse a ``--task-def`` and register it; the same definition again is a no-op, another
    definition under a name already registered is refused (as for any registry name)."""
    from calibench import registry

    spec = parse_task_def(text)
    if spec.name in registry.names("task"):
        existing = registry.get("task", spec.name)
        if getattr(existing, "source", None) is None:
            raise OptionError(f"--task-def {spec.name!r}: a built-in task has that name; choose another")
    registry.register("task", spec.name, spec, description=spec.description, source="--task-def")
    return spec


# --------------------------------------------------------------------------- loading


def _hub_table(spec: TaskSpec, split: str) -> tuple[Any, list[str] | None, str]:
    import datasets

    from calibench.tasks.tables import class_names

    assert spec.source is not None
    hub_split = spec.source.split_location(split) or split
    try:
        ds = datasets.load_dataset(spec.source.location, spec.source.config, split=hub_split)
    except Exception as exc:  # offline, unknown id or split, auth: one message
        raise DataError(
            f"task {spec.name}: could not load {spec.source.location!r}"
            + (f" (config {spec.source.config!r})" if spec.source.config else "")
            + f" split {hub_split!r} from the Hugging Face hub: {type(exc).__name__}: {exc}. Offline, "
            "save the splits as parquet/CSV/JSON-lines files and use files(...) instead"
        ) from exc
    where = f"{spec.name} {split} (hub {spec.source.location} split {hub_split})"
    return ds.with_format("arrow")[:], class_names(ds.features, spec.source.label_column), where


def load_custom_split(spec: TaskSpec, split: str):
    """One split of a custom task, checked, in the common schema; and its :class:`DataSource`."""
    from calibench.tasks.loading import DataSource
    from calibench.tasks.tables import map_to_task, read_table_file

    src = spec.source
    assert src is not None
    if src.kind == "files":
        path = src.split_location(split)
        if path is None:
            raise DataError(f"task {spec.name}: no file for split {split!r}; it has {[s for s, _ in src.splits]}")
        table, names, where = read_table_file(path), None, f"{spec.name} {split} ({path})"
        location = str(Path(path).resolve().parent)
    else:
        table, names, where = _hub_table(spec, split)
        location = src.location
    mapped, _no_gold = map_to_task(
        spec, table, text_columns=src.text_columns, label_column=src.label_column, source_label_names=names, where=where
    )
    return mapped, DataSource(src.kind, location, "task definition")  # type: ignore[arg-type]


def load_custom_task(spec: TaskSpec):
    """Training and official dev split of a custom task, as :func:`calibench.tasks.loading.load_task` returns."""
    from calibench.tasks.loading import LoadedTask, to_dataset

    train, source = load_custom_split(spec, spec.train_split_name)
    dev, _ = load_custom_split(spec, spec.dev_split_name)
    return LoadedTask(
        task=spec,
        train=to_dataset(spec, train, spec.train_split_name),
        dev=to_dataset(spec, dev, spec.dev_split_name),
        source=source,
        dropped_malformed={"train": 0, "official_dev": 0},
    )
