"""The one grammar of ``name(key=value,...)`` strings: method parts and metric estimators.

Why one module: ``temp-scaling(fit_on=train)`` on the command line and
``ece(bins=15,scheme=width)`` stored beside a metric value are the same syntax, and a value
must mean the same thing in both (``False`` is the boolean, ``1e-12`` the float, a bare word
a string). Pure Python, imported by every layer.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from typing import Any

_CALL = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\((.*)\))?\s*$", re.S)


class SpecSyntaxError(ValueError):
    """A string that is not ``name`` or ``name(key=value,...)``."""


def parse_value(text: str) -> Any:
    """A Python literal (``15``, ``1e-12``, ``False``, ``'a'``) or, failing that, the bare word itself.

    ``true``/``false`` in any case are booleans too, so a value never depends on its spelling's case.
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        low = text.lower()
        if low in ("true", "false"):
            return low == "true"
        return text


def split_top(text: str, sep: str) -> list[str]:
    """Split ``text`` at ``sep`` outside parentheses."""
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


def parse_call(text: str) -> tuple[str, list[tuple[str, Any]]]:
    """``"name(k=v,...)"`` -> ``("name", [(k, value), ...])`` in written order, values parsed.

    Raises :class:`SpecSyntaxError` naming the offending piece.
    """
    m = _CALL.match(text)
    if not m:
        raise SpecSyntaxError(f"cannot parse {text!r}; write name or name(key=value,...)")
    name, args = m.group(1), m.group(2)
    options: list[tuple[str, Any]] = []
    for item in split_top(args or "", ","):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        if not eq or not key.strip().isidentifier():
            raise SpecSyntaxError(f"option {item.strip()!r} in {text.strip()!r} is not key=value")
        if any(k == key.strip() for k, _ in options):  # else the last would win silently
            raise SpecSyntaxError(f"option {key.strip()!r} is given twice in {text.strip()!r}; give each option once")
        options.append((key.strip(), parse_value(value.strip())))
    return name, options


def format_call(name: str, options: Mapping[str, object] | Iterable[tuple[str, object]] = ()) -> str:
    """The canonical string of ``name`` with ``options`` (pairs or a mapping), no spaces."""
    pairs = list(options.items()) if isinstance(options, Mapping) else list(options)
    if not pairs:
        return name
    return f"{name}(" + ",".join(f"{k}={v}" for k, v in pairs) + ")"
