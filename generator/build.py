"""The build driver: gather every record first, then write the site.

    sources -> harvest -> validate -> terms -> history -> thumbnails | site

An offline build gathers no record: its records are made from the CSV
columns a span at a time as the site is written (``generator.offline``), so
a million rows never sit in memory at once.

Like mkdocs' ``commands/build.py``: ``build`` walks the stages in order, each
stage returning new records, and writes nothing into the output directory;
thumbnails are rendered into the build cache, or a scratch folder without
one. ``generator.write.write_build`` then writes the site from what was
gathered. It is synchronous and called from the CLI after the event loop has
closed, so the site stage's worker processes never start inside a running
loop. The site is written into a staging folder beside ``--out`` and swapped
in whole at the end (``generator.staging``), so a build killed at any point
leaves the previous site complete.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import shutil
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from generator.config import BuildConfig
from generator.deadline import Deadline
from generator.fetch.http import Fetcher
from generator.history import decide_status, merge_with_history
from generator.lock import hold_folder_lock
from generator.offline import ListedDatasets
from generator.progress import Progress
from generator.records import Catalog, Dataset, Entry, RowError, Term
from generator.site.budget import BudgetReport
from generator.site.tally import Tally
from generator.sources.read import stream_entries
from generator.sources.spool import Entries
from generator.state import State
from generator.terms import label_term, resolve_terms
from generator.thumbnails.files import THUMB_DIR


# Allocations between two collections of the youngest generation while the
# CSVs are read (the default is 700): a few thousand rows' objects.
YOUNG_THRESHOLD = 100_000


class InputError(Exception):
    """The build's input is unusable (the root CSV can't be read, or lists nothing)."""


@dataclass(frozen=True, repr=False)
class BuildResult:
    catalog: Catalog
    out: Path
    requests: int
    not_modified: int
    absent_remembered: int  # optional documents not asked for: recently not found
    thumbnails_rendered: int
    seconds: float
    # The folder whose thumbnails/ holds the files the catalog names (the cache,
    # or a scratch folder), and whether write_build removes it afterwards.
    thumbnail_root: Path | None = None
    scratch: bool = False
    size: BudgetReport | None = None  # the written site's bytes per part (write_build)
    tally: Tally | None = None  # the records' counts, made as the site was written (write_build)

    @property
    def failed(self) -> list[Dataset]:
        failing = self.tally.failing if self.tally is not None else self.catalog.datasets
        return [d for d in failing if d.status in ("invalid", "unreachable")]

    def __repr__(self) -> str:
        # asyncio.run formats what a coroutine returns: a catalog of 100k records must not be spelled out.
        return f"BuildResult({len(self.catalog.datasets)} datasets, out={str(self.out)!r})"


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def make_fetcher(config: BuildConfig, state: State | None) -> Fetcher:
    """The build's fetcher: the limits the config sets, validators from ``state`` (the driver's, or a batch's on a worker)."""
    return Fetcher(
        concurrency=config.concurrency,
        per_host=config.per_host,
        timeout=config.timeout,
        retries=config.retries,
        validators=state,
        host_failures=config.host_failures,
        allow_private_addresses=config.allow_private_addresses,
    )


@contextmanager
def hold_build_locks(config: BuildConfig) -> Iterator[None]:
    """Hold the output folder and the cache from the gather until the site is written.

    Non-blocking: a second build on either folder fails at once with
    ``generator.lock.LockError``, naming the holder, instead of waiting or
    interleaving with this one.
    """
    with ExitStack() as locks:
        locks.enter_context(hold_folder_lock(config.out, "output folder (--out)"))
        if config.cache is not None and not config.offline:
            locks.enter_context(hold_folder_lock(config.cache, "build cache (--cache)"))
        yield


@contextmanager
def _collector_held() -> Iterator[None]:
    """Reading the CSVs allocates millions of short-lived objects: with the
    default thresholds, the cycle collector traverses what survives again and
    again. The young generation is still collected, rarely, so the cycles each
    CSV fetch leaves are freed as the walk goes on; then one full collection,
    and the survivors are frozen so that no later collection traverses them."""
    thresholds = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, 1_000_000, 1_000_000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.collect()
        gc.freeze()


