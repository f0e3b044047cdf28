"""Writes the site: templates rendered from page contexts, dataset pages in worker processes."""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

import generator
from generator.config import SPAN
from generator.lock import die_with_parent
from generator.readonly import ReadOnlyDict
from generator.records import Catalog, Dataset
from generator.site.assets import INLINE_THUMBNAILS, read_site_assets
from generator.site.budget import BudgetReport
from generator.site.dataset_view import get_dataset_page
from generator.site.exports import (
    CatalogJson,
    JsonEntries,
    Sitemaps,
    get_catalog_json,
    get_csv_rows,
    get_json_entries,
)
from generator.site.folder import Folder
from generator.site.format import CSP, format_bytes, format_count, format_time, safe_url
from generator.site.markup import format_rows
from generator.site.report import get_report_json, get_report_page
from generator.site.search_shards import SearchShards
from generator.site.tally import Tally
from generator.site.views import get_about_page, get_index_page

PARALLEL_MIN = 4000  # dataset pages below which forking workers costs more than it saves


def get_resource_dir(name: str) -> Path:
    """``templates`` or ``assets``: inside the package in a wheel, at the repo root in a checkout."""
    packaged = Path(generator.__file__).parent / name
    if packaged.is_dir():
        return packaged
    return Path(generator.__file__).resolve().parent.parent / name


