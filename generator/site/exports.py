"""The machine-readable outputs: catalog.json, catalog.csv, sitemaps (index.json: search_index.py)."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import re
import shutil
import os
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from generator.records import Catalog, Dataset
from generator.site.tally import Tally, tally_datasets

SITEMAP_MAX = 50_000  # URLs per sitemap file, per sitemaps.org


CSV_COLUMNS = (
    "url", "written", "shape", "shards", "chunks", "dimension_names", "license", "name",
    "description", "organismId", "fbbiId", "origin", "wells", "images",
)


def get_catalog_json(catalog: Catalog, *, datasets: bool = True, tally: Tally | None = None) -> dict[str, Any]:
    """The ``catalog.json`` document (``datasets=False``: all but the dataset list, which is
    last; ``tally``: the records' counts, when they were counted as they passed)."""
    tally = tally or tally_datasets(catalog.datasets)
    doc: dict[str, Any] = {
        "schema_version": 1,
        "generated_at": catalog.generated_at,
        "title": catalog.title,
        "totals": tally.get_totals(),
        "sources": tally.get_sources(),
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


def get_csv_rows(records: Iterable[Dataset], *, header: bool = False) -> bytes:
    """The ``catalog.csv`` rows of ``records`` (after its header, with ``header``), UTF-8."""
    text = io.StringIO(newline="")
    rows = csv.writer(text)
    if header:
        rows.writerow(CSV_COLUMNS)
    # get_csv_row's keys are CSV_COLUMNS in order; a plain writer skips DictWriter's per-row key check.
    rows.writerows([*get_csv_row(d).values()] for d in records)
    return text.getvalue().encode("utf-8")


def _urlset(locs: Sequence[str], lastmod: str) -> str:
    from xml.sax.saxutils import escape

    body = "".join(f"<url><loc>{escape(loc or './')}</loc><lastmod>{lastmod}</lastmod></url>\n" for loc in locs)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + body + "</urlset>\n"
    )


class Sitemaps:
    """The sitemaps of ``site``, written as the records pass: ``sitemap.xml`` alone up to
    ``SITEMAP_MAX`` URLs, else ``sitemap-1.xml``, ``sitemap-2.xml``, ... and ``sitemap.xml``
    indexing them. ``site_url`` ends with "/" (absolute) or is "" (relative locations)."""

    def __init__(self, site: Path, site_url: str, generated_at: str) -> None:
        self.site, self.site_url, self.lastmod = site, site_url, generated_at[:10]
        self.locs = [site_url, f"{site_url}report.html", f"{site_url}about.html"]
        self.files: list[str] = []

    def add(self, ids: Iterable[str]) -> None:
        """The pages of the records with these ids (``Dataset.id``), in catalog order."""
        prefix = f"{self.site_url}datasets/"
        self.locs.extend([f"{prefix}{i}/" for i in ids])
        while len(self.locs) > SITEMAP_MAX:
            self._write_part(self.locs[:SITEMAP_MAX])
            del self.locs[:SITEMAP_MAX]

    def _write_part(self, locs: Sequence[str]) -> None:
        self.files.append(f"sitemap-{len(self.files) + 1}.xml")
        (self.site / self.files[-1]).write_text(_urlset(locs, self.lastmod), encoding="utf-8")

    def close(self) -> list[str]:
        """Writes what is left and the index; returns the file names."""
        from xml.sax.saxutils import escape

        if not self.files:
            (self.site / "sitemap.xml").write_text(_urlset(self.locs, self.lastmod), encoding="utf-8")
            return ["sitemap.xml"]
        if self.locs:
            self._write_part(self.locs)
        index = "".join(f"<sitemap><loc>{escape(self.site_url + name)}</loc><lastmod>{self.lastmod}</lastmod></sitemap>\n"
                        for name in self.files)
        (self.site / "sitemap.xml").write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + index + "</sitemapindex>\n",
            encoding="utf-8",
        )
        return [*self.files, "sitemap.xml"]


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


@dataclass(frozen=True)
class JsonEntries:
    """Records' entries in ``catalog.json``'s dataset list, encoded: their UTF-8 text
    joined by commas, and where each ends in it. Bytes, not a string per record: a
    forked page writer hands a span's back to the writing process, which only cuts
    them into the file's batches and writes them."""

    text: bytes
    ends: array  # per entry, the offset in ``text`` just past it

    def __len__(self) -> int:
        return len(self.ends)


def get_json_entries(records: Iterable[Dataset]) -> JsonEntries:
    """Each record's entry in ``catalog.json``'s dataset list, encoded."""
    encode = _JSON.encode
    entries = [encode(d.to_dict()).encode("utf-8") for d in records]
    ends = array("q", itertools.accumulate((len(e) + 1 for e in entries), initial=-1))
    del ends[0]
    return JsonEntries(b",".join(entries), ends)


def _open_part(path: Path, compress: bool) -> Any:
    if compress:
        # mtime 0: the same catalog gives the same bytes (publish compares content hashes).
        return gzip.GzipFile(path, "wb", compresslevel=6, mtime=0)
    return open(path, "wb", buffering=1 << 20)


