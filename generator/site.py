"""The site stage: turn a gathered ``Catalog`` into static files.

Templates receive plain, typed contexts built here (the model is datasette's
``template_contexts.py``): every value a template prints is already a display
string or a URL that passed ``safe_url``; jinja's autoescaping does the rest.
Harvested metadata is untrusted, so nothing in this module ever marks a
remote string as markup.

Output (all links relative, so the site works under any sub-path)::

    index.html            first page of cards pre-rendered, JS takes over
    index.json            compact column-wise search index for assets/catalog.js
    datasets/<id>/index.html
    report.html, report.json
    about.html
    catalog.json, catalog.csv
    sitemap.xml (a sitemap index past 50,000 pages)
    assets/               copied from the package
"""

from __future__ import annotations

import base64
import csv
import gc
import hashlib
import json
import math
import multiprocessing
import os
import re
import shutil
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

import generator
from generator.records import KINDS, STATUSES, Catalog, Dataset, RowError

PAGE_SIZE = 60  # cards per page, in index.html and in the JS pager
INLINE_THUMBNAILS = 12  # first-screen thumbnails inlined as data: URIs (one round trip to first paint)
INLINE_MAX_BYTES = 24 * 1024
PARALLEL_MIN = 4000  # dataset pages below which forking workers costs more than it saves
SITEMAP_MAX = 50_000  # URLs per sitemap file, per sitemaps.org

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"
)


def get_csp(style_hashes: Sequence[str] = ()) -> str:
    """The policy, allowing exactly the inline <style> blocks with these sha256 hashes
    (index.html inlines site.css: first paint needs only the HTML round trip).
    Still no inline script, no style attribute, no 'unsafe-inline'."""
    extra = "".join(f" 'sha256-{h}'" for h in style_hashes)
    return CSP.replace("style-src 'self';", f"style-src 'self'{extra};")


def get_inline_css(assets: Path) -> tuple[str, str]:
    """site.css as the text of a <style> element, and its CSP hash (base64 sha256)."""
    # The HTML parser turns CR LF into LF before the browser hashes the element's text.
    css = (assets / "site.css").read_text(encoding="utf-8").replace("\r\n", "\n").replace("\r", "\n")
    if "</style" in css.lower():  # pragma: no cover - our own stylesheet
        raise ValueError("site.css cannot be inlined: it contains </style")
    return css, base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
VALIDATOR = "https://ome.github.io/ome-ngff-validator/?source="
VIZARR = "https://hms-dbmi.github.io/vizarr/?source="
NEUROGLANCER = "https://neuroglancer-demo.appspot.com/#!"
CSV_COLUMNS = (
    "url", "written", "shape", "shards", "chunks", "dimension_names", "license", "name",
    "description", "organismId", "fbbiId", "origin", "wells", "images",
)
SORT_AXES = ("x", "y", "z", "c", "t")
_HEX = re.compile(r"^[0-9a-fA-F]{6}$")


# --------------------------------------------------------------------------- helpers


def get_resource_dir(name: str) -> Path:
    """``templates`` or ``assets``: inside the package in a wheel, at the repo root in a checkout."""
    packaged = Path(generator.__file__).parent / name
    if packaged.is_dir():
        return packaged
    return Path(generator.__file__).resolve().parent.parent / name


def safe_url(value: str | None) -> str | None:
    """The URL if it is absolute http(s) with a host, else None: only such URLs become hrefs."""
    if not value or not isinstance(value, str):
        return None
    value = value.strip()
    if any(c in value for c in "\x00\r\n\t"):
        return None
    # Fast path for the common plain-ASCII "http(s)://host/..." (a 100,000-page
    # build asks three times per page); anything unusual goes through urlsplit.
    head = value[:8].lower()
    rest = value[8:] if head == "https://" else value[7:] if head.startswith("http://") else None
    if rest is not None and rest.isascii():
        end = len(rest)
        for sep in "/?#":
            i = rest.find(sep, 0, end)
            if i >= 0:
                end = i
        netloc = rest[:end]
        if netloc and "[" not in netloc and "]" not in netloc:
            return value
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return value


def format_bytes(n: float | None) -> str:
    if n is None:
        return "–"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def format_time(iso: str) -> str:
    """"2026-11-22 01:42 UTC" from an ISO 8601 timestamp; anything else unchanged."""
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M UTC")


def format_count(n: int) -> str:
    return f"{n:,}"


