"""The build driver: gather every record first, then write the site.

    sources -> harvest -> validate -> terms -> history -> thumbnails -> site

Like mkdocs' ``commands/build.py``: one function walks the stages in order,
each stage returns new records, and nothing is written to the output
directory until everything has been gathered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from generator.config import BuildConfig
from generator.fetch import Fetcher
from generator.harvest.dataset import harvest
from generator.progress import Progress, format_bytes, format_table
from generator.records import Catalog, Dataset, RowError, Term
from generator.site.pages import write_site
from generator.sources.columns import dataset_from_entry
from generator.sources.read import get_entries
from generator.state import State, merge_with_history
from generator.terms import label_term, resolve_terms
from generator.thumbnails.make import make_thumbnails
from generator.validate import validate


class InputError(Exception):
    """The build's input is unusable (the root CSV can't be read, or lists nothing)."""


@dataclass(frozen=True)
class BuildResult:
    catalog: Catalog
    out: Path
    requests: int
    not_modified: int
    absent_remembered: int  # optional documents not asked for: recently not found
    thumbnails_rendered: int
    seconds: float

    @property
    def failed(self) -> list[Dataset]:
        return [d for d in self.catalog.datasets if d.status in ("invalid", "unreachable")]


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _make_fetcher(config: BuildConfig, state: State | None) -> Fetcher:
    return Fetcher(
        concurrency=config.concurrency,
        per_host=config.per_host,
        timeout=config.timeout,
        retries=config.retries,
        validators=state,
    )


async def build(config: BuildConfig, *, progress: Progress | None = None) -> BuildResult:
    progress = progress or Progress(verbosity=config.verbose)
    started = utc_now()
    t0 = datetime.now().timestamp()
    # An offline build neither reads nor writes the build state: records made
    # from CSV columns are not harvests and must not replace last night's.
    state = State(config.cache) if config.cache is not None and not config.offline else None
    rendered = 0
    try:
        async with _make_fetcher(config, state) as fetcher:
            sources = await get_entries(
                config.source, fetcher, url_map=dict(config.url_map), limits=config.sources, github=config.github
            )
            _check_input(config.source, sources.entries, sources.errors)
            row_errors, csv_files = sources.errors, sources.csv_files
            entries = list(sources.entries)
            progress.log(
                f"sources: {len(entries)} datasets from {len(csv_files)} CSV files"
                + (f", {len(row_errors)} row errors" if row_errors else "")
            )
            del sources  # the entries are the biggest thing the build holds: drop them early

            if config.offline:
                datasets = [dataset_from_entry(e) for e in entries]
            else:
                progress.start("harvest", len(entries))
                datasets = await harvest(
                    entries,
                    fetcher,
                    thumb_size=config.thumbnail.card_size,
                    progress=lambda d: progress.advance(d.status, f"{d.status} {d.url}"),
                )
                progress.finish()
                memo = state.spec_checks if state is not None else {}
                datasets = [validate(d, memo=memo) for d in datasets]
            del entries

            datasets = await _label_terms(datasets, config, fetcher, state)

            gone: list[Dataset] = []
            if state is not None:
                datasets, gone = _apply_history(datasets, state, started, config)

            if config.thumbnails and not config.offline:
                thumb_root = state.thumbnail_cache_dir.parent if state is not None else config.out
                progress.start("thumbnails", sum(1 for d in datasets if d.resolutions))
                before = _count_files(thumb_root / "thumbnails")
                datasets = await make_thumbnails(
                    datasets,
                    fetcher,
                    thumb_root,
                    config.thumbnail,
                    progress=lambda d: progress.advance("ok" if d.thumbnail else "none"),
                )
                progress.finish()
                rendered = max(0, _count_files(thumb_root / "thumbnails") - before)

            if state is not None:
                _save_records(state, datasets, started.isoformat())
            stats = fetcher.stats
        # The site stage forks page writers: let the resolver's idle threads go
        # first, since forking a threaded process risks a child stuck on a lock
        # some other thread held (Python 3.12 warns about it).
        await asyncio.get_running_loop().shutdown_default_executor()
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
    del datasets
    progress.log(f"site: writing {config.out}")
    _prepare_out(config.out)
    if config.thumbnails and not config.offline and config.cache is not None:
        _copy_thumbnails(catalog.datasets, config.cache / "thumbnails", config.out / "thumbnails")
    write_site(catalog, config.out, site_url=config.site_url)
    return BuildResult(
        catalog=catalog,
        out=config.out,
        requests=stats.requests,
        not_modified=stats.not_modified,
        absent_remembered=stats.absent_remembered,
        thumbnails_rendered=rendered,
        seconds=datetime.now().timestamp() - t0,
    )


SAVE_BATCH = 500  # records per state transaction: bounded loss on a crash, few fsyncs


def _save_records(state: State, datasets: list[Dataset], now: str) -> None:
    for start in range(0, len(datasets), SAVE_BATCH):
        with state.transaction():
            for d in datasets[start : start + SAVE_BATCH]:
                state.save_dataset(d, now)


def _check_input(source: str, entries: object, errors: tuple[RowError, ...] | list[RowError]) -> None:
    if entries:
        return
    reasons = "; ".join(str(e) for e in list(errors)[:5]) or "it lists no dataset URLs"
    raise InputError(f"no datasets could be read from {source}: {reasons}")


async def _label_terms(datasets: list[Dataset], config: BuildConfig, fetcher: Fetcher, state: State | None) -> list[Dataset]:
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
            resolved.update(await resolve_terms(sorted(unknown), fetcher, state))
            labelled.clear()
    out = []
    for d in datasets:
        organism, modality = label(d.organism, "organism"), label(d.modality, "modality")
        if organism != d.organism or modality != d.modality:
            d = dataclasses.replace(d, organism=organism, modality=modality)
        out.append(d)
    return out


def _apply_history(
    datasets: list[Dataset], state: State, now: datetime, config: BuildConfig
) -> tuple[list[Dataset], list[Dataset]]:
    kept: list[Dataset] = []
    gone: list[Dataset] = []
    for d in datasets:
        previous = state.get_dataset(d.url)
        merged, is_gone = merge_with_history(d, previous, now, config.stale_days)
        if d.status == "unreachable":
            state.record_failure(d.url, now.isoformat(), "; ".join(d.errors))
        (gone if is_gone else kept).append(merged)
    # A dataset that left the CSVs leaves the catalog and the state with it.
    state.forget_missing({d.url for d in datasets})
    return kept, gone


def _count_files(folder: Path) -> int:
    """Card thumbnails on disk: one per rendered dataset (details are optional)."""
    return sum(1 for _ in folder.glob("*-256.*")) if folder.is_dir() else 0


def _prepare_out(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # Stale pages of datasets that left the catalog must not linger.
    for sub in ("datasets",):
        if (out / sub).is_dir():
            shutil.rmtree(out / sub)


def _copy_thumbnails(datasets: tuple[Dataset, ...], cache_dir: Path, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for d in datasets:
        if d.thumbnail is None:
            continue
        for rel in (d.thumbnail.card, d.thumbnail.detail):
            if rel:
                wanted.add(Path(rel).name)
    for name in wanted:
        src, dst = cache_dir / name, out_dir / name
        if src.is_file() and not dst.is_file():
            try:
                dst.hardlink_to(src)
            except OSError:
                shutil.copyfile(src, dst)
    for old in out_dir.iterdir():
        if old.name not in wanted:
            old.unlink()


def summary_table(result: BuildResult) -> str:
    """The final table printed after a build: one line per source."""
    rows: dict[str, dict[str, int]] = {}
    for d in result.catalog.datasets:
        r = rows.setdefault(d.source or "(none)", {"datasets": 0, "ok": 0, "invalid": 0, "unreachable": 0, "stale": 0, "bytes": None})
        r["datasets"] += 1
        r[d.status] += 1
        if d.written_bytes is not None:
            r["bytes"] = (r["bytes"] or 0) + d.written_bytes
    table = format_table(
        ["source", "datasets", "ok", "invalid", "unreachable", "stale", "written"],
        [
            [name, r["datasets"], r["ok"], r["invalid"], r["unreachable"], r["stale"], format_bytes(r["bytes"])]
            for name, r in sorted(rows.items())
        ],
    )
    c = result.catalog
    tail = (
        f"\n{len(c.datasets)} datasets, {len(c.row_errors)} row errors, {len(c.gone)} gone; "
        f"{result.requests} requests ({result.not_modified} not modified"
        + (f", {result.absent_remembered} known-missing documents skipped" if result.absent_remembered else "")
        + "), "
        f"{result.thumbnails_rendered} thumbnails rendered, {result.seconds:.1f}s -> {result.out}"
    )
    return table + tail
