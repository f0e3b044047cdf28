"""Thumbnails: read the planned plane's chunks with zarr-python through our Fetcher, render, write.

For each dataset:

1. The level and plane come from the read plan (``generator.plan``) that
   harvest followed too: the smallest level whose longest Y/X side is at
   least the card size (the sharpest if none is); first t, middle z, all
   channels, whatever the axis order. Harvest read that level's array
   document, so this stage requests chunks only; a record without it (one
   harvested before the plan agreed, say) gets a warning, not a request.
2. The key (``get_thumbnail_key``) hashes the source metadata that decides
   the pixels. When ``thumbnails/<key>-256.*`` exists it is reused and
   nothing is fetched, so unchanged datasets keep their file across builds.
3. ``estimate_read`` bounds the chunk bytes, chunk requests and decoded
   pixels from the chunk grid before any chunk is requested; over a cap the
   dataset gets a warning and no thumbnail. The store also counts the bytes
   and requests it really makes and aborts past the cap, in case the
   metadata lies. Each thumbnail has a wall-clock budget too, and none is
   started after the build's deadline (one already on disk is still used).
4. The array is opened as a zarr ``AsyncArray`` straight from the harvested
   array document on a ``FetcherStore``, so no metadata is probed and every
   chunk goes through the build's one HTTP session (limits, retries).
   Sharded arrays are read with byte-range requests (shard index + inner chunks).
5. ``render.render_plane`` and the WebP encoding run in a thread pool, so
   the event loop keeps fetching other datasets meanwhile.

Plates get a montage of every well's first field (lowest level) at its
row/column position, from the field documents harvest kept in
``Plate.montage``. The wells are read in plate order while the byte cap
allows; wells past the cap stay blank and the dataset gets a warning
saying how many were drawn.
"""

from __future__ import annotations

import asyncio
import dataclasses
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from generator.config import ThumbnailConfig
from generator.deadline import Deadline, get_task_end
from generator.fetch.base import FetchError
from generator.fetch.http import Fetcher
from generator.fetch.urls import join_url
from generator.plan import (
    ThumbnailSkipped,
    get_default_plane,
    get_image_plan,
    get_montage_wells,
    get_pixel_aspect,
    get_plate_grid,
)
from generator.records import Dataset, Thumbnail
from generator.thumbnails.files import THUMB_DIR, find_existing, read_notes, write_notes, write_renditions
from generator.thumbnails.key import get_thumbnail_key, is_label_image
from generator.thumbnails.plane import (
    PlaneSource,
    check_cost,
    get_read_limit,
    open_plane,
    read_plane,
)
from generator.thumbnails.labels import parse_label_colors
from generator.thumbnails.render import render_image, render_montage_image
from generator.thumbnails.store import MB, ReadBudget

# How many datasets are fetched/rendered at once. Memory is bounded separately by ``_ByteBudget``.
DATASET_CONCURRENCY = 32


