"""One registry per pluggable kind: recipes, inference procedures, calibrators, tasks, metrics.

Registration is cheap and lazy: an entry names its implementation as a ``"module:attr"``
string (or the object itself), and the implementation is imported only when first used.
So ``calibench ls`` and ``--help`` never import torch, however many plugins exist. Each
kind has its base (``Recipe``, ``Inference``, ``Calibrator`` subclasses; ``TaskSpec``,
``Metric`` instances), checked when an object is registered and when a lazy target is
first loaded.

Every package, calibench included, registers through entry points: a module named in the
group ``calibench.methods`` (or ``calibench.tasks``, ``calibench.metrics``) calls
:func:`register` for each of its entries when imported. calibench's own entries are its
``calibench.builtin`` entry point, so this module imports none of them. A plugin that fails
to import, or whose implementation fails to load when looked up, is recorded by name (see
:func:`plugin_errors`), reported in one line, and never breaks the others.
"""

from __future__ import annotations

import difflib
import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Literal

from calibench.errors import CalibenchError

Kind = Literal["recipe", "inference", "calibrator", "task", "metric"]
KINDS: tuple[Kind, ...] = ("recipe", "inference", "calibrator", "task", "metric")
METHOD_KINDS: tuple[Kind, ...] = ("recipe", "inference", "calibrator")

ENTRY_POINT_GROUPS = ("calibench.methods", "calibench.tasks", "calibench.metrics")
#: the distribution whose entries are calibench's own: a failure there is a bug, not a plugin's
OWN_SOURCE = "calibench"
#: calibench's own registrations, found through its entry point like any plugin's
BUILTIN_MODULE = "calibench.builtin"


class RegistryError(CalibenchError, KeyError):
    """An unknown or ambiguous name; the message lists the closest known names."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class PluginError(RegistryError):
    """A plugin's entry that cannot be used: its module fails to import, lacks the attribute,
    or holds something that is not the kind's base."""


