"""Fixtures for the execution tests: real GLUE slices, and one local Ray cluster per session.

The Ray cluster is always stopped, also when a test fails: ``ray.shutdown()`` in a
``finally``, then any process the cluster started that survived it is killed by pid
(only processes that are descendants of this test process and appeared after it
started Ray, each checked against its start time, so nothing else is touched).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from calibench.store.owners import process_alive, process_start

HERE = Path(__file__).resolve().parent


def descendants(root: int) -> set[tuple[int, int]]:
    """``(pid, start)`` of every live descendant of ``root`` (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out: set[tuple[int, int]] = set()
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.add((pid, process_start(pid)))
        todo += children.get(pid, [])
    return out


def kill_survivors(procs: set[tuple[int, int]]) -> list[int]:
    """SIGKILL each ``(pid, start)`` that still runs; returns the pids killed."""
    killed = []
    for pid, start in procs:
        if process_alive(pid, start):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
    return killed


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[object]:
    """A local 2-CPU Ray cluster whose workers can import :mod:`fake_jobs`."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'calibench[ray]')")
    if ray.is_initialized():
        pytest.fail("a Ray cluster is already initialised in this process; tests need their own")
    before = descendants(os.getpid())
    started: set[tuple[int, int]] = set()
    try:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            runtime_env={"env_vars": {"PYTHONPATH": str(HERE), "HF_HUB_OFFLINE": "1"}},
        )
        yield ray
    finally:
        started = descendants(os.getpid()) - before
        ray.shutdown()
        time.sleep(0.5)
        kill_survivors(started)
