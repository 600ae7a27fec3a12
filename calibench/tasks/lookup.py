"""Task lookup by name, through the project registry.

Going through :func:`calibench.registry.get` keeps one source of truth (plugins can add
tasks) and gives unknown names the registry's "did you mean" error. On top of that, common
spellings (``SST-2``, ``MNLI_matched``) are accepted, and names excluded on purpose (STS-B)
get an error that says why rather than a near-miss suggestion.
"""

from __future__ import annotations

from calibench import registry
from calibench.tasks.spec import TaskSpec

_ALIASES: dict[str, str] = {"mnlim": "mnli", "mnlimatched": "mnli", "mnlimm": "mnlimismatched"}


def _normalise(name: str) -> str:
    key = "".join(ch for ch in name.lower() if ch not in "-_ ")
    return _ALIASES.get(key, key)


def get_task(task: str | TaskSpec) -> TaskSpec:
    """The registered :class:`TaskSpec` called ``task`` (a spec passes through unchanged).

    Raises :class:`calibench.registry.RegistryError` for unknown or excluded names.
    """
    if isinstance(task, TaskSpec):
        return task
    if not isinstance(task, str):
        raise TypeError(f"task must be a name or a TaskSpec, not {type(task).__name__}")
    name = task.strip()
    known = registry.names("task")
    if name not in known:
        by_normal = {_normalise(k): k for k in known}
        normal = _normalise(name)
        if normal in by_normal:
            name = by_normal[normal]
        else:
            from calibench.tasks.glue import EXCLUDED

            if normal in EXCLUDED:
                raise registry.RegistryError(f"task {task!r} is not supported: {EXCLUDED[normal]}.")
    spec = registry.get("task", name)  # unknown names: the registry's "did you mean" error
    if not isinstance(spec, TaskSpec):
        raise TypeError(f"task {name!r} is registered as a {type(spec).__name__}, expected a TaskSpec")
    return spec
