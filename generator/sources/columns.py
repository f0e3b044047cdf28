"""CSV columns to the partial facts a listing states (name, shape, written bytes, terms)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping
from urllib.parse import unquote, urlsplit

from generator.records import Axis, Dataset, Entry, Kind, Level, Plate, Term
from generator.terms import get_term

# Bounds on what hostile or broken metadata may make us hold or loop over.
MAX_NDIM = 32


MAX_DIM = 2**62


def parse_csv_ints(text: str | None) -> tuple[int, ...] | None:
    """ "1,2,3" -> (1, 2, 3); None when empty or not integers."""
    if not text:
        return None
    packed = text.replace(" ", "")
    if packed.isascii() and packed.replace(",", "").isdigit():
        # Nearly every cell: ASCII digits and commas, each number an int as written.
        vals = tuple(map(int, filter(None, packed.split(","))))
    else:
        if not text.strip():
            return None
        try:
            vals = tuple([int(x) if x.isdigit() else int(float(x)) for x in packed.split(",") if x])
        except ValueError:
            return None
    if not vals or len(vals) > MAX_NDIM or min(vals) < 0 or max(vals) > MAX_DIM:
        return None
    return vals


def parse_csv_number(text: str | None) -> int | None:
    """ "417816396.00000006" -> 417816396; None when empty or not a number."""
    if not text or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return int(round(value))


def _csv(columns: Mapping[str, str], key: str) -> str | None:
    v = columns.get(key)
    return (v.strip() or None) if isinstance(v, str) else None


# Values a converter's template left in place of a real one: rows of the
# challenge's CSVs are named "dataset name". As a title that says nothing and
# reads like a bug; treated as absent, the URL names the dataset instead.
PLACEHOLDERS = frozenset({
    "dataset name", "dataset description", "name", "description", "title", "untitled",
    "todo", "tbd", "n/a", "na", "none", "null", "-",
})


def is_placeholder(text: str) -> bool:
    return text.strip().lower() in PLACEHOLDERS


def _csv_text(columns: Mapping[str, str], key: str) -> str | None:
    v = _csv(columns, key)
    return None if v is None or is_placeholder(v) else v


def _csv_written(columns: Mapping[str, str]) -> int | None:
    # Zero bytes written is no measurement (rows of the challenge's other_samples.csv
    # say "0, 0.00 B"): every dataset has bytes.
    return parse_csv_number(columns.get("written")) or None


@dataclass(frozen=True, slots=True)
class Listed:
    """The facts a listing's CSV columns state about one dataset; None where they say nothing.

    The only reader of ``Entry.columns``: the offline record is built from it,
    and harvest falls back on it wherever the data is silent.
    """

    name: str | None = None  # template placeholders ("dataset name") count as absent
    description: str | None = None
    license: str | None = None
    origin: str | None = None
    organism: Term | None = None
    modality: Term | None = None
    shape: tuple[int, ...] | None = None
    chunks: tuple[int, ...] | None = None  # only when they match the shape's rank
    shards: tuple[int, ...] | None = None
    dimension_names: tuple[str, ...] = ()
    written_bytes: int | None = None
    series0: str | None = None
    wells: int | None = None
    images: int | None = None

    @property
    def kind(self) -> Kind:
        if self.wells:
            return "plate"
        return "bioformats2raw" if self.series0 else "unknown"

    @property
    def levels(self) -> tuple[Level, ...]:
        if self.shape is None:
            return ()
        # The path is the listing's placeholder: ``listed`` says no level was read.
        return (Level(path="0", shape=self.shape, chunks=self.chunks, shards=self.shards, inferred=True, listed=True),)

    @property
    def axes(self) -> tuple[Axis, ...]:
        return get_named_axes(self.dimension_names)

    @property
    def plate(self) -> Plate | None:
        if not self.wells:
            return None
        fields = self.images // self.wells if self.images and self.images % self.wells == 0 else 0
        return Plate(rows=0, columns=0, wells=self.wells, fields=fields)

    @property
    def series(self) -> tuple[str, ...]:
        return (self.series0,) if self.series0 else ()


# Catalogs repeat a few dimension orders ("t,c,z,y,x") thousands of times; the
# axes are frozen records, so one tuple serves every dataset that names them alike.
@lru_cache(maxsize=4096)
def get_named_axes(names: tuple[str, ...]) -> tuple[Axis, ...]:
    return tuple(Axis(name=n) for n in names)


@lru_cache(maxsize=4096)
def parse_dimension_names(cell: str) -> tuple[str, ...]:
    """A ``dimension_names`` cell (stripped, not empty) -> its names, each cut to 64 characters."""
    return tuple(n.strip()[:64] for n in cell.split(",")[:MAX_NDIM])


def parse_listed(columns: Mapping[str, str]) -> Listed:
    """An entry's CSV columns -> the facts they state; unusable values count as absent."""
    shape = parse_csv_ints(columns.get("shape"))
    chunks = parse_csv_ints(columns.get("chunks"))
    shards = parse_csv_ints(columns.get("shards"))
    dims = _csv(columns, "dimension_names")
    organism = _csv(columns, "organismId")
    modality = _csv(columns, "fbbiId")
    return Listed(
        name=_csv_text(columns, "name"),
        description=_csv_text(columns, "description"),
        license=_csv(columns, "license"),
        origin=_csv(columns, "origin"),
        organism=get_term(organism, None, "organism") if organism else None,
        modality=get_term(modality, None, "modality") if modality else None,
        shape=shape,
        chunks=chunks if shape and chunks and len(chunks) == len(shape) else None,
        shards=shards if shape and shards and len(shards) == len(shape) else None,
        dimension_names=parse_dimension_names(dims) if dims else (),
        written_bytes=_csv_written(columns),
        series0=_csv(columns, "series0"),
        wells=parse_csv_number(columns.get("wells")),
        images=parse_csv_number(columns.get("images")),
    )


def dataset_from_entry(entry: Entry) -> Dataset:
    """A record from the CSV columns alone (``--offline``)."""
    return dataset_from_listing(entry, parse_listed(entry.columns))


def dataset_from_listing(entry: Entry, listed: Listed, *, array_facts: bool = True) -> Dataset:
    """The record a listing alone makes: offline, and what harvest keeps of a dataset it
    could not read. ``array_facts`` False leaves out the listing's kind, shape and axes
    (a URL with no Zarr group at all)."""
    return Dataset(
        url=entry.url,
        source=entry.source,
        collection=entry.collection,
        listings=entry.listings,
        kind=listed.kind if array_facts else "unknown",
        name=listed.name or url_name(entry.url),
        description=listed.description,
        license=listed.license,
        origin=listed.origin,
        organism=listed.organism,
        modality=listed.modality,
        axes=listed.axes if array_facts else (),
        resolutions=listed.levels if array_facts else (),
        written_bytes=listed.written_bytes,
        plate=listed.plate,
        series=listed.series,
        endpoint=get_endpoint(entry),
    )


def get_endpoint(entry: Entry) -> str | None:
    """The S3 endpoint the sources stage settled for an ``s3://`` entry (None: AWS)."""
    return (entry.columns.get("endpoint") or None) if entry.url.startswith("s3://") else None


def url_name(url: str) -> str:
    """The last segment of a URL's path: the name of a dataset that states none."""
    path = urlsplit(url).path.rstrip("/")
    return unquote(path.rsplit("/", 1)[-1]) or url