def format_tuple(values: Sequence[Any] | None) -> str:
    return " × ".join(str(v) for v in values) if values else "–"


def _product(values: Sequence[int] | None) -> int:
    return math.prod(int(v) for v in values) if values else 0


def term_label(term: Any) -> str | None:
    if term is None:
        return None
    return term.label or term.id


def display_name(d: Dataset) -> str:
    if d.name and d.name.strip():
        return d.name.strip()
    path = urlsplit(d.url).path.rstrip("/")
    return path.rsplit("/", 1)[-1] or d.url


def axis_names(d: Dataset) -> list[str]:
    shape = d.shape or ()
    names = [a.name for a in d.axes]
    if len(names) != len(shape):
        names = [f"d{i}" for i in range(len(shape))]
    return names


def get_axis_sizes(d: Dataset) -> list[tuple[str, int]]:
    return list(zip(axis_names(d), d.shape or ()))


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-")
_QUOTE_ASCII = {c: f"%{c:02X}" for c in range(128) if chr(c) not in _UNRESERVED}


def quote_component(text: str) -> str:
    """``urllib.parse.quote(text, safe="")``; str.translate makes the ASCII case several times faster."""
    if text.isascii():
        return text.translate(_QUOTE_ASCII)
    return quote(text, safe="")


def get_validator_url(url: str) -> str:
    return VALIDATOR + quote_component(url)


def get_vizarr_url(url: str) -> str:
    return VIZARR + quote_component(url)


def get_neuroglancer_url(url: str, name: str) -> str:
    # Equal to quoting json.dumps({"layers": [...], "layout": "4panel"}, separators=(",", ":")),
    # built from two string dumps: a dict dump per page is measurable at 100,000 pages.
    state = (
        '{"layers":[{"type":"image","source":' + json.dumps(f"zarr://{url}") + ',"name":'
        + json.dumps(name[:80]) + '}],"layout":"4panel"}'
    )
    return NEUROGLANCER + quote_component(state)


def json_for_script(value: Any) -> str:
    """JSON safe inside <script type="application/ld+json">: no "<" can close the element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def is_failure(d: Dataset) -> bool:
    return d.status != "ok"


# --------------------------------------------------------------------------- contexts


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
    listings: tuple[tuple[str, str, str], ...]  # source, collection, file:line
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


def get_badges(d: Dataset) -> tuple[tuple[str, str], ...]:
    badges: list[tuple[str, str]] = []
    if d.status != "ok":
        badges.append((d.status, d.status))
    if d.cors is False:
        badges.append(("nocors", "no CORS"))
    if d.kind not in ("image", "unknown"):
        badges.append(("kind", d.kind))
    if d.ngff_version:
        badges.append(("version", f"v{d.ngff_version}"))
    return tuple(badges)


def _thumb_data_uri(out: Path, rel: str) -> str | None:
    path = out / rel
    try:
        if path.stat().st_size > INLINE_MAX_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    mime = {"webp": "image/webp", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg"}.get(
        path.suffix.lower().lstrip("."), "application/octet-stream"
    )
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def get_card(d: Dataset, *, root: str = "", out: Path | None = None, inline: bool = False, eager: bool = False) -> CardView:
    thumb = d.thumbnail
    src = None
    if thumb is not None:
        src = (_thumb_data_uri(out, thumb.card) if inline and out is not None else None) or root + thumb.card
    return CardView(
        id=d.id,
        url=d.url,
        name=display_name(d),
        axes=tuple(get_axis_sizes(d)),
        source=d.source,
        collection=d.collection,
        badges=get_badges(d),
        thumb_src=src,
        thumb_width=thumb.width if thumb else 256,
        thumb_height=thumb.height if thumb else 256,
        validator=get_validator_url(d.url) if safe_url(d.url) else None,
        origin=safe_url(d.origin),
        eager=eager,
    )


def get_totals(datasets: Sequence[Dataset]) -> dict[str, Any]:
    return {
        "datasets": len(datasets),
        "images": sum(1 for d in datasets if d.kind in ("image", "bioformats2raw", "labels", "unknown")),
        "plates": sum(1 for d in datasets if d.kind == "plate"),
        "written_bytes": sum(d.written_bytes or 0 for d in datasets),
        "uncompressed_bytes": sum(d.uncompressed_bytes or 0 for d in datasets),
        "sources": len({d.source for d in datasets}),
        "collections": len({(d.source, d.collection) for d in datasets}),
        "by_status": {s: n for s, n in Counter(d.status for d in datasets).items()},
        "by_kind": {k: n for k, n in Counter(d.kind for d in datasets).items()},
    }


def get_sources(datasets: Sequence[Dataset]) -> list[dict[str, Any]]:
    by_source: dict[str, list[Dataset]] = defaultdict(list)
    for d in datasets:
        by_source[d.source].append(d)
    rows = []
    for name, items in by_source.items():
        rows.append({
            "name": name,
            "datasets": len(items),
            "collections": len({d.collection for d in items}),
            "bytes": sum(d.written_bytes or 0 for d in items),
            "uncompressed_bytes": sum(d.uncompressed_bytes or 0 for d in items),
            "failing": sum(1 for d in items if is_failure(d)),
        })
    rows.sort(key=lambda r: (-r["datasets"], r["name"]))
    return rows


def _describe_value(v: object) -> str:
    """Plain text for an RO-Crate value: a term reads "label (id)", not JSON."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and isinstance(v.get("id"), str):
        label = v.get("label")
        return f"{label} ({v['id']})" if isinstance(label, str) and label else v["id"]
    return json.dumps(v, ensure_ascii=False)[:500]


