"""Writes the site: templates rendered from page contexts, dataset pages in worker processes."""

from __future__ import annotations

import csv
import gc
import json
import multiprocessing
import os
import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

import generator
from generator.lock import die_with_parent
from generator.readonly import ReadOnlyDict
from generator.records import Catalog
from generator.site.assets import INLINE_THUMBNAILS, read_site_assets
from generator.site.budget import BudgetReport
from generator.site.dataset_view import get_dataset_page
from generator.site.exports import (
    CSV_COLUMNS,
    get_csv_row,
    get_sitemaps,
    write_catalog_json,
)
from generator.site.folder import Folder
from generator.site.format import CSP, format_bytes, format_count, format_time, safe_url
from generator.site.markup import format_rows
from generator.site.report import get_report_json, get_report_page
from generator.site.search_shards import write_search_shards
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
    """The head tags, header and footer every dataset page shares, rendered once
    from the partials base.html includes (jinja-escaped template output)."""

    head: Markup
    header: Markup
    footer: Markup


def get_chrome(env: Environment, *, root: str, title: str, generated_at: str) -> Chrome:
    page = {"root": root, "title": title, "generated_at": generated_at}
    return Chrome(*(Markup(env.get_template(f"_{part}.html").render(page=page)) for part in ("head", "header", "footer")))


@dataclass(frozen=True)
class Written:
    """Folders of a written site and their (files, bytes), counted as they were written."""

    folders: Mapping[str, tuple[int, int]]


