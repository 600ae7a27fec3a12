"""Sweep-level progress: jobs done / running / failed / left, and an ETA.

The ETA is throughput-based -- jobs finished in this run per second since the first one
started, applied to the jobs still running or left -- so it accounts for however many
jobs an executor runs at once without knowing that number, and it ignores jobs reused
from earlier runs (they took no time here). It is shown in a rich progress the caller
passes in; without one, nothing is displayed (library code stays silent).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import Progress, ProgressColumn, Task, TimeRemainingColumn
from rich.text import Text


class SweepProgress:
    """Counts of one sweep's trainings, fed by the driver's events."""

    def __init__(
        self, total: int, progress: Progress | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.total = total
        self.trained = 0  # finished in this run
        self.reused = 0  # done in an earlier run
        self.failed = 0
        self.elsewhere = 0  # claimed by a concurrent sweep (busy) or taken over by one (lost)
        self.running: set[str] = set()
        self._finished_here = 0  # trained or failed here: the throughput's numerator
        self._clock = clock
        self._t0: float | None = None
        self._progress = progress
        self._task = progress.add_task(self.describe(), total=total, eta=None) if progress is not None else None

    @property
    def left(self) -> int:
        """Jobs not started yet (and not decided by an earlier or a concurrent sweep)."""
        return self.total - self.trained - self.reused - self.failed - self.elsewhere - len(self.running)

    def update(self, event: str, key: str) -> None:
        """Account for one driver event (start, done, failed, skipped, busy, lost) on job ``key``."""
        if event == "start":
            self.running.add(key)
            if self._t0 is None:
                self._t0 = self._clock()
        elif event == "done":
            self.running.discard(key)
            self.trained += 1
            self._finished_here += 1
        elif event == "failed":
            if key in self.running:  # failed here, not in an earlier run
                self.running.discard(key)
                self._finished_here += 1
            self.failed += 1
        elif event == "skipped":
            self.reused += 1
        elif event in ("busy", "lost"):
            self.running.discard(key)
            self.elsewhere += 1
        else:
            raise ValueError(f"unknown sweep event {event!r}")
        self._render()

    def eta_s(self) -> float | None:
        """Seconds until the jobs running or left are finished, at this run's rate so far."""
        if self._t0 is None or self._finished_here == 0:
            return None
        remaining = self.left + len(self.running)
        if remaining == 0:
            return 0.0
        elapsed = max(self._clock() - self._t0, 1e-9)
        return remaining * elapsed / self._finished_here

    def describe(self) -> str:
        done = f"{self.trained + self.reused} done" + (f" ({self.reused} reused)" if self.reused else "")
        parts = [done, f"{len(self.running)} running", f"{self.failed} failed", f"{self.left} left"]
        if self.elsewhere:
            parts.append(f"{self.elsewhere} in another sweep")
        return "sweep: " + ", ".join(parts)

    def _render(self) -> None:
        if self._progress is None or self._task is None:
            return
        self._progress.update(
            self._task,
            completed=self.total - self.left - len(self.running),
            description=self.describe(),
            eta=self.eta_s(),
        )

    def close(self) -> None:
        """Remove the display (the summary line replaces it)."""
        if self._progress is not None and self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None


class SweepEtaColumn(ProgressColumn):
    """The sweep's own ETA where a task carries one (``eta`` field); rich's estimate elsewhere.

    Rich estimates from the last 30 s of progress, which says nothing for jobs that take
    minutes each; the sweep's estimate uses every job finished in this run.
    """

    def __init__(self) -> None:
        super().__init__()
        self._fallback = TimeRemainingColumn()

    def render(self, task: Task) -> Text:
        if "eta" not in task.fields:
            return self._fallback.render(task)
        eta = task.fields["eta"]
        if eta is None:
            return Text("ETA -:--:--", style="progress.remaining")
        h, rest = divmod(int(round(eta)), 3600)
        m, s = divmod(rest, 60)
        return Text(f"ETA {h}:{m:02d}:{s:02d}", style="progress.remaining")


def make_sweep_progress(console: Console | None = None) -> Progress:
    """The standard progress display, its time-remaining column swapped for :class:`SweepEtaColumn`."""
    from calibench.report.progress import make_progress

    progress = make_progress(console)
    progress.columns = tuple(SweepEtaColumn() if isinstance(c, TimeRemainingColumn) else c for c in progress.columns)
    return progress