def make_environment(templates: Path | None = None) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(templates or get_resource_dir("templates"))),
        autoescape=select_autoescape(["html", "xml"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        # A build's templates do not change while it runs: no stat of each
        # imported template per page (100,000 of them).
        auto_reload=False,
    )
    env.globals["CSP"] = CSP
    env.filters["bytes"] = format_bytes
    env.filters["count"] = format_count
    env.filters["plural"] = lambda n, word: word if n == 1 else word + "s"
    env.filters["time"] = format_time
    env.filters["safe_url"] = safe_url
    env.filters["rows"] = format_rows
    return env


@dataclass(frozen=True)
class Chrome:
    """What every dataset page shares, made once per build: the head tags, header
    and footer rendered from the partials base.html includes (jinja-escaped
    template output), and ``_macros.html``'s row patterns and macros."""

    head: Markup
    header: Markup
    footer: Markup
    macros: Any


def get_chrome(env: Environment, *, root: str, title: str, generated_at: str) -> Chrome:
    page = {"root": root, "title": title, "generated_at": generated_at}
    parts = (Markup(env.get_template(f"_{part}.html").render(page=page)) for part in ("head", "header", "footer"))
    return Chrome(*parts, macros=env.get_template("_macros.html").module)


@dataclass(frozen=True)
class SpanWritten:
    """What writing one span's pages hands back: the pages' bytes, and the span's
    ``catalog.json`` entries and ``catalog.csv`` rows, made beside the pages (in a
    forked page writer) and encoded, so the writing process only appends them."""

    page_bytes: int
    json_entries: JsonEntries
    csv_rows: bytes


@dataclass(frozen=True)
class Written:
    """Folders of a written site and their (files, bytes), counted as they were
    written, and the records' counts (``Tally``), counted as they passed."""

    folders: Mapping[str, tuple[int, int]]
    tally: Tally


def iter_spans(datasets: Sequence[Dataset] | Any, size: int = SPAN) -> Iterator[Sequence[Dataset]]:
    """The records a span at a time: a stream's own spans (``spans()``), else slices."""
    spans = getattr(datasets, "spans", None)
    if spans is not None:
        yield from spans()
        return
    for start in range(0, len(datasets), size):
        yield datasets[start : start + size]


class SiteWriter:
    """Writes one catalog's site into ``out``, in one pass over its records.

    The records may be held in memory or stream from disk a span at a time
    (``Catalog.datasets`` with a ``spans()`` method): each span's pages, and its
    ``catalog.json`` entries and ``catalog.csv`` rows, are made by a forked process
    while this one adds the span to everything that needs the catalog's order or
    all of it (search index, sitemaps, counts), then lets it go. The
    writer holds what every page shares (the jinja environment, the compiled
    dataset template and its chrome), so nothing lives at module level; a
    forked page writer inherits the writer and its span instead of
    receiving them pickled.
    """

    def __init__(self, catalog: Catalog, out: Path, *, site_url: str = "", workers: int | None = None,
                 inline_thumbnails: int = INLINE_THUMBNAILS, templates: Path | None = None,
                 assets: Path | None = None, parallel_min: int | None = None,
                 compress_exports: bool = False, budget: BudgetReport | None = None,
                 place: Callable[[Sequence[Dataset]], None] | None = None) -> None:
        self.catalog = catalog
        self.out = Path(out)
        self.site_url = site_url + "/" if site_url and not site_url.endswith("/") else site_url
        self.workers = workers or min(os.cpu_count() or 1, 8)
        self.inline_thumbnails = inline_thumbnails
        self.parallel_min = PARALLEL_MIN if parallel_min is None else parallel_min  # read when called
        self.compress_exports = compress_exports  # catalog.json's parts gzip-compressed (the size budget)
        self.budget = budget  # the size figures report.html shows
        self.place = place  # puts a span's thumbnail files into the site, before its pages
        self.assets_dir = assets or get_resource_dir("assets")
        self.env = make_environment(templates)
        self.detail = self.env.get_template("dataset.html")
        self.chrome = get_chrome(self.env, root="../../", title=catalog.title, generated_at=catalog.generated_at)

    def write(self) -> Written:
        """Every page, export and asset; what the dataset pages weigh, counted as they
        were written, and the records' counts. ``out/thumbnails`` is expected in place,
        or each span's files are put there by ``place``."""
        self.out.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.assets_dir, self.out / "assets", dirs_exist_ok=True)
        (self.out / "datasets").mkdir(exist_ok=True)
        pages = PageWriters(self, len(self.catalog.datasets))
        try:
            tally = self.write_records(pages)
        finally:
            pages.stop()
        self.write_summaries(tally)
        return Written(ReadOnlyDict({"datasets": (tally.datasets, pages.size)}), tally)

    def write_records(self, pages: PageWriters) -> Tally:
        """The one pass: each span's pages handed to ``pages`` (which also encode its
        ``catalog.json`` and ``catalog.csv`` rows, appended here as each span is done, in
        order), the span added to the search index, sitemaps and counts. The cycle collector
        is held off meanwhile: it would traverse, and so copy, the objects the forked
        writers share with this process."""
        catalog = self.catalog
        tally = Tally(catalog.gone)
        search = SearchShards(self.out, fs_lock=pages.fs_lock)
        exports = CatalogJson(self.out / "catalog.json", compress=self.compress_exports)
        sitemaps = Sitemaps(self.out, self.site_url, catalog.generated_at)
        enabled = gc.isenabled()
        gc.disable()
        try:
            with open(self.out / "catalog.csv", "wb", buffering=1 << 20) as f:
                f.write(get_csv_rows((), header=True))

                def append(spans: list[SpanWritten]) -> None:
                    for written in spans:
                        exports.add_entries(written.json_entries)
                        f.write(written.csv_rows)

                for span in iter_spans(catalog.datasets):
                    # Each id (a hash of the URL) is made once, here, before the span's writer
                    # forks: it and the passes below find it in get_dataset_id's cache.
                    ids = [d.id for d in span]
                    if self.place is not None:
                        self.place(span)
                    append(pages.submit(span))
                    tally.add(span)
                    search.add(span)
                    sitemaps.add(ids)
                search.close()
                append(pages.finish())
            exports.close(get_catalog_json(catalog, datasets=False, tally=tally))
            sitemaps.close()
        except BaseException:
            exports.abandon()
            raise
        finally:
            if enabled:
                gc.enable()
        return tally

    def write_summaries(self, tally: Tally) -> None:
        """index.html, about.html and the reports: pages of the whole catalog's counts."""
        catalog = self.catalog
        assets = read_site_assets(catalog, self.out, self.assets_dir, inline_thumbnails=self.inline_thumbnails, tally=tally)
        self._write_text("index.html", self.render("index.html", get_index_page(catalog, assets, tally)))
        self._write_text("about.html", self.render("about.html", get_about_page(catalog, tally)))
        self.write_reports(tally)

    def render(self, template: str, page: Any) -> str:
        return self.env.get_template(template).render(page=page)

    def _write_text(self, name: str, text: str) -> None:
        (self.out / name).write_text(text, encoding="utf-8")

    def write_reports(self, tally: Tally) -> None:
        """report.html and report.json (again, once the site's size is measured)."""
        catalog = self.catalog
        self._write_text("report.html", self.render("report.html", get_report_page(catalog, self.budget, tally)))
        self._write_text("report.json", json.dumps(get_report_json(catalog, self.budget, tally), ensure_ascii=False, indent=1))

    def write_pages(self, span: Sequence[Dataset], fs_lock: Any = None) -> int:
        """The dataset pages of ``span``; returns their bytes.
        ``fs_lock``: the lock the site's writing processes share (see ``Folder``)."""
        catalog = self.catalog
        render = partial(self.detail.render, chrome=self.chrome)
        folder = Folder(os.path.join(self.out, "datasets"), fs_lock)
        try:
            for d in span:
                folder.write_bytes("index.html", render(page=get_dataset_page(d, catalog)).encode("utf-8"), inside=d.id)
        finally:
            folder.close()
        return folder.bytes

    def write_span(self, span: Sequence[Dataset], fs_lock: Any = None) -> SpanWritten:
        """The pages of ``span``, and its ``catalog.json`` entries and ``catalog.csv`` rows."""
        page_bytes = self.write_pages(span, fs_lock)
        return SpanWritten(page_bytes, get_json_entries(span), get_csv_rows(span))