class SiteWriter:
    """Writes one catalog's site into ``out``.

    It holds what every page shares (the jinja environment, the compiled
    dataset template and its chrome), so nothing lives at module level; forked
    page writers inherit the writer, catalog included, instead of receiving
    it pickled.
    """

    def __init__(self, catalog: Catalog, out: Path, *, site_url: str = "", workers: int | None = None,
                 inline_thumbnails: int = INLINE_THUMBNAILS, templates: Path | None = None,
                 assets: Path | None = None, parallel_min: int = PARALLEL_MIN,
                 compress_exports: bool = False, budget: BudgetReport | None = None) -> None:
        self.catalog = catalog
        self.out = Path(out)
        self.site_url = site_url + "/" if site_url and not site_url.endswith("/") else site_url
        self.workers = workers or min(os.cpu_count() or 1, 8)
        self.inline_thumbnails = inline_thumbnails
        self.parallel_min = parallel_min
        self.compress_exports = compress_exports  # catalog.json's parts gzip-compressed (the size budget)
        self.budget = budget  # the size figures report.html shows
        self.assets_dir = assets or get_resource_dir("assets")
        self.env = make_environment(templates)
        self.detail = self.env.get_template("dataset.html")
        self.chrome = get_chrome(self.env, root="../../", title=catalog.title, generated_at=catalog.generated_at)

    def write(self) -> Written:
        """Every page, export and asset (``out/thumbnails`` is expected in place); what
        the dataset pages weigh, counted as they were written."""
        self.out.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.assets_dir, self.out / "assets", dirs_exist_ok=True)
        assets = read_site_assets(self.catalog, self.out, self.assets_dir, inline_thumbnails=self.inline_thumbnails)
        self._write_text("index.html", self.render("index.html", get_index_page(self.catalog, assets)))
        (self.out / "datasets").mkdir(exist_ok=True)
        return self.write_dataset_pages(alongside=self.write_the_rest)

    def render(self, template: str, page: Any) -> str:
        return self.env.get_template(template).render(page=page)

    def _write_text(self, name: str, text: str) -> None:
        (self.out / name).write_text(text, encoding="utf-8")

    def write_the_rest(self, fs_lock: Any = None) -> None:
        """Everything but index.html and the dataset pages (``fs_lock``: see ``Folder``)."""
        catalog = self.catalog
        write_search_shards(catalog.datasets, self.out, fs_lock=fs_lock)
        self.write_reports()
        self._write_text("about.html", self.render("about.html", get_about_page(catalog)))
        write_catalog_json(catalog, self.out / "catalog.json", compress=self.compress_exports)
        with open(self.out / "catalog.csv", "w", encoding="utf-8", newline="", buffering=1 << 20) as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            # get_csv_row's keys are CSV_COLUMNS in order; a plain writer skips DictWriter's per-row key check.
            writer.writerows([*get_csv_row(d).values()] for d in catalog.datasets)
        for name, xml in get_sitemaps(catalog, self.site_url).items():
            self._write_text(name, xml)

    def write_reports(self) -> None:
        """report.html and report.json (again, once the site's size is measured)."""
        catalog = self.catalog
        self._write_text("report.html", self.render("report.html", get_report_page(catalog, self.budget)))
        self._write_text("report.json", json.dumps(get_report_json(catalog, self.budget), ensure_ascii=False, indent=1))

    def write_pages(self, start: int, stop: int, fs_lock: Any = None) -> int:
        """Dataset pages ``start`` to ``stop`` (catalog order); returns their bytes.
        ``fs_lock``: the lock the site's writing processes share (see ``Folder``)."""
        catalog = self.catalog
        render = partial(self.detail.render, chrome=self.chrome)
        folder = Folder(os.path.join(self.out, "datasets"), fs_lock)
        try:
            for d in catalog.datasets[start:stop]:
                folder.write_bytes("index.html", render(page=get_dataset_page(d, catalog)).encode("utf-8"), inside=d.id)
        finally:
            folder.close()
        return folder.bytes

    def write_dataset_pages(self, *, alongside: Callable[[Any], None] | None = None) -> Written:
        """One page per dataset under ``out/datasets/``; their count and bytes.

        Past a few thousand pages, forked workers share the rendering (100,000
        pages are most of a large build's time) while this process runs
        ``alongside`` (the site's other files), so every core stays busy.
        Workers are forked processes, so call this outside any event loop.
        """
        n = len(self.catalog.datasets)
        if n < self.parallel_min or self.workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
            size = self.write_pages(0, n)
            if alongside is not None:
                alongside(None)
            return Written(ReadOnlyDict({"datasets": (n, size)}))
        ctx = multiprocessing.get_context("fork")
        claimed = ctx.Value("q", 0)  # first row no worker has taken yet
        written = ctx.Value("q", 0)
        size = ctx.Value("q", 0)
        fs_lock = ctx.Lock()
        step = max(500, n // (self.workers * 8))
        parent = os.getpid()
        procs = [
            ctx.Process(target=self._page_worker, args=(parent, claimed, written, size, step, fs_lock), daemon=True)
            for _ in range(self.workers)
        ]
        # This process keeps working alongside the workers: had its collector
        # traversed the objects they inherited, every page holding one would be
        # copied (tripling the build's system time). Frozen objects are never
        # traversed; they are handed back to the collector once the workers end.
        gc.collect()
        gc.freeze()
        try:
            for p in procs:
                p.start()
            try:
                if alongside is not None:
                    alongside(fs_lock)
            finally:
                for p in procs:
                    p.join()
        finally:
            gc.unfreeze()
        if any(p.exitcode for p in procs) or written.value != n:
            raise RuntimeError(f"wrote {written.value} of {n} dataset pages")
        return Written(ReadOnlyDict({"datasets": (n, size.value)}))

    def _page_worker(self, parent: int, claimed: Any, written: Any, size: Any, step: int, fs_lock: Any) -> None:
        """A forked worker: takes spans of ``step`` pages until none are left."""
        # A worker must not outlive a killed build: it would hold the build's locks.
        die_with_parent(parent)
        # Freezing what the fork inherited keeps this process's collections from
        # touching (and so copying) those objects: the parent's pages stay shared.
        gc.freeze()
        n = len(self.catalog.datasets)
        while True:
            with claimed.get_lock():
                start = claimed.value
                claimed.value = min(n, start + step)
            if start >= n:
                return
            stop = min(n, start + step)
            nbytes = self.write_pages(start, stop, fs_lock)
            with written.get_lock():
                written.value += stop - start
            with size.get_lock():
                size.value += nbytes


def write_site(catalog: Catalog, out: Path, *, site_url: str = "", compress_exports: bool = False) -> Written:
    """Write every page, export and asset of the site into ``out``.

    ``out/thumbnails`` is expected to be in place already. ``site_url`` (the
    absolute public URL, ending in "/") only makes sitemap locations absolute.
    Synchronous, and to be called outside any event loop: the dataset pages
    may be written by forked worker processes. Returns what the dataset pages
    weigh, so measuring the site need not walk 100,000 folders again.
    """
    return SiteWriter(catalog, out, site_url=site_url, compress_exports=compress_exports).write()
