"""The errors a user can fix, under one base: the CLI prints their message as one line.

Why one base: the command line must tell an expected failure (a bad flag, a missing data
file, a damaged store) from a bug. The first gets one line naming the problem and the way
out; the second keeps its traceback. Catching ``ValueError`` for that hid numpy's and
scipy's own errors, so every error meant for the user subclasses :class:`CalibenchError`,
and nothing else is shown without its traceback.

Each subclass also keeps the built-in base its callers already catch (``ValueError``,
``KeyError``, ``FileNotFoundError``, ``ImportError``), so code written against those keeps
working. Plugins raise :class:`OptionError` for a bad option value.
"""

from __future__ import annotations


class CalibenchError(Exception):
    """An error caused by input the user can change; the message says what and how."""


class OptionError(CalibenchError, ValueError):
    """A flag or method option whose value cannot work (``--seeds 0``, ``alpha=2``)."""


class StoreError(CalibenchError):
    """A results store that cannot be opened, read or written as asked."""


class StoreNotFound(StoreError, FileNotFoundError):
    """No results store (or exported results folder) where one was named."""


class StoreDamaged(StoreError):
    """The store's SQLite index is unreadable; the message says what survives and how to recover."""


class MissingDependency(CalibenchError, ImportError):
    """An optional extra that a chosen feature needs is not installed."""