def get_byte_total(sizes: Sequence[int | None]) -> ByteTotal:
    known = [n for n in sizes if n is not None]
    return ByteTotal(format_bytes(sum(known)) if known else "", len(known), len(sizes))


def get_summary(datasets: Sequence[Dataset]) -> Summary:
    t = get_totals(datasets)
    return Summary(
        datasets=t["datasets"],
        images=t["images"],
        plates=t["plates"],
        written=get_byte_total([d.written_bytes for d in datasets]),
        uncompressed=get_byte_total([d.uncompressed_bytes for d in datasets]),
        sources=t["sources"],
        failing=sum(1 for d in datasets if is_failure(d)),
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def get_index_page(catalog: Catalog, out: Path, assets: Path) -> IndexPage:
    datasets = catalog.datasets
    panels = []
    for s in get_sources(datasets):
        slug = _slug(s["name"])
        logo = None
        for ext in ("svg", "png", "webp"):
            if slug and (assets / "logos" / f"{slug}.{ext}").is_file():
                logo = f"assets/logos/{slug}.{ext}"
                break
        # No dataset of the source reports its size: say nothing rather than "0 B".
        panels.append(SourcePanel(s["name"], s["datasets"], format_bytes(s["bytes"]) if s["bytes"] else "", s["collections"], logo))
    css, css_hash = get_inline_css(assets)
    first = datasets[:PAGE_SIZE]
    cards = tuple(
        get_card(d, out=out, inline=i < INLINE_THUMBNAILS, eager=i < INLINE_THUMBNAILS) for i, d in enumerate(first)
    )
    jsonld = {
        "@context": "https://schema.org",
        "@type": "DataCatalog",
        "name": catalog.title,
        "description": f"A federated catalog of {len(datasets)} OME-Zarr datasets from {len({d.source for d in datasets})} sources.",
        "dateModified": catalog.generated_at,
        "numberOfItems": len(datasets),
        "dataset": [
            {"@type": "Dataset", "name": display_name(d), "url": f"datasets/{d.id}/", "identifier": d.url}
            for d in first
        ],
    }
    return IndexPage(
        title=catalog.title,
        root="",
        generated_at=catalog.generated_at,
        summary=get_summary(datasets),
        sources=tuple(panels),
        cards=cards,
        total=len(datasets),
        page_size=PAGE_SIZE,
        jsonld=json_for_script(jsonld),
        css=css,
        csp=get_csp([css_hash]),
    )


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def get_dataset_page(d: Dataset, catalog: Catalog, dataset_id: str | None = None) -> DatasetPage:
    root = "../../"
    name = display_name(d)
    shape = d.shape or ()
    names = axis_names(d)
    axes_by_name = {a.name: a for a in d.axes}
    axes = tuple(
        AxisRow(
            name=n,
            type=(axes_by_name[n].type or "–") if n in axes_by_name else "–",
            unit=(axes_by_name[n].unit or "–") if n in axes_by_name else "–",
            size=str(size),
            physical=_num(d.physical_sizes[n]) if n in d.physical_sizes else "–",
        )
        for n, size in zip(names, shape)
    )
    levels = tuple(
        LevelRow(
            path=lv.path,
            shape=format_tuple(lv.shape) + (" (inferred)" if lv.inferred and lv.path != "0" else ""),
            chunks=format_tuple(lv.chunks),
            shards=format_tuple(lv.shards),
            dtype=lv.dtype or "–",
            codecs=", ".join(lv.codecs) or "–",
            scale=format_tuple([_num(s) for s in lv.scale]) if lv.scale else "–",
        )
        for lv in d.resolutions
    )
    channels = tuple(
        ChannelRow(
            label=c.label or f"channel {i}",
            color=c.color if c.color and _HEX.match(c.color) else None,
            window=(f"{_num(c.window_start)} – {_num(c.window_end)}" if c.window_start is not None and c.window_end is not None else "–"),
            active=c.active,
        )
        for i, c in enumerate(d.channels)
    )
    plate = None
    if d.plate is not None:
        p = d.plate
        row_names = p.row_names or tuple(chr(65 + i) if i < 26 else str(i + 1) for i in range(p.rows))
        col_names = p.column_names or tuple(str(i + 1) for i in range(p.columns))
        present = {tuple(w.split("/")[:2]) for w in p.well_paths}
        plate = PlateMap(
            columns=tuple(col_names),
            rows=tuple((r, tuple((r, c) in present for c in col_names)) for r in row_names),
            wells=p.wells,
            fields=p.fields,
        )
    facts: list[tuple[str, str]] = [
        ("Kind", d.kind),
        ("Status", d.status),
        ("NGFF version", d.ngff_version or "–"),
        ("Zarr format", str(d.zarr_format) if d.zarr_format else "–"),
        ("Shape", format_tuple(shape) + (f"  ({' × '.join(names)})" if names else "")),
        ("Data type", d.level0.dtype if d.level0 and d.level0.dtype else "–"),
        ("Resolution levels", str(len(d.resolutions))),
        ("Size (written)", format_bytes(d.written_bytes) if d.written_bytes is not None else "not measured"),
        ("Size (uncompressed)", format_bytes(d.uncompressed_bytes) if d.uncompressed_bytes is not None else "not known"),
        ("Organism", term_label(d.organism) or "–"),
        ("Imaging modality", term_label(d.modality) or "–"),
        ("Source", d.source or "–"),
        ("Collection", d.collection or "–"),
        ("CORS", {True: "yes", False: "no"}.get(d.cors, "unknown")),
    ]
    if d.image_path:
        facts.append(("Image path", d.image_path))
    if d.series:
        facts.append(("Series", ", ".join(d.series[:20]) + (" …" if len(d.series) > 20 else "")))
    if d.labels:
        facts.append(("Labels", ", ".join(d.labels)))
    if d.first_seen:
        facts.append(("First seen", format_time(d.first_seen)))
    if d.last_ok:
        facts.append(("Last harvested", format_time(d.last_ok)))
    rocrate = tuple((str(k), _describe_value(v)) for k, v in (d.rocrate or {}).items())
    url_ok = safe_url(d.url)
    links: list[Link] = []
    if url_ok:
        quoted = quote_component(d.url)  # the validator and vizarr take the same ?source=
        links = [
            Link("OME-NGFF validator", VALIDATOR + quoted),
            Link("vizarr", VIZARR + quoted),
            Link("Neuroglancer", get_neuroglancer_url(d.url, name)),
        ]
    level_path = "/".join(p for p in (d.image_path, d.level0.path if d.level0 else "0") if p)
    snippets = (
        Snippet(
            "zarr-python",
            "zarr-python",
            f"import zarr\n\nroot = zarr.open_group({d.url!r}, mode=\"r\")\n"
            f"array = root[{level_path!r}]  # full resolution\nprint(array.shape, array.dtype)",
        ),
        Snippet(
            "ome-zarr-py",
            "ome-zarr-py",
            "from ome_zarr.io import parse_url\nfrom ome_zarr.reader import Reader\n\n"
            f"reader = Reader(parse_url({d.url!r}))\nimage = list(reader())[0]\n"
            "print(image.data[0].shape)  # dask array, full resolution",
        ),
        Snippet("napari", "napari", f"napari --plugin napari-ome-zarr {_shell_quote(d.url)}"),
    )
    thumb = d.thumbnail
    thumb_rel = (thumb.detail or thumb.card) if thumb else None
    tw, th = (thumb.width, thumb.height) if thumb else (512, 512)
    if thumb and thumb.detail and max(tw, th) > 0:
        # The detail rendition keeps the card's aspect ratio at a larger size.
        scale = 1024 / max(tw, th)
        tw, th = round(tw * scale), round(th * scale)
    license_href = safe_url(d.license)
    jsonld: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "name": name,
        "description": d.description or f"OME-Zarr {d.kind} ({format_tuple(shape)})",
        "identifier": d.url,
        "url": url_ok or None,
        "creator": {"@type": "Organization", "name": d.source} if d.source else None,
        "license": d.license or None,
        "includedInDataCatalog": {"@type": "DataCatalog", "name": catalog.title, "url": root},
        "distribution": [{"@type": "DataDownload", "contentUrl": url_ok, "encodingFormat": "application/x-ome-zarr"}]
        if url_ok
        else None,
        "dateModified": d.last_ok,
        "contentSize": format_bytes(d.written_bytes) if d.written_bytes else None,
    }
    return DatasetPage(
        title=catalog.title,
        root=root,
        id=dataset_id or d.id,
        name=name,
        url=d.url,
        href=url_ok,
        description=d.description,
        facts=tuple(facts),
        badges=get_badges(d),
        thumb_src=root + thumb_rel if thumb_rel else None,
        thumb_width=tw,
        thumb_height=th,
        axes=axes,
        levels=levels,
        channels=channels,
        plate=plate,
        errors=d.errors,
        warnings=d.warnings,
        rocrate=rocrate,
        listings=tuple((x.source or d.source, x.collection or d.collection, f"{x.file}:{x.line}") for x in d.listings),
        links=tuple(links),
        origin=safe_url(d.origin),
        license_href=license_href,
        license=d.license,
        snippets=snippets,
        jsonld=json_for_script({k: v for k, v in jsonld.items() if v is not None}),
        generated_at=catalog.generated_at,
    )


