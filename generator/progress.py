"""Operator feedback: per-stage progress with rate and ETA, and a final summary.

On a terminal the current line is redrawn in place; in CI logs (no TTY) a
plain line is printed at most every ``interval`` seconds, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Iterable, TextIO


def format_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


class Progress:
    def __init__(self, *, verbosity: int = 0, stream: TextIO | None = None, interval: float = 5.0) -> None:
        self.verbosity = verbosity
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = 0.2 if self.tty else interval
        self.stage = ""
        self.total = 0
        self.done = 0
        self.started = time.monotonic()
        self._last = 0.0
        self.counts: Counter[str] = Counter()

    def log(self, message: str, *, level: int = 0) -> None:
        if self.verbosity >= level:
            self._clear()
            print(message, file=self.stream, flush=True)

    def start(self, stage: str, total: int) -> None:
        self.finish()
        self.stage, self.total, self.done = stage, total, 0
        self.counts = Counter()
        self.started = time.monotonic()
        self._last = 0.0
        self._draw(force=True)

    def advance(self, outcome: str = "ok", detail: str | None = None) -> None:
        self.done += 1
        self.counts[outcome] += 1
        if detail and self.verbosity >= 1:
            self.log(f"  {self.stage}: {detail}", level=1)
        self._draw()

    def finish(self) -> None:
        if self.stage:
            self._draw(force=True, final=True)
            self.stage = ""

    def _line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (
            f"{self.stage:<11} {self.done}/{self.total} ({pct:.0f}%) "
            f"{rate:.1f}/s, elapsed {format_duration(elapsed)}, ETA {format_duration(eta)}"
            + (f" [{counts}]" if counts else "")
        )

    def _draw(self, *, force: bool = False, final: bool = False) -> None:
        if self.verbosity < 0:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        if self.tty:
            end = "\n" if final else ""
            print("\r\033[K" + self._line(), end=end, file=self.stream, flush=True)
        else:
            print(self._line(), file=self.stream, flush=True)

    def _clear(self) -> None:
        if self.tty and self.stage:
            print("\r\033[K", end="", file=self.stream, flush=True)


def format_table(headers: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """A plain, aligned text table (CI logs and terminals alike)."""
    headers = [str(h) for h in headers]
    body = [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in body:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    def fmt(r: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    lines = [fmt(headers), fmt(["-" * w for w in widths])]
    lines += [fmt(r) for r in body]
    return "\n".join(lines)
