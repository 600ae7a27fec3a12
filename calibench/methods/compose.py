"""Method names: ``recipe[+inference][+calibrator]``, each part optionally with options.

Examples: ``baseline``, ``temp-scaling`` (= baseline + temp-scaling),
``ebm-hidden+temp-scaling``, ``mc-dropout(passes=20)+temp-scaling(fit_on=train)``.
A missing recipe is ``baseline``; a missing inference is ``deterministic``. The kind of
each part comes from the registry, so plugins compose like built-ins.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from calibench import registry

DEFAULT_RECIPE = "baseline"
DEFAULT_INFERENCE = "deterministic"

_PART = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\((.*)\))?\s*$", re.S)


@dataclass(frozen=True)
class Part:
    name: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def opts(self) -> dict[str, Any]:
        return dict(self.options)

    def __str__(self) -> str:
        if not self.options:
            return self.name
        return f"{self.name}({','.join(f'{k}={v}' for k, v in self.options)})"

    def instantiate(self, kind: registry.Kind) -> Any:
        """Build the registered class with these options (validates option names)."""
        return registry.get(kind, self.name)(**self.opts)


@dataclass(frozen=True)
class MethodSpec:
    label: str  # what the user wrote (normalised): the row name in tables
    recipe: Part
    inference: Part
    calibrator: Part | None


class MethodSyntaxError(ValueError):
    pass


def _value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        low = text.lower()
        if low in ("true", "false"):
            return low == "true"
        return text  # a bare word: a string option


def parse_part(text: str, method: str) -> Part:
    """One ``name(key=value,...)`` part; ``method`` names the whole string in errors."""
    m = _PART.match(text)
    if not m:
        raise MethodSyntaxError(
            f"cannot parse {text!r} in method {method!r}; write name or name(key=value,...), "
            f"e.g. temp-scaling(fit_on=train)"
        )
    name, args = m.group(1), m.group(2)
    opts: list[tuple[str, Any]] = []
    for item in _split_top(args or "", ","):
        if not item.strip():
            continue
        key, eq, val = item.partition("=")
        if not eq or not key.strip().isidentifier():
            raise MethodSyntaxError(f"option {item!r} in {method!r} is not key=value")
        opts.append((key.strip(), _value(val.strip())))
    return Part(name, tuple(sorted(opts)))


def _split_top(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside parentheses."""
    out, depth, cur = [], 0, []
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def parse_method(text: str) -> MethodSpec:
    """One method string to its three parts; unknown names get close-match suggestions."""
    label = re.sub(r"\s+", "", text)
    if not label:
        raise MethodSyntaxError("empty method name")
    parts: dict[str, Part] = {}
    for raw in _split_top(label, "+"):
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
    raw = [m for t in items for m in _split_top(t, ",") if m.strip()]
    seen: dict[str, MethodSpec] = {}
    for r in raw:
        spec = parse_method(r)
        seen.setdefault(spec.label, spec)
    if not seen:
        raise MethodSyntaxError("no method given; e.g. --methods baseline,temp-scaling")
    return list(seen.values())
