"""Writing a gathered build: the site within its budget, staged beside ``--out`` and swapped in.

Synchronous and called from the CLI after the event loop has closed, so the
site stage's worker processes never start inside a running loop.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path

from generator.build import BuildResult, InputError
from generator.config import BuildConfig
from generator.progress import Progress
from generator.records import Catalog
from generator.site.budget import BudgetReport, describe_plan, fit_budget, measure_site
from generator.site.fit import apply_plan
from generator.site.pages import SiteWriter, Written, write_site
from generator.site.tally import Tally
from generator.staging import get_staging_path, remove_leftovers, swap_in
from generator.thumbnails.files import THUMB_DIR
from generator.thumbnails.place import place_thumbnails


def write_build(result: BuildResult, config: BuildConfig, *, progress: Progress | None = None) -> BuildResult:
    """Write the site of a gathered build into ``config.out``; the same result, its time included.

    Synchronous on purpose: called after ``asyncio.run`` has returned, so the
    site stage forks its page writers with no event loop and no loop thread
    in the process. The whole site, thumbnails linked (or copied) in from
    the cache or scratch folder, is written into a fresh staging folder
    beside ``config.out`` (``get_staging_path``) and then swapped in: a
    build killed before the swap leaves the previous site whole, and the
    next build removes what it left. The caller holds the output folder's
    lock (``hold_build_locks``), so every staging folder found is a dead
    build's. A scratch thumbnail folder is removed afterwards.
    """
    progress = progress or Progress(verbosity=config.verbose)
    t0 = time.monotonic()
    progress.log(f"site: writing {config.out}")
    try:
        out = _prepare_out(config.out)
        staging = get_staging_path(out)
        try:
            staging.mkdir()
            catalog, size, tally = _write_within_budget(result.catalog, (result.thumbnail_root, out), staging, config)
            if size.given_up:
                progress.log("site: to fit --site-budget: " + "; ".join(size.given_up), level=-1)
            swap_in(staging, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # the new site if it failed, else the old one
    finally:
        if result.scratch and result.thumbnail_root is not None:
            shutil.rmtree(result.thumbnail_root, ignore_errors=True)
    return dataclasses.replace(
        result, seconds=result.seconds + time.monotonic() - t0, thumbnail_root=None if result.scratch else result.thumbnail_root, scratch=False,
        catalog=catalog, size=size, tally=tally,
    )


def _write_within_budget(
    catalog: Catalog, roots: tuple[Path | None, ...], staging: Path, config: BuildConfig
) -> tuple[Catalog, BudgetReport, Tally]:
    """Write the site into ``staging``, measure it and, over ``--site-budget``, write it
    again having given up what ``fit_budget`` decided; report.html gets the figures.
    Raises ``BudgetError`` (the previous site untouched) when it cannot fit."""
    thumbs = staging / THUMB_DIR
    written = _write_site(catalog, staging, config, roots)
    sizes = measure_site(staging, written.tally.cards, written.folders)
    given_up: tuple[str, ...] = ()
    budget = config.site_budget
    first, plan = sizes, None
    while budget is not None and sizes.total > budget:
        # Each plan gives up more than the one before; the last raises BudgetError.
        plan = fit_budget(first, budget, card_px=config.thumbnail.card_size, after=plan)
        given_up = describe_plan(plan, first)
        shutil.rmtree(staging)
        staging.mkdir()
        fitted = apply_plan(catalog, plan, roots, thumbs)
        written = _write_site(fitted, staging, config, roots, compress_exports=plan.compress_exports)
        sizes = measure_site(staging, written.tally.cards, written.folders)
    if plan is not None:
        catalog = fitted
    report = BudgetReport(budget, sizes, given_up)
    SiteWriter(catalog, staging, budget=report).write_reports(written.tally)
    return catalog, report, written.tally


def _write_site(catalog: Catalog, staging: Path, config: BuildConfig, roots: tuple[Path | None, ...],
                *, compress_exports: bool = False) -> Written:
    thumbs = staging / THUMB_DIR
    thumbs.mkdir(parents=True, exist_ok=True)
    return write_site(catalog, staging, site_url=config.site_url, compress_exports=compress_exports,
                      place=lambda span: place_thumbnails(span, roots, thumbs))


def _prepare_out(out: Path) -> Path:
    """The output folder with symlinks resolved (the staging folder goes beside the real
    one), its parent made, and what killed builds left there cleaned up."""
    out = Path(os.path.realpath(out))
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out)
    return out

