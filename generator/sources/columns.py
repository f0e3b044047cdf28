"""CSV columns to the partial facts a listing states (name, shape, written bytes, terms)."""

from __future__ import annotations

import math
from typing import Mapping
from urllib.parse import urlsplit

from generator.records import Axis, Dataset, Entry, Level, Plate
from generator.terms import get_term

# Bounds on what hostile or broken metadata may make us hold or loop over.
MAX_NDIM = 32


MAX_DIM = 2**62


def parse_csv_ints(text: str | None) -> tuple[int, ...] | None:
    """ "1,2,3" -> (1, 2, 3); None when empty or not integers."""
    if not text or not text.strip():
        return None
    try:
        vals = tuple([int(x) if x.isdigit() else int(float(x)) for x in text.replace(" ", "").split(",") if x])
    except ValueError:
        return None
    if not vals or len(vals) > MAX_NDIM or any(v < 0 or v > MAX_DIM for v in vals):
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
    return v.strip() if isinstance(v, str) and v.strip() else None


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


def dataset_from_entry(entry: Entry) -> Dataset:
    """A record from the CSV columns alone (``--offline``, and the base of every harvest)."""
    c = entry.columns
    shape = parse_csv_ints(c.get("shape"))
    chunks = parse_csv_ints(c.get("chunks"))
    shards = parse_csv_ints(c.get("shards"))
    levels: tuple[Level, ...] = ()
    if shape is not None:
        levels = (
            Level(
                path="0",
                shape=shape,
                chunks=chunks if chunks and len(chunks) == len(shape) else None,
                shards=shards if shards and len(shards) == len(shape) else None,
                inferred=True,
                listed=True,
            ),
        )
    dims = _csv(c, "dimension_names")
    axes = tuple(Axis(name=n.strip()[:64]) for n in dims.split(",")[:MAX_NDIM]) if dims else ()
    wells = parse_csv_number(c.get("wells"))
    images = parse_csv_number(c.get("images"))
    plate = None
    kind = "unknown"
    if wells:
        fields = images // wells if images and images % wells == 0 else 0
        plate = Plate(rows=0, columns=0, wells=wells, fields=fields)
        kind = "plate"
    series0 = _csv(c, "series0")
    if series0 and kind == "unknown":
        kind = "bioformats2raw"
    organism = _csv(c, "organismId")
    modality = _csv(c, "fbbiId")
    name = _csv_text(c, "name") or _url_name(entry.url)
    return Dataset(
        url=entry.url,
        source=entry.source,
        collection=entry.collection,
        listings=entry.listings,
        kind=kind,  # type: ignore[arg-type]
        status="ok",
        name=name,
        description=_csv_text(c, "description"),
        license=_csv(c, "license"),
        origin=_csv(c, "origin"),
        organism=get_term(organism, None, "organism") if organism else None,
        modality=get_term(modality, None, "modality") if modality else None,
        axes=axes,
        resolutions=levels,
        written_bytes=_csv_written(c),
        plate=plate,
        series=(series0,) if series0 else (),
    )


def _url_name(url: str) -> str:
    path = urlsplit(url).path.rstrip("/")
    from urllib.parse import unquote

    return unquote(path.rsplit("/", 1)[-1]) or url