class _ByteBudget:
    """Bounds the chunk bytes of all reads in flight, so memory stays bounded however many datasets run."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.free = total
        self._cond = asyncio.Condition()

    async def acquire(self, n: int) -> int:
        n = min(n, self.total)
        async with self._cond:
            await self._cond.wait_for(lambda: self.free >= n)
            self.free -= n
        return n

    async def release(self, n: int) -> None:
        async with self._cond:
            self.free += n
            self._cond.notify_all()


@dataclass
class _Context:
    fetcher: Fetcher
    out_dir: Path
    config: ThumbnailConfig
    executor: Executor
    memory: _ByteBudget

    async def run(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(*args, **kw))


async def make_thumbnails(
    datasets: Sequence[Dataset],
    fetcher: Fetcher,
    out_dir: Path,
    config: ThumbnailConfig,
    *,
    progress: Callable[[Dataset], None] | None = None,
    deadline: Deadline | None = None,
) -> list[Dataset]:
    """Give every renderable dataset a ``thumbnail`` (files under ``out_dir/thumbnails``), same order.

    Datasets that cannot get one keep ``thumbnail=None`` and gain a warning
    saying why; nothing here raises for a single dataset's sake.
    ``progress`` is called once per dataset that has resolutions. Each
    thumbnail gets ``config.seconds``; past ``deadline`` only thumbnails
    already on disk are used.
    """
    out_dir = Path(out_dir)
    (out_dir / THUMB_DIR).mkdir(parents=True, exist_ok=True)
    executor = ThreadPoolExecutor(max_workers=max(1, config.workers), thread_name_prefix="thumbnail")
    # Several plane reads may be in flight at once, but never more than this many bytes of them.
    ctx = _Context(fetcher, out_dir, config, executor, _ByteBudget(max(4 * config.max_bytes, 256 * MB)))
    limit = asyncio.Semaphore(DATASET_CONCURRENCY)

    async def one(d: Dataset) -> Dataset:
        if not d.resolutions:
            return d
        fetcher.set_endpoint(d.url, d.endpoint)
        async with limit:
            result = await _make_in_time(d, ctx, deadline)
        if progress is not None:
            progress(result)
        return result

    try:
        return list(await asyncio.gather(*(one(d) for d in datasets)))
    finally:
        # Wait for in-flight renders (pending ones are cancelled): no thread outlives the stage.
        executor.shutdown(wait=True, cancel_futures=True)


async def make_thumbnail(dataset: Dataset, ctx: _Context) -> Dataset:
    """One dataset → the same dataset with a thumbnail, or with a warning why not."""
    if dataset.status == "unreachable" or not dataset.resolutions:
        return dataset
    key = get_thumbnail_key(dataset, ctx.config)
    if key is not None:
        existing = find_existing(ctx.out_dir, key, ctx.config)
        if existing is not None:
            return _reused(dataset, existing, ctx.out_dir, key)
    if dataset.status == "stale":
        return dataset  # the host is failing: keep the last-known-good record as it is
    try:
        if key is None:
            raise ThumbnailSkipped("thumbnail skipped: no usable resolution level or axes")
        if dataset.plate is not None and dataset.kind == "plate":
            thumb, notes = await _plate_thumbnail(dataset, key, ctx)
        else:
            thumb, notes = await _image_thumbnail(dataset, key, ctx)
    except ThumbnailSkipped as e:
        return _warn(dataset, str(e))
    except FetchError as e:
        return _warn(dataset, f"thumbnail failed: {e}")
    except asyncio.CancelledError:
        raise
    except Exception as e:  # a broken dataset must never stop the build
        return _warn(dataset, f"thumbnail failed: {type(e).__name__}: {e}")
    return dataclasses.replace(dataset, thumbnail=thumb, warnings=dataset.warnings + tuple(notes))


async def _make_in_time(dataset: Dataset, ctx: _Context, deadline: Deadline | None) -> Dataset:
    """``make_thumbnail`` within the thumbnail's budget and the build's deadline."""
    end = get_task_end(ctx.config.seconds, deadline)
    if end is None:
        return await make_thumbnail(dataset, ctx)
    if end.by_deadline and deadline is not None and deadline.passed:
        return _after_deadline(dataset, ctx, deadline)
    try:
        async with asyncio.timeout_at(end.loop_time):
            return await make_thumbnail(dataset, ctx)
    except TimeoutError:
        if end.by_deadline and deadline is not None:
            return _warn(dataset, f"thumbnail not drawn: stopped at {deadline.describe()}; drawn after a later build")
        return _warn(
            dataset,
            f"thumbnail skipped: not drawn within {ctx.config.seconds:g} s (the per-thumbnail time budget, --thumbnail-seconds)",
        )


def _after_deadline(dataset: Dataset, ctx: _Context, deadline: Deadline) -> Dataset:
    """Past the deadline nothing is fetched: a thumbnail already on disk is used, no other is drawn."""
    if dataset.status == "unreachable" or not dataset.resolutions:
        return dataset
    key = get_thumbnail_key(dataset, ctx.config)
    existing = find_existing(ctx.out_dir, key, ctx.config) if key is not None else None
    if existing is not None and key is not None:
        return _reused(dataset, existing, ctx.out_dir, key)
    if dataset.status == "stale":
        return dataset
    return _warn(dataset, f"thumbnail not drawn: {deadline.describe()} passed first; drawn after a later build")


def _reused(dataset: Dataset, existing: Thumbnail, out_dir: Path, key: str) -> Dataset:
    """``dataset`` with a thumbnail an earlier build drew, and what that rendering said."""
    notes = tuple(n for n in read_notes(out_dir, key) if n not in dataset.warnings)
    return dataclasses.replace(dataset, thumbnail=existing, warnings=dataset.warnings + notes)


def _warn(dataset: Dataset, message: str) -> Dataset:
    return dataclasses.replace(dataset, thumbnail=None, warnings=dataset.warnings + (message,))


async def _read_within_budget(source: PlaneSource, ctx: _Context) -> np.ndarray:
    held = await ctx.memory.acquire(source.cost.bytes)
    try:
        return await read_plane(source)
    finally:
        await ctx.memory.release(held)


async def _image_thumbnail(dataset: Dataset, key: str, ctx: _Context) -> tuple[Thumbnail, list[str]]:
    index = get_image_plan(dataset.resolutions, dataset.axes, ctx.config.card_size).image
    level = dataset.resolutions[index]
    if level.metadata is None:
        # Harvest reads the planned level's document; a record without it predates that, or
        # the level's real shape moved the plan. Only the next harvest can mend it.
        raise ThumbnailSkipped(
            f"thumbnail skipped: the record lacks the array document of level {level.path!r} "
            "(its shape was inferred, not read); it is drawn after the next harvest"
        )
    image_url = join_url(dataset.url, dataset.image_path)
    budget = ReadBudget(get_read_limit(ctx.config), max_requests=ctx.config.max_chunks)
    ome = dataset.documents.image if dataset.documents is not None else None
    source = open_plane(
        ctx.fetcher, image_url, level.path, level.metadata, dataset.axes, budget, dataset.zarr_format,
        default=get_default_plane(ome), shape0=dataset.resolutions[0].shape,
    )
    check_cost(source.cost, ctx.config, f"level {level.path}")
    plane = await _read_within_budget(source, ctx)
    notes = []
    if budget.requests and budget.missing == budget.requests:
        notes.append("thumbnail: every chunk of the plane is missing; drawn from the fill value")
    labels = is_label_image(dataset)
    aspect = get_pixel_aspect(level, source.roles, dataset.physical_sizes if index == 0 else None)

    colors = parse_label_colors(ome) if labels else None

    def render() -> tuple[Thumbnail, tuple[str, ...]]:
        img, said = render_image(
            plane, dataset.channels, pixel_aspect=aspect, size=ctx.config.detail_size, labels=labels, label_colors=colors
        )
        write_notes(ctx.out_dir, key, said)
        return write_renditions(img, ctx.out_dir, key, ctx.config, nearest=labels), said

    thumb, said = await ctx.run(render)
    return thumb, notes + list(said)


def _open_fields(dataset: Dataset, ctx: _Context, budget: ReadBudget) -> list[tuple[int, int, PlaneSource]]:
    """The montage's fields that open from their harvested documents, in plate order."""
    plate = dataset.plate
    assert plate is not None
    documents = {f.path: f for f in plate.montage}
    opened = []
    for path, r, c in get_montage_wells(plate):
        field = documents.get(path)
        if field is None:
            continue  # harvest could not read this field's document
        try:
            source = open_plane(
                ctx.fetcher, join_url(dataset.url, path), field.level_path, field.metadata, dataset.axes, budget, dataset.zarr_format
            )
        except ThumbnailSkipped:
            continue
        opened.append((r, c, source))
    return opened


