"""Tasks: GLUE specs, data loading (local parquet / GLUE TSV / hub) and the split protocol.

Importing this package is cheap: the loading and splitting code (which pulls in
``datasets`` and ``pyarrow``) is imported on first use of those names, so that registering
tasks at CLI start-up costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from calibench.tasks.errors import DataError
from calibench.tasks.lookup import get_task
from calibench.tasks.spec import DerivedSplits, TaskSpec, TsvLayout

if TYPE_CHECKING:
    from calibench.tasks.loading import DataSource, LoadedTask, load_task, resolve_source
    from calibench.tasks.splits import PROTOCOL, Splits, compute_fingerprint, prepare_splits

_LAZY: dict[str, str] = {
    "DataSource": "calibench.tasks.loading",
    "LoadedTask": "calibench.tasks.loading",
    "load_task": "calibench.tasks.loading",
    "resolve_source": "calibench.tasks.loading",
    "PROTOCOL": "calibench.tasks.splits",
    "Splits": "calibench.tasks.splits",
    "compute_fingerprint": "calibench.tasks.splits",
    "prepare_splits": "calibench.tasks.splits",
}

__all__ = [
    "PROTOCOL",
    "DataError",
    "DataSource",
    "DerivedSplits",
    "LoadedTask",
    "Splits",
    "TaskSpec",
    "TsvLayout",
    "compute_fingerprint",
    "get_task",
    "load_task",
    "prepare_splits",
    "resolve_source",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
