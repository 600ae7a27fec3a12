"""One registry for every pluggable thing: recipes, inference procedures, calibrators,
tasks and metrics.

Registration is cheap and lazy: an entry names its implementation as a ``"module:attr"``
string (or the object itself), and the implementation is imported only when first used.
So ``calibench ls`` and ``--help`` never import torch, however many plugins exist.

Out-of-tree plugins declare an entry point in the group ``calibench.methods`` (or
``calibench.tasks``, ``calibench.metrics``) whose value is a module; importing that
module calls :func:`register` for each of its entries. A plugin that fails to import is
recorded by name (see :func:`plugin_errors`) and never breaks the others.
"""

from __future__ import annotations

import difflib
import importlib
import threading
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, Literal

Kind = Literal["recipe", "inference", "calibrator", "task", "metric"]
KINDS: tuple[Kind, ...] = ("recipe", "inference", "calibrator", "task", "metric")
METHOD_KINDS: tuple[Kind, ...] = ("recipe", "inference", "calibrator")

ENTRY_POINT_GROUPS = ("calibench.methods", "calibench.tasks", "calibench.metrics")


class RegistryError(KeyError):
    """An unknown or ambiguous name; the message lists the closest known names."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


@dataclass
class Entry:
    kind: Kind
    name: str
    target: str | Any
    description: str = ""
    source: str = "calibench"  # the distribution that registered it
    library: str = "calibench"  # the library that implements it (torch, netcal, laplace-torch, ...)
    metadata: dict[str, Any] = field(default_factory=dict)
    _loaded: Any = None

    def load(self) -> Any:
        """Import (once) and return the implementation."""
        if self._loaded is None:
            if isinstance(self.target, str):
                module_name, _, attr = self.target.partition(":")
                obj: Any = importlib.import_module(module_name)
                for part in attr.split(".") if attr else []:
                    obj = getattr(obj, part)
                self._loaded = obj
            else:
                self._loaded = self.target
        return self._loaded


_entries: dict[Kind, dict[str, Entry]] = {k: {} for k in KINDS}
_plugin_errors: dict[str, str] = {}
_plugins_loaded = False
_lock = threading.RLock()
_current_source: list[str] = []


def register(
    kind: Kind,
    name: str,
    target: str | Any,
    *,
    description: str = "",
    source: str | None = None,
    library: str | None = None,
    **metadata: Any,
) -> None:
    """Register ``target`` (an object or a lazy ``"module:attr"`` string) under ``name``.

    ``library`` names the library that does the work (``calibench ls`` shows it); it
    defaults to the registering distribution."""
    if kind not in KINDS:
        raise ValueError(f"unknown registry kind {kind!r}; expected one of {', '.join(KINDS)}")
    if "+" in name or "," in name or not name:
        raise ValueError(f"invalid {kind} name {name!r}: names may not be empty or contain '+' or ','")
    with _lock:
        src = source or (_current_source[-1] if _current_source else "calibench")
        existing = _entries[kind].get(name)
        if existing is not None and existing.target != target:
            raise ValueError(
                f"{kind} {name!r} is already registered by {existing.source}; "
                f"pick another name for the one from {src}"
            )
        _entries[kind][name] = Entry(kind, name, target, description, src, library or src, dict(metadata))


def _decorator(kind: Kind) -> Callable[..., Callable[[Any], Any]]:
    def deco_factory(name: str, *, description: str = "", **metadata: Any) -> Callable[[Any], Any]:
        def deco(obj: Any) -> Any:
            desc = description or ((obj.__doc__ or "").strip().splitlines() or [""])[0]
            register(kind, name, obj, description=desc, **metadata)
            return obj

        return deco

    deco_factory.__doc__ = f"Class/function decorator registering a {kind} under a name."
    return deco_factory


register_recipe = _decorator("recipe")
register_inference = _decorator("inference")
register_calibrator = _decorator("calibrator")
register_task = _decorator("task")
register_metric = _decorator("metric")


def load_plugins(force: bool = False) -> None:
    """Import calibench's own registrations and every installed entry-point plugin."""
    global _plugins_loaded
    with _lock:
        if _plugins_loaded and not force:
            return
        _plugins_loaded = True  # set first: a plugin may look names up while it loads
        try:
            importlib.import_module("calibench.builtin")
        except BaseException:
            _plugins_loaded = False  # fail loudly again next time, never half-loaded in silence
            raise
        for group in ENTRY_POINT_GROUPS:
            for ep in entry_points(group=group):
                dist = getattr(ep, "dist", None)
                src = dist.name if dist is not None else ep.name
                _current_source.append(src)
                try:
                    ep.load()
                except Exception as exc:  # a broken plugin must not break the others
                    _plugin_errors[f"{src} ({ep.value})"] = f"{type(exc).__name__}: {exc}"
                finally:
                    _current_source.pop()


def plugin_errors() -> dict[str, str]:
    """Plugins that failed to import: ``{"dist (module)": "error"}``."""
    load_plugins()
    return dict(_plugin_errors)


def entries(kind: Kind) -> list[Entry]:
    load_plugins()
    return sorted(_entries[kind].values(), key=lambda e: e.name)


def names(kind: Kind) -> list[str]:
    return [e.name for e in entries(kind)]


def closest(name: str, candidates: list[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)


def get_entry(kind: Kind, name: str) -> Entry:
    load_plugins()
    try:
        return _entries[kind][name]
    except KeyError:
        known = sorted(_entries[kind])
        hint = closest(name, known)
        msg = f"unknown {kind} {name!r}."
        if hint:
            msg += f" Did you mean {', '.join(repr(h) for h in hint)}?"
        msg += f" Known {kind}s: {', '.join(known) or '(none)'}. `calibench ls` lists everything."
        raise RegistryError(msg) from None


def get(kind: Kind, name: str) -> Any:
    """The implementation registered as ``name``, imported on first use."""
    return get_entry(kind, name).load()


def kind_of(name: str) -> Kind:
    """Which method kind (recipe, inference, calibrator) ``name`` is."""
    load_plugins()
    found = [k for k in METHOD_KINDS if name in _entries[k]]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise RegistryError(f"method part {name!r} is registered as more than one kind: {', '.join(found)}")
    known = sorted({n for k in METHOD_KINDS for n in _entries[k]})
    hint = closest(name, known)
    msg = f"unknown method {name!r}."
    if hint:
        msg += f" Did you mean {', '.join(repr(h) for h in hint)}?"
    msg += " `calibench ls methods` lists the methods."
    raise RegistryError(msg)
