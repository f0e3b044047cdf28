"""Writes the site: templates rendered from page contexts, pages in worker processes."""

from __future__ import annotations

import csv
import gc
import json
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

import generator
from generator.lock import die_with_parent
from generator.records import Catalog
from generator.site.contexts import AboutPage
from generator.site.exports import (
    CSV_COLUMNS,
    get_csv_row,
    get_search_index,
    get_sitemaps,
    write_catalog_json,
)
from generator.site.format import CSP, format_bytes, format_count, format_time, safe_url
from generator.site.report import get_report_json, get_report_page
from generator.site.views import get_dataset_page, get_index_page, get_summary

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
        # die_with_parent: a worker must not outlive a killed build (it would hold its locks).
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=die_with_parent, initargs=(os.getpid(),)
        ) as pool:
            results = pool.map(_write_pages_forked, spans)
            if alongside is not None:
                alongside()
            done = sum(results)
    finally:
        _FORKED = None
        gc.unfreeze()
    if done != n:  # pragma: no cover
        raise RuntimeError(f"wrote {done} of {n} dataset pages")


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