async def build(config: BuildConfig, *, progress: Progress | None = None) -> BuildResult:
    """Gather the catalog: every stage but the site. Nothing is written into ``config.out``."""
    progress = progress or Progress(verbosity=config.verbose)
    started = utc_now()
    t0 = time.monotonic()
    # Harvest and thumbnails stop here; the site is still written from what was gathered.
    deadline = Deadline.after(config.deadline, t0) if config.deadline else None
    # An offline build neither reads nor writes the build state: records made
    # from CSV columns are not harvests and must not replace last night's.
    # Damage to the state is reported even with -q: the cache was lost.
    warn = functools.partial(progress.log, level=-1)
    state = State(config.cache, warn=warn) if config.cache is not None and not config.offline else None
    thumb_root, scratch = _thumbnail_root(config, state)
    rendered = 0
    try:
        async with make_fetcher(config, state) as fetcher:
            with _collector_held():
                listed, row_errors, csv_files = await _read_sources(config, fetcher, progress)

            if config.offline:
                # Records made from CSV columns as the site is written, a span at a time:
                # a million of them never sit in memory at once.
                catalog = Catalog(
                    generated_at=started.isoformat().replace("+00:00", "Z"),
                    datasets=ListedDatasets(listed),  # type: ignore[arg-type]
                    row_errors=tuple(row_errors),
                    csv_files=tuple(csv_files),
                    title=config.site_title,
                )
                return BuildResult(catalog=catalog, out=config.out, requests=fetcher.stats.requests,
                                   not_modified=0, absent_remembered=0, thumbnails_rendered=0,
                                   seconds=time.monotonic() - t0)
            entries = list(listed)
            listed.close()
            if config.dask is not None:  # harvest and thumbnails on a Dask cluster
                from generator.cluster.driver import gather_on_cluster

                datasets, rendered = await gather_on_cluster(entries, fetcher, state, thumb_root, config, progress, deadline)
            else:
                datasets = await _harvest(entries, fetcher, state, config, progress, deadline)
            del entries

            datasets = await _label_terms(datasets, config, fetcher, state, deadline)
            datasets, gone = _settle(datasets, state, started, config)

            if config.thumbnails and not config.offline and thumb_root is not None and config.dask is None:
                datasets, rendered = await _render_thumbnails(datasets, fetcher, thumb_root, config, progress, deadline)
            if deadline is not None and deadline.passed:
                progress.log(f"{deadline.describe()} passed: the site is written from what was gathered", level=-1)

            if state is not None:
                _save_records(state, datasets, started.isoformat())
            stats = fetcher.stats
    except BaseException:
        if scratch:
            shutil.rmtree(thumb_root, ignore_errors=True)  # type: ignore[arg-type]
        raise
    finally:
        if state is not None:
            state.close()

    catalog = Catalog(
        generated_at=started.isoformat().replace("+00:00", "Z"),
        datasets=tuple(datasets),
        row_errors=tuple(row_errors),
        gone=tuple(gone),
        csv_files=tuple(csv_files),
        title=config.site_title,
    )
    return BuildResult(
        catalog=catalog,
        out=config.out,
        requests=stats.requests,
        not_modified=stats.not_modified,
        absent_remembered=stats.absent_remembered,
        thumbnails_rendered=rendered,
        seconds=time.monotonic() - t0,
        thumbnail_root=thumb_root,
        scratch=scratch,
    )



def _thumbnail_root(config: BuildConfig, state: State | None) -> tuple[Path | None, bool]:
    """Where this build's thumbnails live, and whether that is a scratch folder of its own."""
    if state is not None:
        return state.thumbnail_cache_dir.parent, False
    if config.thumbnails and not config.offline:
        # No cache: render aside, never into --out while gathering.
        return Path(tempfile.mkdtemp(prefix="ngff-catalog-thumbnails-")), True
    return None, False


async def _render_thumbnails(
    datasets: list[Dataset], fetcher: Fetcher, thumb_root: Path, config: BuildConfig, progress: Progress,
    deadline: Deadline | None,
) -> tuple[list[Dataset], int]:
    progress.start("thumbnails", sum(1 for d in datasets if d.resolutions))
    from generator.thumbnails.make import make_thumbnails

    before = _count_files(thumb_root / THUMB_DIR)
    datasets = await make_thumbnails(
        datasets,
        fetcher,
        thumb_root,
        config.thumbnail,
        progress=lambda d: progress.advance("ok" if d.thumbnail else "none"),
        deadline=deadline,
    )
    progress.finish()
    return datasets, max(0, _count_files(thumb_root / THUMB_DIR) - before)


SAVE_BATCH = 500  # records per state transaction: bounded loss on a crash, few fsyncs


def _save_records(state: State, datasets: list[Dataset], now: str) -> None:
    for start in range(0, len(datasets), SAVE_BATCH):
        with state.transaction():
            for d in datasets[start : start + SAVE_BATCH]:
                state.save_dataset(d, now)


