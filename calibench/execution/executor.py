"""Executors: where training jobs run. The sweep logic around them is shared.

An executor only *maps* a job function over training specs and yields each outcome as
it completes. Everything else -- skipping finished work, claiming, renewing leases,
writing artifacts and records, recording failures -- is done once, by the driver in
:func:`calibench.execution.driver.run_trainings`, for every executor. Executors never
touch the store, so a remote worker needs neither the store nor write access to it.

The driver hands an executor a *lazy* iterable of specs and claims each one as the
executor pulls it, so an executor must pull a spec only when it can start it at once
(otherwise it would hold claims on queued jobs that a concurrent sweep could run).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from calibench.config import TrainingSpec

#: a training job: the pure function from a spec to its TrainingOutput
Job = Callable[[TrainingSpec], Any]


class JobFailed(Exception):
    """A job that raised, or whose process died, wherever it ran; error and traceback as text.

    Carried as text because a remote exception may not unpickle on the driver, and the
    store records text anyway.
    """

    def __init__(self, error: str, traceback_text: str) -> None:
        super().__init__(error)
        self.error = error
        self.traceback = traceback_text

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        # built on a worker, unpickled on the driver: Exception's default pickles only args[0]
        return (type(self), (self.error, self.traceback))

    @classmethod
    def from_exception(cls, exc: BaseException) -> JobFailed:
        """From an exception raised in this process (its traceback is still attached)."""
        return cls(
            f"{type(exc).__name__}: {exc}", "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        )


#: what an executor yields per job: its output, or why it has none
Outcome = tuple[TrainingSpec, Any]


class Executor(Protocol):
    """Runs jobs; a context manager so a cluster it starts is always stopped."""

    #: whether jobs run in this process, so they may be handed live objects (a rich progress)
    in_process: bool

    def map(self, job: Job, specs: Iterable[TrainingSpec]) -> Iterator[Outcome]:
        """Run ``job`` on each spec, yielding ``(spec, output | JobFailed)`` in completion order.

        Pulls a spec only when it can start it. A failing job yields a :class:`JobFailed`
        and the others go on; an error of the executor itself (an unusable cluster) raises.
        """
        ...

    def resolve_precision(self, precision: str, device: str | None) -> str:
        """What ``precision`` (``auto``/``bf16``/``fp32``) means where this executor runs jobs.

        ``auto`` depends on the hardware (bf16 only where native) and the resolved value is
        part of the training hash, so it must be resolved where the jobs run, not on the driver.
        """
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...
