"""The in-process executor: each job runs here, one at a time (the default)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from calibench.config import TrainingSpec
from calibench.execution.executor import Job, JobFailed, Outcome


class LocalExecutor:
    """Runs each job in this process, one at a time, in the order the driver hands them out."""

    in_process = True

    def map(self, job: Job, specs: Iterable[TrainingSpec]) -> Iterator[Outcome]:
        for spec in specs:
            try:
                out = job(spec)
            except Exception as exc:  # isolate: the driver records it and goes on
                yield spec, JobFailed.from_exception(exc)
                continue
            yield spec, out

    def resolve_precision(self, precision: str, device: str | None) -> str:
        from calibench.training.precision import resolve_device, resolve_precision

        return resolve_precision(precision, resolve_device(device))  # type: ignore[arg-type]

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
