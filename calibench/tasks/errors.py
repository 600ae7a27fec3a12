"""The one exception the task layer raises for bad or missing data.

It subclasses :class:`ValueError` so generic callers can catch it, while the CLI can catch
exactly this class and print the message alone: every message names the path or split
involved and what to do about it.
"""

from __future__ import annotations

from calibench.errors import CalibenchError


class DataError(CalibenchError, ValueError):
    """A task's data cannot be found, read or trusted; the message says where and how to fix it."""
