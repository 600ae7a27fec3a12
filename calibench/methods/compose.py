"""Method names: ``recipe[+inference][+calibrator]``, each part optionally with options.

Examples: ``baseline``, ``temp-scaling`` (= baseline + temp-scaling),
``ebm-hidden+temp-scaling``, ``mc-dropout(passes=20)+temp-scaling(fit_on=train)``.
A missing recipe is ``baseline``; a missing inference is ``deterministic``. The kind of
each part comes from the registry, so plugins compose like built-ins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from calibench import registry
from calibench.errors import CalibenchError
from calibench.specstring import SpecSyntaxError, format_call, parse_call, split_top

DEFAULT_RECIPE = "baseline"
DEFAULT_INFERENCE = "deterministic"


@dataclass(frozen=True)
class Part:
    name: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def opts(self) -> dict[str, Any]:
        return dict(self.options)

    def __str__(self) -> str:
        return format_call(self.name, self.options)

    def instantiate(self, kind: registry.Kind) -> Any:
        """Build the registered class with these options (validates option names)."""
        return registry.create(kind, self.name, **self.opts)


@dataclass(frozen=True)
class MethodSpec:
    label: str  # what the user wrote (normalised): the row name in tables
    recipe: Part
    inference: Part
    calibrator: Part | None


class MethodSyntaxError(CalibenchError, ValueError):
    pass


def parse_part(text: str, method: str) -> Part:
    """One ``name(key=value,...)`` part; ``method`` names the whole string in errors."""
    try:
        name, options = parse_call(text)
    except SpecSyntaxError as exc:
        where = "" if text == method else f" (in method {method!r})"
        raise MethodSyntaxError(f"{exc}{where}; e.g. temp-scaling(fit_on=train)") from None
    return Part(name, tuple(sorted(options)))


def parse_method(text: str) -> MethodSpec:
    """One method string to its three parts; unknown names get close-match suggestions."""
    label = re.sub(r"\s+", "", text)
    if not label:
        raise MethodSyntaxError("empty method name")
    parts: dict[str, Part] = {}
    for raw in split_top(label, "+"):
        part = parse_part(raw, label)
        kind = registry.kind_of(part.name)
        if kind in parts:
            raise MethodSyntaxError(
                f"method {label!r} has two {kind}s ({parts[kind].name} and {part.name}); "
                f"a method combines at most one recipe, one inference procedure and one calibrator"
            )
        parts[kind] = part
    return MethodSpec(
        label=label,
        recipe=parts.get("recipe", Part(DEFAULT_RECIPE)),
        inference=parts.get("inference", Part(DEFAULT_INFERENCE)),
        calibrator=parts.get("calibrator"),
    )


def parse_methods(text: str | list[str]) -> list[MethodSpec]:
    """``"a,b+c"`` (or a list of such strings) to method specs, duplicates removed."""
    items = text if isinstance(text, list) else [text]
    raw = [m for t in items for m in split_top(t, ",") if m.strip()]
    seen: dict[str, MethodSpec] = {}
    for r in raw:
        spec = parse_method(r)
        seen.setdefault(spec.label, spec)
    if not seen:
        raise MethodSyntaxError("no method given; e.g. --methods baseline,temp-scaling")
    return list(seen.values())
