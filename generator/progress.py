"""Operator feedback: per-stage progress with rate and ETA, and the tables printed at the end.

On a terminal each stage is a live ``rich`` bar; in CI logs (no TTY) a plain
line is printed at most every ``interval`` seconds instead, so logs stay
short and hold no control codes. Tables (the build summary, the check's
verdicts) are laid out by ``rich`` as plain text, the same in both places.
Sizes are printed by the site's ``format_bytes``, so the summary and the
pages agree on units.
"""

from __future__ import annotations

import io
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Iterable, TextIO

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.table import Table
from rich.text import Text

from generator.site.format import format_bytes
from generator.site.tally import SUMMARY_STATUSES, tally_datasets

if TYPE_CHECKING:
    from generator.build import BuildResult
    from generator.site.budget import BudgetReport

# A rule under the header and nothing else, in ASCII: CI logs and any terminal encoding show it.
_PLAIN_BOX = box.Box("    \n    \n -- \n    \n    \n    \n    \n    \n", ascii=True)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def _format_counts(counts: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


class _RateColumn(ProgressColumn):
    """Items per second (rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0.0:.1f}/s")


class Progress:
    """One stage at a time: ``start``, ``advance`` per item, ``finish``; ``log`` for messages."""

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
        self._console = Console(file=self.stream, force_terminal=self.tty, highlight=False, soft_wrap=True)
        self._bar: RichProgress | None = None
        self._task = None

    def log(self, message: str, *, level: int = 0) -> None:
        if self.verbosity < level:
            return
        if self.tty:
            self._console.print(message, markup=False)  # above the live bar, which stays at the bottom
        else:
            print(message, file=self.stream, flush=True)

    def start(self, stage: str, total: int) -> None:
        self.finish()
        self.stage, self.total, self.done = stage, total, 0
        self.counts = Counter()
        self.started = time.monotonic()
        self._last = 0.0
        if self.verbosity < 0:
            return
        if self.tty:
            self._bar = self._make_bar()
            self._bar.start()
            self._task = self._bar.add_task(stage, total=total, counts="")
        else:
            self._draw(force=True)

    def advance(self, outcome: str = "ok", detail: str | None = None) -> None:
        self.done += 1
        self.counts[outcome] += 1
        if detail and self.verbosity >= 1:
            self.log(f"  {self.stage}: {detail}", level=1)
        self._draw()

    def finish(self) -> None:
        if not self.stage:
            return
        self._draw(force=True)
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        self.stage = ""

    def _make_bar(self) -> RichProgress:
        # Redrawn from advance(), not by rich's refresh thread: the build starts no thread of its own here.
        return RichProgress(
            TextColumn("{task.description:<11}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[counts]}"),
            console=self._console,
            auto_refresh=False,
        )

    def _line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        counts = _format_counts(self.counts)
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (
            f"{self.stage:<11} {self.done}/{self.total} ({pct:.0f}%) "
            f"{rate:.1f}/s, elapsed {format_duration(elapsed)}, ETA {format_duration(eta)}"
            + (f" [{counts}]" if counts else "")
        )

    def _draw(self, *, force: bool = False) -> None:
        if self.verbosity < 0 or not self.stage:
            return
        now = time.monotonic()
        if self._bar is not None and self._task is not None:
            # rich keeps the counts (for the rate and ETA) on every call; only the redraw is throttled.
            self._bar.update(self._task, completed=self.done, counts=_format_counts(self.counts))
            if force or now - self._last >= self.interval:
                self._last = now
                self._bar.refresh()
            return
        if not force and now - self._last < self.interval:
            return
        self._last = now
        print(self._line(), file=self.stream, flush=True)


def format_table(headers: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """An aligned plain-text table, numbers to the right (CI logs and terminals alike)."""
    headers = [str(h) for h in headers]
    body = [list(r) for r in rows]
    table = Table(box=_PLAIN_BOX, show_edge=False, pad_edge=False, header_style="", highlight=False)
    for i, name in enumerate(headers):
        numeric = bool(body) and all(isinstance(r[i], int) for r in body)
        table.add_column(name, justify="right" if numeric else "left", no_wrap=True)
    for r in body:
        table.add_row(*("" if c is None else str(c) for c in r))
    # Wide enough never to wrap a cell: long dataset URLs stay on one line.
    console = Console(file=io.StringIO(), width=100_000, color_system=None, force_terminal=False, highlight=False)
    console.print(table)
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())  # type: ignore[attr-defined]


def format_summary(result: BuildResult) -> str:
    """The table printed after a build: one line per source, then the totals."""
    tally = result.tally or tally_datasets(result.catalog.datasets)
    rows: dict[str, dict[str, int | None]] = {}
    for name, datasets, statuses, written in tally.get_status_rows():
        r = rows.setdefault(name or "(none)", {"datasets": 0, "bytes": None, **dict.fromkeys(SUMMARY_STATUSES, 0)})
        r["datasets"] += datasets  # type: ignore[operator]
        for status in SUMMARY_STATUSES:
            r[status] += statuses.get(status, 0)  # type: ignore[operator]
        if written is not None:
            r["bytes"] = (r["bytes"] or 0) + written
    table = format_table(
        ["source", "datasets", "ok", "invalid", "unreachable", "stale", "written"],
        [
            [name, r["datasets"], r["ok"], r["invalid"], r["unreachable"], r["stale"], format_bytes(r["bytes"])]
            for name, r in sorted(rows.items())
        ],
    )
    c = result.catalog
    tail = (
        f"\n{tally.datasets} datasets, {len(c.row_errors)} row errors, {len(c.gone)} gone; "
        f"{result.requests} requests ({result.not_modified} not modified"
        + (f", {result.absent_remembered} known-missing documents skipped" if result.absent_remembered else "")
        + "), "
        f"{result.thumbnails_rendered} thumbnails rendered, {result.seconds:.1f}s -> {result.out}"
    )
    return table + tail + (format_site_size(result.size) if result.size is not None else "")


def format_site_size(size: BudgetReport) -> str:
    """The site's bytes per part, against its budget, and what it gave up to fit."""
    against = f" of a {format_bytes(size.budget)} budget" if size.budget else ""
    lines = [f"\nsite: {format_bytes(size.sizes.total)}{against} in {size.sizes.files} files: "
             + ", ".join(f"{part} {format_bytes(n)}" for part, n in size.sizes.parts.items())]
    lines += [f"site: gave up {g}" for g in size.given_up]
    return "\n".join(lines)