def _shell_quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def get_error_kind(d: Dataset) -> str:
    """Group label for the report: status plus the head of the first error."""
    if not d.errors:
        return d.status
    head = re.split(r"[:(]", d.errors[0], maxsplit=1)[0].strip()
    head = re.sub(r"https?://\S+", "URL", head)
    head = re.sub(r"\d+", "N", head)
    return f"{d.status}: {head[:80]}" if head else d.status


def get_report_page(catalog: Catalog) -> ReportPage:
    failing = [d for d in catalog.datasets if is_failure(d)]
    present = {d.id for d in catalog.datasets}
    by_source: dict[str, dict[str, list[ReportItem]]] = defaultdict(lambda: defaultdict(list))
    for d, gone in [(d, False) for d in failing] + [(d, True) for d in catalog.gone]:
        kind = ("gone: " if gone else "") + get_error_kind(d)
        by_source[d.source or "(no source)"][kind].append(
            ReportItem(
                id=d.id,
                name=display_name(d),
                url=d.url,
                status="gone" if gone else d.status,
                errors=d.errors,
                listings=tuple(f"{x.file}:{x.line}" for x in d.listings),
                has_page=d.id in present,
            )
        )
    sources = tuple(
        ReportSource(
            name=name,
            count=sum(len(v) for v in groups.values()),
            groups=tuple(ReportGroup(k, tuple(v)) for k, v in sorted(groups.items(), key=lambda kv: -len(kv[1]))),
        )
        for name, groups in sorted(by_source.items())
    )
    by_file: dict[str, list[RowError]] = defaultdict(list)
    for e in catalog.row_errors:
        by_file[e.file].append(e)
    return ReportPage(
        title=catalog.title,
        root="",
        generated_at=catalog.generated_at,
        sources=sources,
        row_errors=tuple((f, tuple(sorted(v, key=lambda e: e.line))) for f, v in sorted(by_file.items())),
        failing=len(failing) + len(catalog.gone),
    )


