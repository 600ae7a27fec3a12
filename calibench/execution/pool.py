"""Several training jobs at once on this machine: a pool of worker processes.

On a small CPU machine one MiniLM training does not keep every core busy (the matmuls of
a batch of 16 short sentences are too small to split well across threads), so two
one-thread trainings side by side finish a grid sooner than one two-thread training after
another (``benchmarks/bench_executor.py`` measures it). Each worker is a fresh ``spawn``ed
process that lives for the whole sweep, so whatever a job caches per process (the
tokenised task, the pretrained weights) serves the next job of that worker.

Like the Ray executor, the pool pulls (and so claims) a spec only when a worker is free to
start it, never throws a failure away (a job that raises, or a worker that dies, becomes
a :class:`JobFailed`), and sets torch's intra-op threads of every job to ``threads``: a
job's numbers equal the in-process executor's exactly when both run with that many threads.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

from calibench.config import TrainingSpec
from calibench.errors import OptionError
from calibench.execution.executor import Job, JobFailed, Outcome
from calibench.execution.local import LocalExecutor


def _exit_with_parent() -> None:
    """End this worker the moment its driver ends, however it ended (``kill -9``, SIGTERM):
    a job's result would have nowhere to go, and an orphan would keep a core busy for the
    rest of its training while the next sweep runs."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="calibench-parent-watch", daemon=True).start()


def _worker(conn: Connection, threads: int) -> None:
    """A worker's life: receive ``(job, spec)``, send back the output or its failure, repeat."""
    _exit_with_parent()
    import torch

    while True:
        try:
            message = conn.recv()
        except EOFError:  # the driver went away
            return
        if message is None:
            return
        job, spec = message
        torch.set_num_threads(threads)  # a job may have changed it; every job starts alike
        try:
            out: Any = job(spec)
        except Exception as exc:  # isolate: the driver records it and goes on
            out = JobFailed.from_exception(exc)
        try:
            conn.send(out)
        except Exception as exc:  # the output cannot travel back (it does not pickle)
            conn.send(JobFailed.from_exception(exc))


class _Worker:
    def __init__(self, threads: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker, args=(child, threads), daemon=True)
        self.process.start()
        child.close()
        self.spec: TrainingSpec | None = None

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def default_threads(jobs: int) -> int:
    """Threads per job when ``jobs`` share this machine's cores."""
    return max(1, (os.cpu_count() or 1) // max(jobs, 1))


class PoolExecutor:
    """Runs up to ``jobs`` jobs at once, each in a worker process with ``threads`` torch threads."""

    in_process = False

    def __init__(self, jobs: int, threads: int | None = None) -> None:
        if jobs < 1:
            raise OptionError(f"--jobs must be >= 1 (got {jobs})")
        if threads is not None and threads < 1:
            raise OptionError(f"--cpus-per-job must be >= 1 for the local executor (got {threads})")
        self.jobs = jobs
        self.threads = threads or default_threads(jobs)
        self._workers: list[_Worker] = []

    def map(self, job: Job, specs: Iterable[TrainingSpec]) -> Iterator[Outcome]:
        todo = iter(specs)
        more = True
        try:
            while True:
                while more and sum(w.spec is not None for w in self._workers) < self.jobs:
                    spec = next(todo, None)
                    if spec is None:
                        more = False
                        break
                    worker = next((w for w in self._workers if w.spec is None and w.process.is_alive()), None)
                    if worker is None:
                        worker = _Worker(self.threads)
                        self._workers.append(worker)
                    worker.spec = spec  # from here on its outcome is owed, even if the send fails
                    try:
                        worker.conn.send((job, spec))
                    except (BrokenPipeError, OSError):  # died idle: the sentinel below reports it
                        pass
                busy = [w for w in self._workers if w.spec is not None]
                if not busy:
                    return
                ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
                for w in busy:
                    if w.conn in ready or w.process.sentinel in ready:
                        yield w.spec, self._outcome(w)  # type: ignore[misc]
                        w.spec = None
                # drop only idle dead workers: one that died after ``wait`` returned still owes its outcome
                self._workers = [w for w in self._workers if w.spec is not None or w.process.is_alive()]
        finally:
            for w in self._workers:
                if w.spec is not None:  # interrupted: stop what still runs
                    w.process.kill()
                    w.process.join()
                    w.spec = None
            self._workers = [w for w in self._workers if w.process.is_alive()]

    @staticmethod
    def _outcome(w: _Worker) -> Any:
        try:
            if w.conn.poll():
                return w.conn.recv()
        except (EOFError, OSError):
            pass
        w.process.join(timeout=5)
        return JobFailed(
            f"worker process died (exit code {w.process.exitcode}) while training",
            f"the worker process {w.process.pid} ended with exit code {w.process.exitcode} before returning its "
            "output (killed for memory, a crash in native code, or os._exit)",
        )

    # jobs run on this machine, as the in-process executor's do
    resolve_precision = LocalExecutor.resolve_precision

    def close(self) -> None:
        for w in self._workers:
            w.stop()
        self._workers = []

    def __enter__(self) -> PoolExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
