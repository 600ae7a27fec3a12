"""Choosing an executor by name (``--executor``): the one module that knows them all.

Kept apart from the protocol (:mod:`calibench.execution.executor`), which the executors
themselves import, so that no executor module imports another.
"""

from __future__ import annotations

from calibench.errors import OptionError
from calibench.execution.executor import Executor
from calibench.execution.local import LocalExecutor

EXECUTORS = ("local", "ray")


def make_executor(
    name: str,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    cpus_per_job: float | None = None,
    device: str | None = None,
    jobs: int = 1,
) -> Executor:
    """The executor called ``name`` (``local`` or ``ray``); Ray options are refused for ``local``.

    ``local`` runs one job at a time in this process, or with ``jobs`` > 1 that many at once
    in worker processes of ``cpus_per_job`` torch threads each (default: the cores shared out).
    """
    if jobs < 1:
        raise OptionError(f"--jobs must be >= 1 (got {jobs})")
    if name == "local":
        given = [flag for flag, value in (("--address", address), ("--num-cpus", num_cpus)) if value is not None]
        if given:
            raise OptionError(f"{', '.join(given)} only apply to --executor ray")
        if jobs > 1 or cpus_per_job is not None:
            from calibench.execution.pool import PoolExecutor

            if cpus_per_job is not None and cpus_per_job != int(cpus_per_job):
                raise OptionError(f"--cpus-per-job must be a whole number of threads locally (got {cpus_per_job})")
            return PoolExecutor(jobs, int(cpus_per_job) if cpus_per_job is not None else None)
        return LocalExecutor()
    if jobs != 1:
        raise OptionError("--jobs applies to --executor local; a Ray cluster runs as many jobs as it has room for")
    if name == "ray":
        from calibench.execution.ray_executor import RayExecutor

        return RayExecutor(
            address=address,
            num_cpus=num_cpus,
            cpus_per_job=1.0 if cpus_per_job is None else cpus_per_job,
            device=device,
        )
    raise OptionError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
