"""The machine-readable outputs: catalog.json, catalog.csv, sitemaps (index.json: search_index.py)."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Sequence

from generator.records import Catalog, Dataset
from generator.site.format import is_failure

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
