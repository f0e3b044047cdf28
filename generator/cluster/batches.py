"""What travels to a worker and back, and the pure split and merge around it.

Everything here pickles: entries and records are frozen dataclasses (their
mappings ``ReadOnlyDict``), the settings a frozen ``BuildConfig``, and the
conditional-request validators plain tuples. No fetcher, state or event
loop crosses the wire; a worker makes its own.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Sequence

from generator.config import BuildConfig
from generator.records import Dataset, Entry, Thumbnail

# (url, etag, last_modified, body): one remembered document, as the state keeps it.
Validator = tuple[str, "str | None", "str | None", bytes]


@dataclass(frozen=True)
class DaskTarget:
    """Where ``--dask`` sends the work: a scheduler's address, or a local cluster of ``workers``."""

    address: str | None = None
    workers: int | None = None  # local only: worker processes (None: one per core)

    @property
    def local(self) -> bool:
        return self.address is None


def parse_dask_target(value: str) -> DaskTarget:
    """``local``, ``local:N`` or a scheduler address (``tcp://host:8786``, ``host:8786``)."""
    text = value.strip()
    match = re.fullmatch(r"local(?::(\d+))?", text)
    if match:
        n = match.group(1)
        if n is not None and int(n) < 1:
            raise ValueError(f"--dask local:N needs N >= 1, got {value!r}")
        return DaskTarget(workers=int(n) if n else None)
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"--dask expects a scheduler address or local[:N], got {value!r}")
    return DaskTarget(address=text)


def get_local_workers(target: DaskTarget) -> int:
    return target.workers or max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class WorkerSettings:
    """The build settings a batch runs with; the deadline as wall-clock time, since
    ``time.monotonic`` means nothing in another process or on another machine."""

    config: BuildConfig
    deadline_at: float | None = None  # time.time() when harvest and drawing stop
    deadline_seconds: float | None = None  # as configured, for messages


@dataclass(frozen=True)
class BatchInput:
    """One task: its entries, and what the driver's state knows about their URLs."""

    index: int
    entries: tuple[Entry, ...]
    validators: tuple[Validator, ...] = ()
    absent: tuple[tuple[str, float], ...] = ()  # optional documents recently not found, and when
    known_formats: tuple[tuple[str, int], ...] = ()  # dataset URL -> Zarr format last seen
    # Thumbnails already in the driver's store, by key: a worker reuses them and fetches nothing.
    known_thumbnails: tuple[tuple[str, Thumbnail], ...] = ()
    # What drawing those said about the data (a window drawn with auto-contrast, ...), by key:
    # the reused thumbnail brings its notes, as in the single-process build.
    known_notes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Servers the circuit breaker gave up on in earlier batches (key -> why): skipped here too.
    tripped: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BatchOutput:
    """What a batch returns: its records in entry order, the thumbnail files it drew, and
    the validators it learnt (for the driver's state)."""

    index: int
    datasets: tuple[Dataset, ...]
    files: tuple[tuple[str, bytes], ...] = ()  # (file name under thumbnails/, bytes)
    validators: tuple[Validator, ...] = ()
    absent: tuple[tuple[str, bool], ...] = ()  # (url, present): marks set or cleared
    tripped: tuple[tuple[str, str], ...] = ()  # servers skipped by the end of the batch
    requests: int = 0
    not_modified: int = 0
    absent_remembered: int = 0


def get_batches(entries: Sequence[Entry], size: int) -> list[tuple[Entry, ...]]:
    """Consecutive runs of ``size`` entries: merging them back in index order keeps entry order."""
    size = max(1, size)
    return [tuple(entries[i : i + size]) for i in range(0, len(entries), size)]


def merge_outputs(outputs: Sequence[BatchOutput]) -> list[Dataset]:
    """Every batch's records, in batch order: the single-process build's order."""
    return [d for out in sorted(outputs, key=lambda o: o.index) for d in out.datasets]


def split_limit(limit: int, slots: int) -> int:
    """One task slot's share of a cluster-wide request limit (at least one request)."""
    return max(1, limit // max(1, slots))
