"""What the site's summary pages need of the whole catalog, counted as the records pass.

The site is written in one pass over the records (which may stream from
disk, a span at a time), so the totals, the sources table, the report's
failures and the index page's first screen are counted here as each record
goes by, instead of by walking the catalog again for each of them.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from generator.records import Dataset
from generator.site.format import PAGE_SIZE, is_failure

IMAGE_KINDS = frozenset(("image", "bioformats2raw", "labels", "unknown"))
SUMMARY_STATUSES = ("ok", "invalid", "unreachable", "stale")


class _Source:
    __slots__ = ("datasets", "collections", "bytes", "uncompressed", "failing", "written_known", "statuses")

    def __init__(self) -> None:
        self.datasets = self.bytes = self.uncompressed = self.failing = self.written_known = 0
        self.collections: set[str | None] = set()
        self.statuses: dict[str, int] = {}


class Tally:
    """Counts of the records added so far; ``gone`` are the datasets the report
    lists as gone (whether each still has a page is noted as the records pass)."""

    def __init__(self, gone: Sequence[Dataset] = ()) -> None:
        self.datasets = self.images = self.plates = 0
        self.written = self.written_known = self.uncompressed = self.uncompressed_known = 0
        self.by_status: dict[str, int] = {}  # in order of first appearance, as catalog.json has them
        self.by_kind: dict[str, int] = {}
        self.sources: dict[str, _Source] = {}
        self.first: list[Dataset] = []  # the first screen of cards, in catalog order
        self.failing: list[Dataset] = []
        self.cards: list[str] = []  # the card thumbnails the records name
        self.gone = tuple(gone)
        self._gone_ids = frozenset(d.id for d in self.gone)
        self.present_gone: set[str] = set()  # ids of gone datasets that still have a page

    def add(self, records: Iterable[Dataset]) -> None:
        first, failing, sources = self.first, self.failing, self.sources
        by_status, by_kind = self.by_status, self.by_kind
        for d in records:
            self.datasets += 1
            if len(first) < PAGE_SIZE:
                first.append(d)
            kind, status = d.kind, d.status
            by_status[status] = by_status.get(status, 0) + 1
            by_kind[kind] = by_kind.get(kind, 0) + 1
            if kind in IMAGE_KINDS:
                self.images += 1
            elif kind == "plate":
                self.plates += 1
            s = sources.get(d.source)
            if s is None:
                s = sources[d.source] = _Source()
            s.datasets += 1
            s.collections.add(d.collection)
            s.statuses[status] = s.statuses.get(status, 0) + 1
            if d.written_bytes is not None:
                self.written += d.written_bytes
                self.written_known += 1
                s.bytes += d.written_bytes
                s.written_known += 1
            if d.uncompressed_bytes is not None:
                self.uncompressed += d.uncompressed_bytes
                self.uncompressed_known += 1
                s.uncompressed += d.uncompressed_bytes
            if is_failure(d):
                failing.append(d)
                s.failing += 1
            if d.thumbnail is not None:
                self.cards.append(d.thumbnail.card)
            if self._gone_ids and d.id in self._gone_ids:
                self.present_gone.add(d.id)

    @property
    def collections(self) -> int:
        return sum(len(s.collections) for s in self.sources.values())

    def get_totals(self) -> dict[str, Any]:
        """catalog.json's ``totals``."""
        return {
            "datasets": self.datasets,
            "images": self.images,
            "plates": self.plates,
            "written_bytes": self.written,
            "uncompressed_bytes": self.uncompressed,
            "sources": len(self.sources),
            "collections": self.collections,
            "by_status": dict(self.by_status),
            "by_kind": dict(self.by_kind),
        }

    def get_sources(self) -> list[dict[str, Any]]:
        """catalog.json's ``sources``: the most datasets first."""
        rows = [
            {
                "name": name,
                "datasets": s.datasets,
                "collections": len(s.collections),
                "bytes": s.bytes,
                "uncompressed_bytes": s.uncompressed,
                "failing": s.failing,
            }
            for name, s in self.sources.items()
        ]
        rows.sort(key=lambda r: (-r["datasets"], r["name"]))
        return rows

    def get_status_rows(self) -> list[tuple[str, int, dict[str, int], int | None]]:
        """Per source (by name): datasets, their count per status, written bytes (None: none known)."""
        return [
            (name, s.datasets, s.statuses, s.bytes if s.written_known else None)
            for name, s in sorted(self.sources.items())
        ]


def tally_datasets(datasets: Iterable[Dataset], gone: Sequence[Dataset] = ()) -> Tally:
    """A ``Tally`` of records held in memory."""
    tally = Tally(gone)
    tally.add(datasets)
    return tally