def _import_target(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


@dataclass
class Entry:
    kind: Kind
    name: str
    target: str | Any
    description: str = ""
    source: str = OWN_SOURCE  # the distribution that registered it
    library: str = OWN_SOURCE  # the library that implements it (torch, netcal, laplace-torch, ...)
    metadata: dict[str, Any] = field(default_factory=dict)
    _loaded: Any = None

    def load(self) -> Any:
        """Import (once), check against the kind's base, and return the implementation.

        A plugin's failure is a :class:`PluginError` naming the plugin, the entry and the
        cause, and is recorded in :func:`plugin_errors`; calibench's own raise as they are.
        """
        if self._loaded is None:
            if not isinstance(self.target, str):
                self._loaded = self.target
            elif self.source == OWN_SOURCE:
                self._loaded = _REGISTRIES[self.kind].check(self.name, _import_target(self.target), self.source)
            else:
                try:
                    obj = _import_target(self.target)
                except Exception as exc:  # the plugin's code, not ours: one line, recorded
                    error = PluginError(
                        f"{self.kind} {self.name!r} from plugin {self.source}: {self.target} cannot be "
                        f"loaded: {type(exc).__name__}: {exc}"
                    )
                    _record(self, error)
                    raise error from exc
                try:
                    self._loaded = _REGISTRIES[self.kind].check(self.name, obj, self.source)
                except PluginError as error:
                    _record(self, error)
                    raise
        return self._loaded


def _record(entry: Entry, error: PluginError) -> None:
    with _lock:
        _plugin_errors[f"{entry.source} ({entry.kind} {entry.name})"] = str(error)


@dataclass
class Registry:
    """The entries of one kind, and the base every one of them must have."""

    kind: Kind
    base: str  # "module:attr" of the base, imported only to check an entry
    instances: bool  # entries are instances of ``base`` (tasks, metrics), not subclasses
    entries: dict[str, Entry] = field(default_factory=dict)

    def check(self, name: str, obj: Any, source: str) -> Any:
        """``obj`` if it has this kind's base; else a one-line error (a bug if it is calibench's)."""
        base = _import_target(self.base)
        ok = isinstance(obj, base) if self.instances else isinstance(obj, type) and issubclass(obj, base)
        if not ok:
            what = "an instance" if self.instances else "a subclass"
            why = f"is {obj!r}, not {what} of {base.__module__}.{base.__qualname__}"
            if source == OWN_SOURCE:
                raise TypeError(f"{self.kind} {name!r} {why}")
            raise PluginError(f"{self.kind} {name!r} from plugin {source} {why}")
        return obj

    def add(self, entry: Entry) -> None:
        existing = self.entries.get(entry.name)
        if existing is not None and existing.target != entry.target:
            raise ValueError(
                f"{self.kind} {entry.name!r} is already registered by {existing.source}; "
                f"pick another name for the one from {entry.source}"
            )
        if not isinstance(entry.target, str):
            self.check(entry.name, entry.target, entry.source)
        self.entries[entry.name] = entry


_BASES: dict[Kind, tuple[str, bool]] = {
    "recipe": ("calibench.methods.base:Recipe", False),
    "inference": ("calibench.methods.base:Inference", False),
    "calibrator": ("calibench.methods.base:Calibrator", False),
    "task": ("calibench.tasks.spec:TaskSpec", True),
    "metric": ("calibench.metrics.specs:Metric", True),
}
_REGISTRIES: dict[Kind, Registry] = {k: Registry(k, *_BASES[k]) for k in KINDS}
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
        src = source or (_current_source[-1] if _current_source else OWN_SOURCE)
        _REGISTRIES[kind].add(Entry(kind, name, target, description, src, library or src, dict(metadata)))


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


def _plugin_entry_points() -> list[Any]:
    """Every entry point of the groups, once each, calibench's own first."""
    seen: dict[str, Any] = {}
    for group in ENTRY_POINT_GROUPS:
        for ep in entry_points(group=group):
            seen.setdefault(ep.value, ep)
    own = [ep for ep in seen.values() if ep.value == BUILTIN_MODULE]
    if not own:
        raise RuntimeError(
            f"calibench's own registrations ({BUILTIN_MODULE}) have no entry point: the installed "
            'metadata is stale or missing; reinstall with `pip install -e ".[test]"` (or `pip install calibench`)'
        )
    return own + [ep for ep in seen.values() if ep.value != BUILTIN_MODULE]


def load_plugins(force: bool = False) -> None:
    """Import every installed entry-point module: calibench's own registrations, then the plugins'."""
    global _plugins_loaded
    with _lock:
        if _plugins_loaded and not force:
            return
        _plugins_loaded = True  # set first: a plugin may look names up while it loads
        try:
            eps = _plugin_entry_points()
            eps[0].load()  # calibench's own: a failure is a bug and must show
        except BaseException:
            _plugins_loaded = False  # fail loudly again next time, never half-loaded in silence
            raise
        for ep in eps[1:]:
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
    """Plugins that failed to import or load: ``{"dist (module or entry)": "error"}``."""
    load_plugins()
    return dict(_plugin_errors)


def entries(kind: Kind) -> list[Entry]:
    load_plugins()
    return sorted(_REGISTRIES[kind].entries.values(), key=lambda e: e.name)


def names(kind: Kind) -> list[str]:
    return [e.name for e in entries(kind)]


def closest(name: str, candidates: list[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)


def _failed_plugins_hint() -> str:
    if not _plugin_errors:
        return ""
    return f" Plugins that failed to load: {', '.join(sorted(_plugin_errors))} (`calibench ls` says why)."


def get_entry(kind: Kind, name: str) -> Entry:
    load_plugins()
    try:
        return _REGISTRIES[kind].entries[name]
    except KeyError:
        known = sorted(_REGISTRIES[kind].entries)
        hint = closest(name, known)
        msg = f"unknown {kind} {name!r}."
        if hint:
            msg += f" Did you mean {', '.join(repr(h) for h in hint)}?"
        msg += f" Known {kind}s: {', '.join(known) or '(none)'}. `calibench ls` lists everything."
        raise RegistryError(msg + _failed_plugins_hint()) from None


def get(kind: Kind, name: str) -> Any:
    """The implementation registered as ``name``, imported (and checked) on first use."""
    return get_entry(kind, name).load()


def register_alias(kind: Kind, alias: str, name: str, *, description: str = "", **options: Any) -> None:
    """Register ``alias`` as ``name`` with ``options`` fixed (``ebm-hidden`` = ``ebm(energy=hidden)``)."""
    target = get_entry(kind, name)
    register(
        kind, alias, target.target, description=description or target.description, alias_of=name, options=dict(options)
    )


def canonical_name(kind: Kind, name: str) -> str:
    """The name an alias stands for (a name that is no alias stands for itself)."""
    return get_entry(kind, name).metadata.get("alias_of", name)


def create(kind: Kind, name: str, **options: Any) -> Any:
    """An instance of the class registered as ``name`` with ``options`` (an alias adds its own).

    The one place a method part is built from its name; an option an alias fixes cannot be
    given a different value (write the canonical name with that option instead).
    """
    entry = get_entry(kind, name)
    fixed = entry.metadata.get("options", {})
    clash = sorted(k for k in set(fixed) & set(options) if options[k] != fixed[k])
    if clash:
        given = ",".join(f"{k}={options[k]}" for k in clash)
        raise ValueError(
            f"{name} fixes {', '.join(f'{k}={fixed[k]}' for k in clash)}; "
            f"write {entry.metadata['alias_of']}({given}) instead"
        )
    return entry.load()(**{**fixed, **options})


def kind_of(name: str) -> Kind:
    """Which method kind (recipe, inference, calibrator) ``name`` is."""
    load_plugins()
    found = [k for k in METHOD_KINDS if name in _REGISTRIES[k].entries]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise RegistryError(f"method part {name!r} is registered as more than one kind: {', '.join(found)}")
    known = sorted({n for k in METHOD_KINDS for n in _REGISTRIES[k].entries})
    hint = closest(name, known)
    msg = f"unknown method {name!r}."
    if hint:
        msg += f" Did you mean {', '.join(repr(h) for h in hint)}?"
    msg += " `calibench ls methods` lists the methods."
    raise RegistryError(msg + _failed_plugins_hint())


@dataclass(frozen=True)
class Snapshot:
    """The registry's state, to put back after a test that registers or loads plugins."""

    entries: dict[Kind, dict[str, Entry]]
    errors: dict[str, str]
    loaded: bool


def snapshot() -> Snapshot:
    with _lock:
        return Snapshot({k: dict(r.entries) for k, r in _REGISTRIES.items()}, dict(_plugin_errors), _plugins_loaded)


def restore(state: Snapshot) -> None:
    global _plugins_loaded
    with _lock:
        for kind, saved in state.entries.items():
            _REGISTRIES[kind].entries.clear()
            _REGISTRIES[kind].entries.update(saved)
        _plugin_errors.clear()
        _plugin_errors.update(state.errors)
        _plugins_loaded = state.loaded