async def _read_sources(
    config: BuildConfig, fetcher: Fetcher, progress: Progress
) -> tuple[Entries, tuple[RowError, ...], tuple[str, ...]]:
    """The entries the CSVs list (on disk), their row errors and the CSVs read; ``InputError`` when there are none."""
    sources = await stream_entries(
        config.source, fetcher, url_map=dict(config.url_map), limits=config.sources, github=config.github
    )
    try:
        _check_input(config.source, sources.entries, sources.errors)
    except InputError:
        sources.entries.close()
        raise
    row_errors, csv_files = sources.errors, sources.csv_files
    progress.log(
        f"sources: {len(sources.entries)} datasets from {len(csv_files)} CSV files"
        + (f", {len(row_errors)} row errors" if row_errors else "")
    )
    return sources.entries, row_errors, csv_files


def _check_input(source: str, entries: object, errors: tuple[RowError, ...] | list[RowError]) -> None:
    if entries:
        return
    reasons = "; ".join(str(e) for e in list(errors)[:5]) or "it lists no dataset URLs"
    raise InputError(f"no datasets could be read from {source}: {reasons}")


async def _label_terms(
    datasets: list[Dataset], config: BuildConfig, fetcher: Fetcher, state: State | None, deadline: Deadline | None
) -> list[Dataset]:
    resolved: dict[str, str] = {}
    # Catalogs repeat a handful of terms thousands of times: label each once.
    labelled: dict[tuple[Term | None, str], Term | None] = {}

    def label(term: Term | None, kind: str) -> Term | None:
        key = (term, kind)
        if key not in labelled:
            labelled[key] = label_term(term, kind, resolver=resolved)  # type: ignore[arg-type]
        return labelled[key]

    if config.resolve_terms and not config.offline:
        terms = [label(d.organism, "organism") for d in datasets] + [label(d.modality, "modality") for d in datasets]
        unknown = {t.id for t in terms if t is not None and not t.label}
        if unknown:
            resolved.update(await resolve_terms(sorted(unknown), fetcher, state, deadline=deadline))
            labelled.clear()
    out = []
    for d in datasets:
        organism, modality = label(d.organism, "organism"), label(d.modality, "modality")
        if organism != d.organism or modality != d.modality:
            d = dataclasses.replace(d, organism=organism, modality=modality)
        out.append(d)
    return out


async def _harvest(
    entries: list[Entry], fetcher: Fetcher, state: State | None, config: BuildConfig, progress: Progress,
    deadline: Deadline | None,
) -> list[Dataset]:
    """Harvest and validate: each record with its findings, its status not yet decided."""
    # Imported here: an offline build reads no array and validates nothing,
    # and need not load zarr, the spec's schemas and their models.
    from generator.harvest.dataset import harvest
    from generator.validate import validate

    progress.start("harvest", len(entries))

    def advance(d: Dataset) -> None:
        status = decide_status(d)  # what the bar counts: tonight's answer, before history
        progress.advance(status, f"{status} {d.url}")

    datasets = await harvest(
        entries,
        fetcher,
        thumb_size=config.thumbnail.card_size,
        progress=advance,
        # The thumbnail stage reads chunks only: harvest gathers what it needs.
        thumbnails=config.thumbnails and not config.offline,
        known_formats=state.get_root_formats(e.url for e in entries) if state is not None else None,
        dataset_seconds=config.dataset_seconds,
        deadline=deadline,
        plate_wells=config.plate_wells,
    )
    progress.finish()
    memo = state.spec_checks if state is not None else {}
    return [d.with_findings(validate(d, memo=memo)) for d in datasets]


def _settle(
    datasets: list[Dataset], state: State | None, now: datetime, config: BuildConfig
) -> tuple[list[Dataset], list[Dataset]]:
    """Decide every status (here and only here) and, with a build state, merge the history.

    Returns (kept, gone): gone are the datasets stale for longer than ``stale_days``.
    """
    if state is None:
        return [_with_status(d, decide_status(d)) for d in datasets], []
    kept: list[Dataset] = []
    gone: list[Dataset] = []
    for d in datasets:
        merged, is_gone = merge_with_history(d, state.get_dataset(d.url), now, config.stale_days)
        if not d.reached or merged.status == "stale":  # down, or answering with no Zarr document
            state.record_failure(d.url, now.isoformat(), "; ".join(d.errors))
        (gone if is_gone else kept).append(merged)
    # A dataset that left the CSVs leaves the catalog and the state with it.
    state.forget_missing({d.url for d in datasets})
    return kept, gone


def _with_status(d: Dataset, status: str) -> Dataset:
    # An offline build settles 100,000 records: copy only the ones that change.
    return d if d.status == status else dataclasses.replace(d, status=status)  # type: ignore[arg-type]


def _count_files(folder: Path) -> int:
    """Card thumbnails on disk: one per rendered dataset (details are optional)."""
    return sum(1 for _ in folder.glob("*-256.*")) if folder.is_dir() else 0