def get_scratch_file(near: Path) -> Any:
    """A file for a forked page writer's hand-back (a span's exports, ~10 MB): in memory
    where the OS has ``memfd_create``, so the ~1.7 GB a 1,000,000-row build hands back
    is never written to disk; else an unnamed file in ``near``."""
    if hasattr(os, "memfd_create"):
        return open(os.memfd_create("ngff-catalog-span", os.MFD_CLOEXEC), "w+b")
    return tempfile.TemporaryFile(dir=near)


class PageWriters:
    """Writes the spans it is given (``SiteWriter.write_span``) and returns what each gave
    back, in the order they were given, as they finish: in this process for a small catalog,
    else each span in a forked process (at most ``writer.workers`` at once), so the
    pages (most of a large build's time) are rendered while the writing process goes
    on with the span's other outputs and the next span. A forked writer leaves what it
    gave back in a scratch file the two processes share (``get_scratch_file``). Forked,
    so use it outside any event loop."""

    def __init__(self, writer: SiteWriter, n: int) -> None:
        self.writer = writer
        self.forked = n >= writer.parallel_min and writer.workers >= 2 and "fork" in multiprocessing.get_all_start_methods()
        self.size = 0
        self.running: list[tuple[Any, Any, int]] = []  # (process, its scratch file, its span's length)
        # Scratch files no writer holds, reused from span to span: made and freed per span,
        # the on-disk fallback would leave freed inodes that this disk's ext4 (no journal)
        # steps over for minutes (bench_scale.py).
        self.spare: list[Any] = []
        if self.forked:
            self.ctx = multiprocessing.get_context("fork")
            self.fs_lock: Any = self.ctx.Lock()
        else:
            self.fs_lock = None

    def submit(self, span: Sequence[Dataset]) -> list[SpanWritten]:
        """Starts on ``span``; the spans given before it that are done."""
        if not self.forked:
            return [self._take(self.writer.write_span(span))]
        finished = []
        while len(self.running) >= self.writer.workers:
            finished.append(self._reap(*self.running.pop(0)))
        scratch = self.spare.pop() if self.spare else get_scratch_file(self.writer.out)
        scratch.seek(0)
        scratch.truncate()
        p = self.ctx.Process(target=self._work, args=(os.getpid(), span, scratch.fileno()), daemon=True)
        try:
            p.start()
        except BaseException:
            scratch.close()
            raise
        self.running.append((p, scratch, len(span)))
        return finished

    def _take(self, written: SpanWritten) -> SpanWritten:
        self.size += written.page_bytes
        return written

    def _reap(self, p: Any, scratch: Any, n: int) -> SpanWritten:
        self.spare.append(scratch)
        p.join()
        if p.exitcode:
            raise RuntimeError(f"a dataset page writer failed (exit code {p.exitcode})")
        scratch.seek(0)
        written = pickle.load(scratch)
        if len(written.json_entries) != n:
            raise RuntimeError(f"a dataset page writer handed back {len(written.json_entries)} of {n} records")
        return self._take(written)

    def _work(self, parent: int, span: Sequence[Dataset], fd: int) -> None:
        # A writer must not outlive a killed build: it would hold the build's locks.
        die_with_parent(parent)
        # Its own collections must not touch (and so copy) what it shares with the parent.
        gc.freeze()
        written = self.writer.write_span(span, self.fs_lock)
        with open(os.dup(fd), "wb") as f:
            pickle.dump(written, f, protocol=pickle.HIGHEST_PROTOCOL)

    def finish(self) -> list[SpanWritten]:
        """Waits for every writer; what those still running gave back."""
        return [self._reap(*self.running.pop(0)) for _ in range(len(self.running))]

    def stop(self) -> None:
        """Ends the writers still running (the build failed) and closes the scratch files."""
        for p, scratch, _ in self.running:
            p.kill()
            p.join()
            scratch.close()
        self.running = []
        for scratch in self.spare:
            scratch.close()
        self.spare = []


def write_site(catalog: Catalog, out: Path, *, site_url: str = "", compress_exports: bool = False,
               place: Callable[[Sequence[Dataset]], None] | None = None) -> Written:
    """Write every page, export and asset of the site into ``out``.

    ``out/thumbnails`` is expected to be in place already. ``site_url`` (the
    absolute public URL, ending in "/") only makes sitemap locations absolute.
    Synchronous, and to be called outside any event loop: the dataset pages
    may be written by forked worker processes. Returns what the dataset pages
    weigh, so measuring the site need not walk 100,000 folders again. ``place``
    puts each span's thumbnail files into ``out/thumbnails`` before its pages.
    """
    return SiteWriter(catalog, out, site_url=site_url, compress_exports=compress_exports, place=place).write()
