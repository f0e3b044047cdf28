"""The build's time bounds: an overall deadline, and per-task budgets within it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Deadline:
    """When the build stops fetching (``time.monotonic()``), and the setting it came from."""

    at: float
    seconds: float  # as configured (``--deadline``), for messages

    @classmethod
    def after(cls, seconds: float, start: float | None = None) -> Deadline:
        return cls((time.monotonic() if start is None else start) + seconds, seconds)

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def describe(self) -> str:
        return f"the build's deadline (--deadline {self.seconds:g} s)"


@dataclass(frozen=True)
class TaskEnd:
    """When one task (a dataset's harvest, a thumbnail) must end, and why then."""

    loop_time: float  # for ``asyncio.timeout_at``
    by_deadline: bool  # the build's deadline comes before the task's own budget


def get_task_end(budget: float | None, deadline: Deadline | None) -> TaskEnd | None:
    """The earlier of ``budget`` seconds from now and the deadline; None when neither is set."""
    loop = asyncio.get_running_loop()
    ends = []
    if budget is not None and budget > 0:
        ends.append((loop.time() + budget, False))
    if deadline is not None:
        ends.append((loop.time() + (deadline.at - time.monotonic()), True))
    if not ends:
        return None
    at, by_deadline = min(ends)
    return TaskEnd(at, by_deadline)
