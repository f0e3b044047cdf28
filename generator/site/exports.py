"""The machine-readable outputs: catalog.json, catalog.csv, index.json, sitemaps."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Sequence

from generator.records import KINDS, STATUSES, Catalog, Dataset
from generator.site.format import (
    PAGE_SIZE,
    _product,
    axis_names,
    display_name,
    is_failure,
    safe_url,
    term_label,
)

SITEMAP_MAX = 50_000  # URLs per sitemap file, per sitemaps.org


CSV_COLUMNS = (
    "url", "written", "shape", "shards", "chunks", "dimension_names", "license", "name",
    "description", "organismId", "fbbiId", "origin", "wells", "images",
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


# A spreadsheet reads a cell starting with one of these as a formula
# (OWASP, "CSV Injection"); such a cell gets a leading "'", which makes it text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A number stays a number: "-1.5" or "+3" is data, not a formula.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def safe_csv_cell(value: str) -> str:
    """``value`` as a ``catalog.csv`` cell that no spreadsheet evaluates."""
    if value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def _join(values: Iterable[Any] | None) -> str:
    return ",".join(str(v) for v in values) if values else ""


def get_csv_row(d: Dataset) -> dict[str, str]:
    """One ``catalog.csv`` row; every cell safe to open in a spreadsheet (``safe_csv_cell``)."""
    l0 = d.level0
    row = {
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
    return {k: safe_csv_cell(v) for k, v in row.items()}


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
