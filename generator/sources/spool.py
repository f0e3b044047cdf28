"""What the walk of the CSVs found, kept on disk: a million listings need not fit in memory.

The walk appends its listings, row errors and CSVs read in order. Listings
go to an unlinked scratch file a chunk at a time (plain tuples, pickled),
with one 64-bit hash of each URL kept in memory; row errors (capped per CSV)
and CSV names stay in memory, each error with its place among the listings.
``merge_walk`` then finds the URLs listed more than once from the hashes,
and ``Entries`` reads the listings back as entries, in first-listed order, a
span at a time, as often as it is iterated.
"""

from __future__ import annotations

import pickle
import tempfile
from array import array
from typing import Any, Iterator

import numpy as np

from generator.config import SPAN, SourceLimits
from generator.records import Entry, Listing, RowError
from generator.sources.merge import _Listed, get_bounded_errors, get_entry

CHUNK = 4096  # listings pickled at a time
_hash = hash  # of a URL: 64 bits, so two URLs rarely share one (and are told apart when they do)


class Walk:
    """The walk's findings, in the order it found them (see the module docstring)."""

    def __init__(self) -> None:
        self.file: Any = tempfile.TemporaryFile(prefix="ngff-catalog-listings-")
        self.chunks: list[int] = []  # each chunk's offset in the file
        self.chunk: list[tuple] = []
        self.hashes = array("q")  # per listing: hash of its URL
        self.errors: list[tuple[int, int, RowError]] = []  # (listings before it, 0, error)
        self.csv_files: dict[str, None] = {}

    def append(self, item: Any) -> None:
        if isinstance(item, _Listed):
            x = item.listing
            self.chunk.append((item.url, x.file, x.line, x.source, x.collection, x.name, x.link, item.columns, item.host))
            self.hashes.append(_hash(item.url))
            if len(self.chunk) == CHUNK:
                self._flush()
        elif isinstance(item, RowError):
            self.errors.append((len(self.hashes), 0, item))
        else:  # a CSV read
            self.csv_files.setdefault(item.file)

    def extend(self, items: Any) -> None:
        for item in items:
            self.append(item)

    def _flush(self) -> None:
        if self.chunk:
            self.file.seek(0, 2)
            self.chunks.append(self.file.tell())
            pickle.dump(self.chunk, self.file, protocol=pickle.HIGHEST_PROTOCOL)
            self.chunk = []

    def __len__(self) -> int:
        return len(self.hashes)

    def __iter__(self) -> Iterator[_Listed]:
        """The listings, in walk order."""
        self._flush()
        for offset in self.chunks:
            self.file.seek(offset)
            for url, file, line, source, collection, name, link, columns, host in pickle.load(self.file):
                yield _Listed(url, Listing(file, line, source, collection, name, link), columns, host)

    def close(self) -> None:
        self.file.close()


class Entries:
    """The entries of a walk, read back from its scratch file in first-listed order.

    Iterating yields entries; ``spans()`` yields lists of at most ``SPAN``. A URL
    listed more than once (``merged``) comes out once, at its first listing,
    with every listing folded in (``merge.get_entry``).
    """

    def __init__(self, walk: Walk, merged: dict[str, tuple[int, Entry]], repeated: frozenset[int], count: int) -> None:
        self.walk = walk
        self.merged = merged  # url -> (its first listing's place, its entry)
        self.repeated = repeated  # hashes of URLs listed more than once (or sharing a hash)
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0

    def __iter__(self) -> Iterator[Entry]:
        hashes, repeated, merged = self.walk.hashes, self.repeated, self.merged
        for at, item in enumerate(self.walk):
            if repeated and hashes[at] in repeated and item.url in merged:
                first, entry = merged[item.url]
                if first == at:
                    yield entry
                continue
            yield get_entry(item.url, [item])

    def spans(self, size: int | None = None) -> Iterator[list[Entry]]:
        size = size or SPAN  # read when called: a test may set a small span
        span: list[Entry] = []
        for entry in self:
            span.append(entry)
            if len(span) == size:
                yield span
                span = []
        if span:
            yield span

    def close(self) -> None:
        self.walk.close()


def merge_walk(walk: Walk, limits: SourceLimits = SourceLimits()) -> tuple[Entries, list[RowError], list[str]]:
    """The walk's entries, row errors and CSVs read, as ``merge.get_merged_entries`` has them.

    A URL listed again in the same CSV is a duplicate row, and one listed
    more than ``limits.listings`` times has its further listings dropped:
    both are row errors, placed where that listing was in the walk.
    """
    hashes = np.frombuffer(walk.hashes, dtype=np.int64) if len(walk.hashes) else np.zeros(0, np.int64)
    uniq, counts = np.unique(hashes, return_counts=True)
    repeated = frozenset(uniq[counts > 1].tolist())
    errors = list(walk.errors)
    merged: dict[str, tuple[int, Entry]] = {}
    skipped = 0
    if repeated:
        groups: dict[str, list[tuple[int, _Listed]]] = {}
        for at, item in enumerate(walk):
            if walk.hashes[at] in repeated:
                groups.setdefault(item.url, []).append((at, item))
        for url, listed in groups.items():
            if len(listed) == 1:  # another URL with the same hash
                continue
            known: list[_Listed] = []
            for at, item in listed:
                if not known:
                    known.append(item)
                    continue
                x = item.listing
                same = next((k.listing for k in known if k.listing.file == x.file), None)
                if same is not None:
                    msg = f"duplicate row: {url} is already listed at line {same.line} of this file; ignored"
                    errors.append((at, 1, RowError(x.file, x.line, msg, url, x.name)))
                elif len(known) >= limits.listings:
                    msg = f"{url} is already listed {len(known)} times (first at {known[0].listing.shown}); further listings are ignored"
                    errors.append((at, 1, RowError(x.file, x.line, msg, url, x.name)))
                else:
                    known.append(item)
            merged[url] = (listed[0][0], get_entry(url, known))
            skipped += len(listed) - 1
    errors.sort(key=lambda e: (e[0], e[1]))  # stable: the walk's own errors keep their order
    entries = Entries(walk, merged, repeated, len(walk) - skipped)
    return entries, get_bounded_errors([e for _, _, e in errors], limits.errors_per_csv), list(walk.csv_files)