class CatalogJson:
    """``catalog.json``, written as the records pass, byte for byte
    ``json.dumps(get_catalog_json(catalog))`` while it stays under ``part_bytes``:
    one dataset dict at a time instead of 100,000 dicts and a 130 MB string at once.
    Past ``part_bytes`` the datasets that follow go to ``catalog-2.json``,
    ``catalog-3.json``, ... (gzip-compressed with ``compress``), each
    ``{"schema_version": 1, "part": N, "datasets": [...]}``, and ``catalog.json``
    ends with ``"parts": [names]``. The head (totals, sources) comes first but is
    known last: the first part's datasets wait in a scratch file beside it.
    The records come as they are (``add``) or already encoded (``add_entries``,
    ``get_json_entries``: a forked page writer encodes its span's)."""

    def __init__(self, path: Path, *, part_bytes: int = PART_BYTES, compress: bool = False, batch: int = 1000) -> None:
        self.path, self.part_bytes, self.compress, self.batch = path, part_bytes, compress, batch
        self.enc = _JSON
        self.scratch = path.with_name(f".{path.name}.{os.getpid()}.datasets")
        self.first_part = open(self.scratch, "wb", buffering=1 << 20)
        self.f = self.first_part
        self.written, self.first = 0, True  # bytes of datasets in the part being written
        self.limit = min(part_bytes, COMPRESSED_HEAD_BYTES) if compress else part_bytes
        self.parts: list[str] = []
        self.pending: list[memoryview] = []  # runs of the batch being gathered, each entries joined by commas
        self.pending_count = 0

    def add(self, records: Iterable[Dataset]) -> None:
        it = iter(records)
        while batch := list(itertools.islice(it, self.batch)):  # a batch's entries at a time
            self.add_entries(get_json_entries(batch))

    def add_entries(self, entries: JsonEntries) -> None:
        """Records' entries in the dataset list, encoded (``get_json_entries``)."""
        text, ends = memoryview(entries.text), entries.ends
        start = 0
        while start < len(ends):
            stop = min(start + self.batch - self.pending_count, len(ends))
            self.pending.append(text[ends[start - 1] + 1 if start else 0 : ends[stop - 1]])
            self.pending_count += stop - start
            start = stop
            if self.pending_count == self.batch:
                self._write_batch()

    def _write_batch(self) -> None:
        # Parts are cut between batches, as the one-shot writer always cut them.
        if self.written >= self.limit:
            self.limit = self.part_bytes
            self._end_part()
            self.parts.append(get_part_name(len(self.parts) + 2, compress=self.compress))
            self.f = _open_part(self.path.parent / self.parts[-1], self.compress)
            self.f.write(b'{"schema_version":1,"part":%d,"datasets":[' % (len(self.parts) + 1))
            self.written, self.first = 0, True
        write = self.f.write
        if not self.first:
            write(b",")
        for i, run in enumerate(self.pending):
            if i:
                write(b",")
            write(run)
        self.written += sum(map(len, self.pending)) + len(self.pending) - 1  # the batch, its runs joined
        self.first = False
        self.pending, self.pending_count = [], 0

    def _end_part(self) -> None:
        if self.f is not self.first_part:
            self.f.write(b"]}")
            self.f.close()

    def close(self, head: dict[str, Any]) -> list[str]:
        """``catalog.json`` itself, ``head`` (``get_catalog_json(..., datasets=False)``) first; the part names."""
        try:
            if self.pending:
                self._write_batch()
            self._end_part()
            self.first_part.close()
            with open(self.path, "wb", buffering=1 << 20) as main, open(self.scratch, "rb") as datasets:
                main.write((self.enc.encode(head)[:-1] + ',"datasets":[').encode("utf-8"))
                shutil.copyfileobj(datasets, main, 1 << 20)
                main.write(("]" + (',"parts":' + self.enc.encode(self.parts) if self.parts else "") + "}").encode("utf-8"))
        finally:
            self.abandon()
        return self.parts

    def abandon(self) -> None:
        """Close and remove the scratch file (a build that failed midway)."""
        if not self.f.closed and self.f is not self.first_part:
            self.f.close()
        self.first_part.close()
        self.scratch.unlink(missing_ok=True)


def write_catalog_json(catalog: Catalog, path: Path, *, part_bytes: int = PART_BYTES, compress: bool = False,
                       batch: int = 1000) -> list[str]:
    """``catalog.json`` of records held in memory (see ``CatalogJson``); returns the part names."""
    writer = CatalogJson(path, part_bytes=part_bytes, compress=compress, batch=batch)
    try:
        writer.add(catalog.datasets)
    except BaseException:
        writer.abandon()
        raise
    return writer.close(get_catalog_json(catalog, datasets=False))


def compress_file(path: Path) -> Path:
    """``path`` gzip-compressed to ``path.gz`` (deterministic bytes), the original removed."""
    gz = path.with_name(path.name + ".gz")
    with open(path, "rb") as src, gzip.GzipFile(gz, "wb", compresslevel=6, mtime=0) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    path.unlink()
    return gz
