"""Run training jobs as Ray tasks, on a local cluster or one joined with ``--address``.

Each job is one ``ray.remote`` task over the pure :func:`~calibench.execution.jobs.run_training`;
it asks for one GPU where the cluster has GPUs (and ``cpus_per_job`` CPUs), and for
``cpus_per_job`` CPUs otherwise. Workers only compute: they return the TrainingOutput
(arrays + record) and the driver writes the store, so workers need no access to it.

Two things this executor does that ``ray.remote`` alone would not:

* It checks before submitting that some node can fit one job. Ray would otherwise queue
  an unschedulable task forever and the sweep would hang without a word.
* It keeps at most as many tasks in flight as the cluster can run at once, pulling (and
  so claiming) the next spec only when a slot frees. Queued-but-claimed jobs would be
  invisible to a concurrent sweep that could run them.

Tasks are not retried by Ray (``max_retries=0``): a worker that dies (OOM kill, segfault)
is recorded as a failed job like any exception, and ``--retry-failed`` reruns it.

Each task sets torch's intra-op threads to its CPU count. Ray only sets
``OMP_NUM_THREADS`` when it starts a worker and reuses workers across tasks of other
shapes, so torch would otherwise keep whatever the worker began with. The thread count
changes float reduction order (visibly so under bf16 autocast), so a job's numbers equal
the local executor's exactly when both run with the same number of threads.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator
from typing import Any

from calibench.config import TrainingSpec
from calibench.errors import CalibenchError, MissingDependency, OptionError
from calibench.execution.executor import Job, JobFailed, Outcome

#: environment a joined cluster's workers need to behave like this driver (offline hub, data dir)
FORWARDED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HOME", "CALIBENCH_DATA_DIR")


class RayNotInstalled(MissingDependency):
    """``--executor ray`` without Ray installed."""


class ClusterTooSmall(CalibenchError, RuntimeError):
    """No node of the cluster can fit one training job: it would wait forever."""


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`RayNotInstalled` that says how to get it."""
    try:
        import ray
    except ImportError as exc:
        raise RayNotInstalled("--executor ray needs Ray, an optional dependency: pip install 'calibench[ray]'") from exc
    return ray


def _run_job(job: Job, spec: TrainingSpec, threads: int) -> Any:
    """Runs on a worker: the job's output, or its exception as a :class:`JobFailed`.

    Caught here, where the traceback is whole and the exception's class importable.
    """
    import torch

    torch.set_num_threads(threads)
    try:
        return job(spec)
    except Exception as exc:
        return JobFailed.from_exception(exc)


def _resolve_precision(precision: str, device: str | None) -> str:
    """Runs on a worker: what ``precision`` resolves to on the hardware jobs get."""
    from calibench.training.precision import resolve_device, resolve_precision

    return resolve_precision(precision, resolve_device(device))  # type: ignore[arg-type]