def get_report_json(catalog: Catalog) -> dict[str, Any]:
    def item(d: Dataset, status: str) -> dict[str, Any]:
        return {
            "id": d.id,
            "url": d.url,
            "source": d.source,
            "collection": d.collection,
            "status": status,
            "errors": list(d.errors),
            "warnings": list(d.warnings),
            "listings": [f"{x.file}:{x.line}" for x in d.listings],
        }

    return {
        "schema_version": 1,
        "generated_at": catalog.generated_at,
        "row_errors": [e.to_dict() for e in catalog.row_errors],
        "datasets": [item(d, d.status) for d in catalog.datasets if is_failure(d)]
        + [item(d, "gone") for d in catalog.gone],
    }


# --------------------------------------------------------------------------- exports


def get_catalog_json(catalog: Catalog, *, datasets: bool = True) -> dict[str, Any]:
    """The ``catalog.json`` document (``datasets=False``: all but the dataset list, which is last)."""
    doc: dict[str, Any] = {
        "schema_version": 1,
        "generated_at": catalog.generated_at,
        "title": catalog.title,
        "totals": get_totals(catalog.datasets),
        "sources": get_sources(catalog.datasets),
    }
    if datasets:
        doc["datasets"] = [d.to_dict() for d in catalog.datasets]
    return doc