async def _plate_thumbnail(dataset: Dataset, key: str, ctx: _Context) -> tuple[Thumbnail, list[str]]:
    plate = dataset.plate
    assert plate is not None
    rows, cols, wells = get_plate_grid(plate)
    if not wells:
        raise ThumbnailSkipped("thumbnail skipped: the plate lists no wells")
    budget = ReadBudget(get_read_limit(ctx.config), max_requests=ctx.config.max_chunks)
    opened = _open_fields(dataset, ctx, budget)
    failed = len(wells) - len(opened)
    notes: list[str] = []
    chosen: list[tuple[int, int, PlaneSource]] = []
    spent_bytes = spent_pixels = spent_requests = over = over_requests = 0
    for r, c, src in opened:
        if spent_bytes + src.cost.bytes > ctx.config.max_bytes or spent_pixels + src.cost.pixels > ctx.config.max_pixels:
            over += 1
            continue
        if spent_requests + src.cost.requests > ctx.config.max_chunks:
            over_requests += 1
            continue
        spent_bytes += src.cost.bytes
        spent_pixels += src.cost.pixels
        spent_requests += src.cost.requests
        chosen.append((r, c, src))
    if not chosen:
        if over or over_requests:
            check_cost(opened[0][2].cost, ctx.config, "a well's lowest-level")
        reason = "" if plate.montage else " (the record holds no field's array document)"
        raise ThumbnailSkipped(f"thumbnail skipped: none of the plate's {len(wells)} wells could be opened{reason}")
    if over:
        notes.append(
            f"thumbnail: plate montage shows {len(chosen)} of {len(wells)} wells; the rest would exceed the "
            f"{ctx.config.max_bytes / MB:.0f} MB read cap"
        )
    elif over_requests:
        notes.append(
            f"thumbnail: plate montage shows {len(chosen)} of {len(wells)} wells; the rest would exceed the "
            f"cap of {ctx.config.max_chunks} chunk requests per thumbnail (--thumbnail-max-chunks)"
        )
    if failed:
        notes.append(f"thumbnail: {failed} of {len(wells)} wells could not be opened and are left blank")

    held = await ctx.memory.acquire(spent_bytes)
    try:
        planes = await asyncio.gather(*(read_plane(s) for _, _, s in chosen))
    finally:
        await ctx.memory.release(held)
    labels = is_label_image(dataset)

    def render() -> tuple[Thumbnail, tuple[str, ...]]:
        img, said = render_montage_image(
            planes, [(r, c) for r, c, _ in chosen], len(rows), len(cols), dataset.channels, ctx.config.detail_size, labels
        )
        write_notes(ctx.out_dir, key, said)
        return write_renditions(img, ctx.out_dir, key, ctx.config), said

    thumb, said = await ctx.run(render)
    return thumb, notes + list(said)
