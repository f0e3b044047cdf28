"""Typed page contexts: the documented data each template receives.

Every value is a display string, a number or a URL that passed ``safe_url``;
templates print them autoescaped and decide nothing but presence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.records import RowError


@dataclass(frozen=True)
class Link:
    label: str
    href: str


@dataclass(frozen=True)
class CardThumb:
    src: str  # site-relative path, or a data: URI when inlined
    width: int
    height: int
    eager: bool  # on the first screen: fetched at high priority, decoded with the page


@dataclass(frozen=True)
class CardView:
    """What one result card shows (built in cards.py). An optional part is
    None when absent; the prototype the JS clones has every part ("")."""

    id: str
    url: str
    name: str
    axes: tuple[tuple[str, str], ...]  # (axis name, size)
    source: str
    collection: str | None
    badges: tuple[tuple[str, str], ...]  # (css class suffix, text)
    thumb: CardThumb | None
    placeholder: str | None  # the placeholder's label, when there is no thumbnail
    validator: str | None
    origin: str | None


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
    card_prototype: CardView  # rendered into the <template> the JS clones
    sorts: tuple[tuple[str, str], ...]  # (key, label) of the sort menu
    facet_keys: tuple[str, ...]  # query-string names of the filters
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
    translation: str = "–"


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
    read: str = ""  # what harvest read: "Checked 24 of 384 wells; ..." ("" when nothing was read)


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
    multiscales: tuple[Any, ...] = ()  # multiscales_view.MultiscaleRow, every multiscale of the image


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
class ReportSize:
    budget: int | None  # --site-budget in bytes, or None
    total: int
    files: int
    parts: tuple[tuple[str, int], ...]  # (part, bytes) in site/budget.PARTS order
    given_up: tuple[str, ...]  # what the site gave up to fit, in words


@dataclass(frozen=True)
class ReportPage:
    title: str
    root: str
    generated_at: str
    sources: tuple[ReportSource, ...]
    row_errors: tuple[tuple[str, tuple[RowError, ...]], ...]
    failing: int
    size: ReportSize | None = None


@dataclass(frozen=True)
class AboutPage:
    title: str
    root: str
    generated_at: str
    csv_files: tuple[str, ...]
    summary: Summary