def _join(values: Iterable[Any] | None) -> str:
    return ",".join(str(v) for v in values) if values else ""


def get_csv_row(d: Dataset) -> dict[str, str]:
    l0 = d.level0
    return {
        "url": d.url,
        "written": str(d.written_bytes) if d.written_bytes is not None else "",
        "shape": _join(d.shape),
        "shards": _join(l0.shards if l0 else None),
        "chunks": _join(l0.chunks if l0 else None),
        "dimension_names": _join(a.name for a in d.axes),
        "license": d.license or "",
        "name": d.name or "",
        "description": d.description or "",
        "organismId": d.organism.id if d.organism else "",
        "fbbiId": d.modality.id if d.modality else "",
        "origin": d.origin or "",
        "wells": str(d.plate.wells) if d.plate else "",
        "images": str(d.plate.wells * max(1, d.plate.fields)) if d.plate else "",
    }


class _Table:
    """Interns repeated strings so index.json stores small integers instead."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._ids: dict[Any, int] = {}

    def __call__(self, value: Any) -> int:
        if value is None or value == "":
            return -1
        i = self._ids.get(value)
        if i is None:
            i = self._ids[value] = len(self.values)
            self.values.append(value)
        return i


def get_search_index(datasets: Sequence[Dataset]) -> dict[str, Any]:
    """The compact, column-wise index assets/catalog.js searches, facets, sorts and draws cards from.

    Repeated strings (sources, collections, licenses, descriptions, URL
    prefixes ...) are interned in tables; columns hold table indices, so
    100,000 datasets stay a few megabytes.
    """
    sources, collections, licenses, organisms, modalities = _Table(), _Table(), _Table(), _Table(), _Table()
    versions, descriptions, prefixes, axes_t, thumbs = _Table(), _Table(), _Table(), _Table(), _Table()
    cols: dict[str, list[Any]] = {k: [] for k in (
        "id", "name", "up", "ub", "src", "col", "kind", "st", "ver", "zf", "lic", "org", "mod", "desc",
        "ax", "shape", "wb", "ubytes", "cpx", "spx", "cors", "thumb", "tw", "th", "origin",
    )}
    for d in datasets:
        l0 = d.level0
        prefix, _, base = d.url.rpartition("/")
        cols["id"].append(d.id)
        cols["name"].append(display_name(d))
        cols["up"].append(prefixes(prefix + "/") if prefix else -1)
        cols["ub"].append(base if prefix else d.url)
        s = sources(d.source)
        cols["src"].append(s)
        cols["col"].append(collections((s, d.collection)) if d.collection else -1)
        cols["kind"].append(KINDS.index(d.kind) if d.kind in KINDS else KINDS.index("unknown"))
        cols["st"].append(STATUSES.index(d.status) if d.status in STATUSES else 0)
        cols["ver"].append(versions(d.ngff_version))
        cols["zf"].append(d.zarr_format or 0)
        cols["lic"].append(licenses(d.license))
        cols["org"].append(organisms(term_label(d.organism)))
        cols["mod"].append(modalities(term_label(d.modality)))
        cols["desc"].append(descriptions(d.description.strip() if d.description else None))
        cols["ax"].append(axes_t(",".join(axis_names(d))) if d.shape else -1)
        cols["shape"].append(list(d.shape) if d.shape else 0)
        cols["wb"].append(d.written_bytes if d.written_bytes is not None else -1)
        cols["ubytes"].append(d.uncompressed_bytes if d.uncompressed_bytes is not None else -1)
        cols["cpx"].append(_product(l0.chunks) if l0 and l0.chunks else 0)
        cols["spx"].append(_product(l0.shards) if l0 and l0.shards else 0)
        cols["cors"].append({True: 1, False: 0}.get(d.cors, -1))
        t = d.thumbnail
        cols["thumb"].append(thumbs(t.card) if t else -1)
        cols["tw"].append(t.width if t else 0)
        cols["th"].append(t.height if t else 0)
        cols["origin"].append(safe_url(d.origin) or 0)
    return {
        "v": 1,
        "n": len(datasets),
        "page_size": PAGE_SIZE,
        "kinds": list(KINDS),
        "statuses": list(STATUSES),
        "t": {
            "source": sources.values,
            "collection": [list(v) for v in collections.values],
            "license": licenses.values,
            "organism": organisms.values,
            "modality": modalities.values,
            "version": versions.values,
            "desc": descriptions.values,
            "prefix": prefixes.values,
            "axes": axes_t.values,
            "thumb": thumbs.values,
        },
        "c": cols,
    }


def get_sitemaps(catalog: Catalog, site_url: str) -> dict[str, str]:
    """File name -> XML. ``site_url`` ends with "/" (absolute) or is "" (relative locations)."""
    from xml.sax.saxutils import escape

    locs = [site_url, f"{site_url}report.html", f"{site_url}about.html"] + [
        f"{site_url}datasets/{d.id}/" for d in catalog.datasets
    ]
    lastmod = catalog.generated_at[:10]

    def urlset(chunk: Sequence[str]) -> str:
        body = "".join(f"<url><loc>{escape(loc or './')}</loc><lastmod>{lastmod}</lastmod></url>\n" for loc in chunk)
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + body + "</urlset>\n"
        )

    if len(locs) <= SITEMAP_MAX:
        return {"sitemap.xml": urlset(locs)}
    files = {}
    for i in range(0, len(locs), SITEMAP_MAX):
        files[f"sitemap-{i // SITEMAP_MAX + 1}.xml"] = urlset(locs[i : i + SITEMAP_MAX])
    index = "".join(f"<sitemap><loc>{escape(site_url + name)}</loc><lastmod>{lastmod}</lastmod></sitemap>\n" for name in files)
    files["sitemap.xml"] = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + index + "</sitemapindex>\n"
    )
    return files


# --------------------------------------------------------------------------- writing


def make_environment(templates: Path | None = None) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(templates or get_resource_dir("templates"))),
        autoescape=select_autoescape(["html", "xml"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["CSP"] = CSP
    env.filters["bytes"] = format_bytes
    env.filters["count"] = format_count
    env.filters["plural"] = lambda n, word: word if n == 1 else word + "s"
    env.filters["time"] = format_time
    env.filters["safe_url"] = safe_url
    return env


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


# open/write/close and nothing else: pathlib and text wrappers cost as much as rendering.
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


_DETAIL_TEMPLATE: Any = None


def _detail_template() -> Any:
    global _DETAIL_TEMPLATE
    if _DETAIL_TEMPLATE is None:  # once per process, not per span of pages
        _DETAIL_TEMPLATE = make_environment().get_template("dataset.html")
    return _DETAIL_TEMPLATE


@dataclass(frozen=True)
class Chrome:
    """The head tags, header and footer every dataset page shares, rendered once
    from the partials base.html includes (jinja-escaped template output)."""

    head: Markup
    header: Markup
    footer: Markup


def get_chrome(env: Environment, *, root: str, title: str, generated_at: str) -> Chrome:
    page = {"root": root, "title": title, "generated_at": generated_at}
    return Chrome(*(Markup(env.get_template(f"_{part}.html").render(page=page)) for part in ("head", "header", "footer")))


def _write_pages(catalog: Catalog, out: Path, start: int, stop: int) -> int:
    template = _detail_template()
    render = partial(
        template.render,
        chrome=get_chrome(template.environment, root="../../", title=catalog.title, generated_at=catalog.generated_at),
    )
    # Paths relative to an open directory where the OS allows it: no walk from
    # "/" for each of 200,000 syscalls.
    folder = os.path.join(out, "datasets")
    relative = os.mkdir in os.supports_dir_fd and os.open in os.supports_dir_fd
    folder_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if relative else None
    prefix = "" if relative else folder + os.sep
    try:
        for d in catalog.datasets[start:stop]:
            dataset_id = d.id
            try:
                os.mkdir(prefix + dataset_id, dir_fd=folder_fd)
            except FileExistsError:
                pass
            data = render(page=get_dataset_page(d, catalog, dataset_id)).encode("utf-8")
            fd = os.open(prefix + dataset_id + "/index.html", _OPEN_FLAGS, 0o644, dir_fd=folder_fd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
    finally:
        if folder_fd is not None:
            os.close(folder_fd)
    return stop - start


_FORKED: tuple[Catalog, Path] | None = None


def _write_pages_forked(span: tuple[int, int]) -> int:
    assert _FORKED is not None
    return _write_pages(*_FORKED, *span)


def write_dataset_pages(
    catalog: Catalog, out: Path, *, workers: int | None = None, alongside: Callable[[], None] | None = None
) -> None:
    """One page per dataset under ``out/datasets/``.

    Past a few thousand pages, forked workers share the rendering (100,000
    pages are most of a large build's time) while this process runs
    ``alongside`` (the site's other files), so every core stays busy.
    """
    global _FORKED
    n = len(catalog.datasets)
    workers = workers or min(os.cpu_count() or 1, 8)
    if n < PARALLEL_MIN or workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        _write_pages(catalog, out, 0, n)
        if alongside is not None:
            alongside()
        return
    step = max(500, n // (workers * 8))
    spans = [(i, min(n, i + step)) for i in range(0, n, step)]
    _FORKED = (catalog, out)
    # Forked children inherit the catalog instead of receiving it pickled.
    # Freezing the GC first keeps a child's collections from touching (and so
    # copying) every inherited object: the parent's pages stay shared.
    gc.collect()
    gc.freeze()
    try:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            results = pool.map(_write_pages_forked, spans)
            if alongside is not None:
                alongside()
            done = sum(results)
    finally:
        _FORKED = None
        gc.unfreeze()
    if done != n:  # pragma: no cover
        raise RuntimeError(f"wrote {done} of {n} dataset pages")


def write_catalog_json(catalog: Catalog, path: Path) -> None:
    """``catalog.json``, byte for byte ``json.dumps(get_catalog_json(catalog))``, streamed:
    one dataset dict at a time instead of 100,000 dicts and a 130 MB string at once."""
    enc = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    head = get_catalog_json(catalog, datasets=False)
    datasets = catalog.datasets
    with open(path, "w", encoding="utf-8", buffering=1 << 20) as f:
        f.write(enc.encode(head)[:-1] + ',"datasets":[')
        for i in range(0, len(datasets), 1000):
            if i:
                f.write(",")
            f.write(",".join([enc.encode(d.to_dict()) for d in datasets[i : i + 1000]]))
        f.write("]}")


def write_site(catalog: Catalog, out: Path, *, site_url: str = "") -> None:
    """Write every page, export and asset of the site into ``out``.

    ``out/thumbnails`` is expected to be in place already. ``site_url`` (the
    absolute public URL, ending in "/") only makes sitemap locations absolute.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    assets = get_resource_dir("assets")
    env = make_environment()
    if site_url and not site_url.endswith("/"):
        site_url += "/"

    shutil.copytree(assets, out / "assets", dirs_exist_ok=True)
    _write(out / "index.html", env.get_template("index.html").render(page=get_index_page(catalog, out, assets)))
    (out / "datasets").mkdir(exist_ok=True)

    def write_the_rest() -> None:
        (out / "index.json").write_text(
            json.dumps(get_search_index(catalog.datasets), ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
        )
        _write(out / "report.html", env.get_template("report.html").render(page=get_report_page(catalog)))
        _write(out / "report.json", json.dumps(get_report_json(catalog), ensure_ascii=False, indent=1))
        _write(
            out / "about.html",
            env.get_template("about.html").render(
                page=AboutPage(catalog.title, "", catalog.generated_at, catalog.csv_files, get_summary(catalog.datasets))
            ),
        )
        write_catalog_json(catalog, out / "catalog.json")
        with open(out / "catalog.csv", "w", encoding="utf-8", newline="", buffering=1 << 20) as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            # get_csv_row's keys are CSV_COLUMNS in order; a plain writer skips DictWriter's per-row key check.
            writer.writerows([*get_csv_row(d).values()] for d in catalog.datasets)
        for name, xml in get_sitemaps(catalog, site_url).items():
            _write(out / name, xml)

    write_dataset_pages(catalog, out, alongside=write_the_rest)
