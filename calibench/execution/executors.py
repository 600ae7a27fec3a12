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
    cpus_per_job: float = 1.0,
    device: str | None = None,
) -> Executor:
    """The executor called ``name`` (``local`` or ``ray``); Ray options are refused for ``local``."""
    if name == "local":
        given = [flag for flag, value in (("--address", address), ("--num-cpus", num_cpus)) if value is not None]
        if cpus_per_job != 1.0:
            given.append("--cpus-per-job")
        if given:
            raise OptionError(f"{', '.join(given)} only apply to --executor ray")
        return LocalExecutor()
    if name == "ray":
        from calibench.execution.ray_executor import RayExecutor

        return RayExecutor(address=address, num_cpus=num_cpus, cpus_per_job=cpus_per_job, device=device)
    raise OptionError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
