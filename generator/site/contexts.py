"""Typed page contexts: the documented data each template receives."""

from __future__ import annotations

from dataclasses import dataclass

from generator.records import RowError


@dataclass(frozen=True)
class Link:
    label: str
    href: str


@dataclass(frozen=True)
class CardView:
    """What one result card shows; the JS builds the same markup from index.json."""

    id: str
    url: str
    name: str
    axes: tuple[tuple[str, int], ...]
    source: str
    collection: str
    badges: tuple[tuple[str, str], ...]  # (css class suffix, text)
    thumb_src: str | None
    thumb_width: int
    thumb_height: int
    validator: str | None
    origin: str | None
    eager: bool


@dataclass(frozen=True)
class SourcePanel:
    name: str
    datasets: int
    bytes: str
    collections: int
    logo: str | None


@dataclass(frozen=True)
class ByteTotal:
    """A sum of sizes that says what it covers: zero would claim a measurement."""

    text: str  # "" when no dataset reports the size
    known: int
    of: int

    @property
    def partial(self) -> bool:
        return 0 < self.known < self.of


@dataclass(frozen=True)
class Summary:
    datasets: int
    images: int
    plates: int
    written: ByteTotal
    uncompressed: ByteTotal
    sources: int
    failing: int


@dataclass(frozen=True)
class IndexPage:
    title: str
    root: str
    generated_at: str
    summary: Summary
    sources: tuple[SourcePanel, ...]
    cards: tuple[CardView, ...]
    total: int
    page_size: int
    jsonld: str
    css: str  # assets/site.css, inlined
    csp: str  # CSP with the inlined stylesheet's hash


@dataclass(frozen=True)
class LevelRow:
    path: str
    shape: str
    chunks: str
    shards: str
    dtype: str
    codecs: str
    scale: str


@dataclass(frozen=True)
class AxisRow:
    name: str
    type: str
    unit: str
    size: str
    physical: str


@dataclass(frozen=True)
class ChannelRow:
    label: str
    color: str | None  # validated "RRGGBB" or None
    window: str
    active: bool


@dataclass(frozen=True)
class PlateMap:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[bool, ...]], ...]
    wells: int
    fields: int


@dataclass(frozen=True)
class Snippet:
    id: str
    title: str
    code: str


@dataclass(frozen=True)
class DatasetPage:
    title: str
    root: str
    id: str
    name: str
    url: str
    href: str | None
    description: str | None
    facts: tuple[tuple[str, str], ...]
    badges: tuple[tuple[str, str], ...]
    thumb_src: str | None
    thumb_width: int
    thumb_height: int
    axes: tuple[AxisRow, ...]
    levels: tuple[LevelRow, ...]
    channels: tuple[ChannelRow, ...]
    plate: PlateMap | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    rocrate: tuple[tuple[str, str], ...]
    listings: tuple[tuple[str, str, str, str | None], ...]  # source, collection, file:line, its line on GitHub
    links: tuple[Link, ...]
    origin: str | None
    license_href: str | None
    license: str | None
    snippets: tuple[Snippet, ...]
    jsonld: str
    generated_at: str


@dataclass(frozen=True)
class ReportItem:
    id: str
    name: str
    url: str
    status: str
    errors: tuple[str, ...]
    listings: tuple[str, ...]
    has_page: bool


@dataclass(frozen=True)
class ReportGroup:
    kind: str
    items: tuple[ReportItem, ...]


@dataclass(frozen=True)
class ReportSource:
    name: str
    count: int
    groups: tuple[ReportGroup, ...]


@dataclass(frozen=True)
class ReportPage:
    title: str
    root: str
    generated_at: str
    sources: tuple[ReportSource, ...]
    row_errors: tuple[tuple[str, tuple[RowError, ...]], ...]
    failing: int


@dataclass(frozen=True)
class AboutPage:
    title: str
    root: str
    generated_at: str
    csv_files: tuple[str, ...]
    summary: Summary
