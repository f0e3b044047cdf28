"""The machine-readable outputs: catalog.json, catalog.csv, sitemaps (index.json: search_index.py)."""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
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
    # Most cells start with no formula character: only those are looked at again.
    return {k: safe_csv_cell(v) if v.startswith(FORMULA_START) else v for k, v in row.items()}


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


# catalog.json is split into parts past this size: GitHub refuses files over
# 100 MB and warns past 50 MB; a part stays easy to load in a browser or a notebook.
PART_BYTES = 40 * 1024 * 1024
# Compressed, catalog.json keeps this much (its head and first datasets, readable
# as it always was); the rest goes to gzip parts.
COMPRESSED_HEAD_BYTES = 1024 * 1024


def get_part_name(n: int, *, compress: bool = False) -> str:
    """``catalog-2.json`` (part 1 is ``catalog.json`` itself), ``.json.gz`` when compressed."""
    return f"catalog-{n}.json" + (".gz" if compress else "")


# Records are trees (frozen, built from CSV cells and parsed JSON): no cycle to
# look for, and the encoder's per-object bookkeeping of them is a tenth of its time.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def _open_part(path: Path, compress: bool) -> Any:
    if compress:
        # mtime 0: the same catalog gives the same bytes (publish compares content hashes).
        return io.TextIOWrapper(gzip.GzipFile(path, "wb", compresslevel=6, mtime=0), encoding="utf-8")
    return open(path, "w", encoding="utf-8", buffering=1 << 20)


def write_catalog_json(catalog: Catalog, path: Path, *, part_bytes: int = PART_BYTES, compress: bool = False,
                       batch: int = 1000) -> list[str]:
    """``catalog.json``, byte for byte ``json.dumps(get_catalog_json(catalog))`` while it
    stays under ``part_bytes``, streamed: one dataset dict at a time instead of
    100,000 dicts and a 130 MB string at once. Past ``part_bytes`` the datasets
    that follow go to ``catalog-2.json``, ``catalog-3.json``, ... (gzip-compressed
    with ``compress``), each ``{"schema_version": 1, "part": N, "datasets": [...]}``,
    and ``catalog.json`` ends with ``"parts": [names]``. Returns the part names."""
    enc = _JSON
    head = get_catalog_json(catalog, datasets=False)
    datasets = catalog.datasets
    parts: list[str] = []
    with open(path, "w", encoding="utf-8", buffering=1 << 20) as main:
        main.write(enc.encode(head)[:-1] + ',"datasets":[')
        f, written, first = main, 0, True
        limit = min(part_bytes, COMPRESSED_HEAD_BYTES) if compress else part_bytes
        try:
            for i in range(0, len(datasets), batch):
                if written >= limit:
                    limit = part_bytes
                    if f is not main:
                        f.write("]}")
                        f.close()
                    parts.append(get_part_name(len(parts) + 2, compress=compress))
                    f = _open_part(path.parent / parts[-1], compress)
                    f.write(f'{{"schema_version":1,"part":{len(parts) + 1},"datasets":[')
                    written, first = 0, True
                text = ",".join([enc.encode(d.to_dict()) for d in datasets[i : i + batch]])
                f.write(text if first else "," + text)
                written += len(text)
                first = False
        finally:
            if f is not main:
                f.write("]}")
                f.close()
        main.write("]" + (',"parts":' + enc.encode(parts) if parts else "") + "}")
    return parts


def compress_file(path: Path) -> Path:
    """``path`` gzip-compressed to ``path.gz`` (deterministic bytes), the original removed."""
    gz = path.with_name(path.name + ".gz")
    with open(path, "rb") as src, gzip.GzipFile(gz, "wb", compresslevel=6, mtime=0) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    path.unlink()
    return gz