class RayExecutor:
    """Maps jobs onto Ray tasks. Starts a local cluster (and stops it) unless one is running
    in this process already or ``address`` names one to join."""

    in_process = False

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        cpus_per_job: float = 1.0,
        device: str | None = None,
    ) -> None:
        """``num_cpus`` sizes a local cluster (default: every core); ``device`` ``cpu`` keeps
        jobs off GPUs even where the cluster has some."""
        if cpus_per_job <= 0:
            raise OptionError(f"--cpus-per-job must be > 0 (got {cpus_per_job})")
        if num_cpus is not None and num_cpus < 1:
            raise OptionError(f"--num-cpus must be >= 1 (got {num_cpus})")
        if address is not None and num_cpus is not None:
            raise OptionError("--num-cpus sizes a local Ray cluster; a joined cluster (--address) has its own size")
        self.ray = import_ray()
        self.address = address
        self.num_cpus = num_cpus
        self.cpus_per_job = float(cpus_per_job)
        self.device = device
        self._started = False
        self._need: dict[str, float] | None = None

    # -- cluster ------------------------------------------------------------------------
    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
        if self.address is not None:
            env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
            ray.init(address=self.address, runtime_env={"env_vars": env} if env else None, **options)
        else:
            ray.init(address="local", num_cpus=self.num_cpus, **options)  # never a stray `ray start` cluster
        self._started = True

    def job_resources(self) -> dict[str, float]:
        """What one training asks of the cluster; raises :class:`ClusterTooSmall` if no node has it."""
        if self._need is not None:
            return self._need
        self._connect()
        ray = self.ray
        total = ray.cluster_resources()
        on_gpu = total.get("GPU", 0) >= 1 and not str(self.device or "").startswith("cpu")
        need = {"CPU": self.cpus_per_job, **({"GPU": 1.0} if on_gpu else {})}
        nodes = self._nodes()
        if not any(all(node.get(r, 0.0) >= q for r, q in need.items()) for node in nodes):
            largest = max(nodes, key=lambda n: (n.get("GPU", 0.0), n.get("CPU", 0.0)), default={})
            raise ClusterTooSmall(
                f"each training job asks for {_fmt(need)}, but no node of the Ray cluster "
                f"({self.address or 'local'}) has that: the cluster has {_fmt(total)} over {len(nodes)} node(s), "
                f"the largest {_fmt(largest)}. Lower --cpus-per-job"
                + (", start the local cluster with more --num-cpus" if self.address is None else "")
                + " or add nodes; otherwise the jobs would wait forever."
            )
        self._need = need
        return need

    def _nodes(self) -> list[dict[str, float]]:
        return [n["Resources"] for n in self.ray.nodes() if n.get("Alive")]

    def slots(self) -> int:
        """How many jobs the cluster runs at once now (autoscaling clusters may grow)."""
        need = self.job_resources()
        n = sum(min(math.floor(node.get(r, 0.0) / q + 1e-9) for r, q in need.items()) for node in self._nodes())
        return max(1, n)

    # -- executor protocol --------------------------------------------------------------
    def resolve_precision(self, precision: str, device: str | None) -> str:
        if precision != "auto":
            return _resolve_precision(precision, "cpu")  # validates the name; no hardware involved
        need = self.job_resources()
        probe = self.ray.remote(num_cpus=need["CPU"], num_gpus=need.get("GPU", 0.0), max_retries=0)(_resolve_precision)
        return self.ray.get(probe.remote(precision, device))

    def map(self, job: Job, specs: Iterable[TrainingSpec]) -> Iterator[Outcome]:
        ray = self.ray
        need = self.job_resources()  # before pulling (claiming) any spec
        task = ray.remote(num_cpus=need["CPU"], num_gpus=need.get("GPU", 0.0), max_retries=0)(_run_job)
        job_ref = ray.put(job)
        threads = max(1, int(need["CPU"]))
        pending: dict[Any, TrainingSpec] = {}
        todo = iter(specs)
        more = True
        try:
            while True:
                free = self.slots() - len(pending)
                while more and free > 0:
                    spec = next(todo, None)
                    if spec is None:
                        more = False
                        break
                    pending[task.remote(job_ref, spec, threads)] = spec
                    free -= 1
                if not pending:
                    return
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    yield pending.pop(ref), self._outcome(ref)
        finally:
            for ref in pending:  # interrupted: stop what still runs
                ray.cancel(ref, force=True)

    def _outcome(self, ref: Any) -> Any:
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:  # the worker died, ran out of memory, its node left...
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return JobFailed(f"{type(exc).__name__}: {first}", str(exc))

    def close(self) -> None:
        """Stop the cluster if this executor started it."""
        if self._started:
            self.ray.shutdown()
            self._started = False
        self._need = None

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fmt(resources: dict[str, float]) -> str:
    keys = [k for k in ("CPU", "GPU") if k in resources] or ["CPU"]
    return ", ".join(f"{resources.get(k, 0.0):g} {k}" for k in keys)
