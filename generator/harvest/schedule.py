"""Which dataset a free harvest worker takes next: hosts in turn, a few of one host at a time."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Sequence
from urllib.parse import urlsplit

from generator.records import Entry


@dataclass
class _Schedule:
    """Which entry a free worker takes next: hosts in turn, at most ``cap`` datasets of one host at once.

    A host that hangs then holds ``cap`` workers of the pool, never all of
    them, and a healthy host listed after hundreds of its datasets starts at
    once. Hosts are told apart by name and port here (resolving every name
    first would cost a lookup per host before any work); the fetcher's
    per-server limit and breaker catch many names of one server.
    """

    groups: list[list[int]]  # entry indices per host, in entry order
    cap: int
    ready: deque[int]  # groups with entries left and fewer than ``cap`` in flight, in turn
    next: list[int]  # per group: position of its next entry
    in_flight: list[int]
    left: int  # entries not yet taken

    def take(self) -> tuple[int, int] | None:
        """(group, entry index) of the next entry to harvest, or None when every host with work is busy."""
        if not self.ready:
            return None
        g = self.ready.popleft()
        i = self.groups[g][self.next[g]]
        self.next[g] += 1
        self.in_flight[g] += 1
        self.left -= 1
        if self._has_work(g) and self.in_flight[g] < self.cap:
            self.ready.append(g)
        return g, i

    def done(self, g: int) -> None:
        self.in_flight[g] -= 1
        if self._has_work(g) and self.in_flight[g] == self.cap - 1:  # it was at its cap: back in turn
            self.ready.append(g)

    def _has_work(self, g: int) -> bool:
        return self.next[g] < len(self.groups[g])


def get_schedule(entries: Sequence[Entry], cap: int) -> _Schedule:
    by_host: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        by_host.setdefault(urlsplit(e.url).netloc.lower(), []).append(i)
    groups = list(by_host.values())
    return _Schedule(groups, cap, deque(range(len(groups))), [0] * len(groups), [0] * len(groups), len(entries))
