"""Thumbnails: pick a level and a plane, read it with zarr-python through our Fetcher, render, write.

For each dataset:

1. ``choose_level``: the smallest level whose longest Y/X side is at least
   the card size (the lowest if none is). ``get_plane_selection``: first t,
   middle z, all channels, whatever the axis order.
2. The key (``get_thumbnail_key``) hashes the source metadata that decides
   the pixels. When ``thumbnails/<key>-256.*`` exists it is reused and
   nothing is fetched, so unchanged datasets keep their file across builds.
3. ``estimate_read`` bounds the chunk bytes and decoded pixels from the
   chunk grid before any chunk is requested; over a cap the dataset gets a
   warning and no thumbnail. The store also counts the bytes it really
   receives and aborts past the cap, in case the metadata lies.
4. The array is opened as a zarr ``AsyncArray`` straight from the harvested
   array document on a ``FetcherStore``, so no metadata is probed and every
   chunk goes through the build's one HTTP session (limits, retries).
   Sharded arrays are read with byte-range requests (shard index + inner chunks).
5. ``render.render_plane`` and the WebP encoding run in a thread pool, so
   the event loop keeps fetching other datasets meanwhile.

Plates get a montage of every well's first field (lowest level) at its
row/column position. The wells are read in plate order while the byte cap
allows; wells past the cap stay blank and the dataset gets a warning
saying how many were drawn.
"""

from __future__ import annotations

import asyncio
import dataclasses
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import quote

import numpy as np
from zarr.core.array import AsyncArray, parse_array_metadata
from zarr.storage import StorePath

from generator.config import ThumbnailConfig
from generator.fetch import Fetcher, FetchError
from generator.plan import (
    AxisRoles,
    ReadCost,
    ThumbnailSkipped,
    choose_level,
    estimate_read,
    get_axis_roles,
    get_pixel_aspect,
    get_plane_selection,
    get_thumbnail_key,
    is_label_image,
    to_cyx,
)
from generator.records import Axis, Dataset, Level, Plate, Thumbnail
from generator.thumbnails.decode import bound_array_metadata
from generator.thumbnails.files import THUMB_DIR, find_existing, write_renditions
from generator.thumbnails.render import (
    render_montage,
    render_plane,
)
from generator.thumbnails.store import MB, FetcherStore, ReadBudget

# How many datasets are fetched/rendered at once. Memory is bounded separately by ``_ByteBudget``.
DATASET_CONCURRENCY = 32


# ---------------------------------------------------------------------------
# Pure choices: axes, level, plane, key, cost


# ---------------------------------------------------------------------------
# A read-only zarr store over the Fetcher


def join_url(base: str, *parts: str) -> str:
    out = base.rstrip("/")
    for p in parts:
        p = p.strip("/")
        if p:
            out += "/" + quote(p, safe="/")
    return out


async def get_array_document(fetcher: Fetcher, image_url: str, path: str, zarr_format: int | None) -> dict[str, Any]:
    """Fetch one array document (``zarr.json`` for Zarr v3, ``.zarray`` for v2)."""
    name = ".zarray" if zarr_format == 2 else "zarr.json"
    doc, _ = await fetcher.get_json(join_url(image_url, path, name), conditional=False)
    if not isinstance(doc, dict):
        raise ThumbnailSkipped(f"thumbnail skipped: {path}/{name} is not a JSON object")
    if zarr_format == 2:
        doc.setdefault("zarr_format", 2)
    return doc


@dataclass(frozen=True)
class PlaneSource:
    """One plane to read: the opened array, what to select, and its cost bound."""

    array: AsyncArray
    selection: tuple[int | slice, ...]
    roles: AxisRoles
    cost: ReadCost
    store: FetcherStore


def open_plane(
    fetcher: Fetcher,
    image_url: str,
    level_path: str,
    metadata: Mapping[str, Any],
    axes: Sequence[Axis],
    budget: ReadBudget,
    zarr_format: int | None = None,
) -> PlaneSource:
    """Open the array from its document, with no request; pick the plane and bound its cost."""
    doc = dict(metadata)
    if "zarr_format" not in doc and zarr_format in (2, 3):
        doc["zarr_format"] = zarr_format
    try:
        meta = parse_array_metadata(doc)
    except Exception as e:  # zarr raises many types for malformed documents
        raise ThumbnailSkipped(f"thumbnail skipped: unreadable array metadata at {level_path}: {e}") from None
    # Compressors swapped for bounded ones: no chunk decodes past its declared size.
    meta = bound_array_metadata(meta, f"level {level_path}")
    roles = get_axis_roles(axes, len(meta.shape))
    selection = get_plane_selection(meta.shape, roles)
    store = FetcherStore(image_url, fetcher, budget)
    array = AsyncArray(metadata=meta, store_path=StorePath(store, level_path))
    return PlaneSource(array, selection, roles, estimate_read(meta, selection), store)


def check_cost(cost: ReadCost, config: ThumbnailConfig, what: str) -> None:
    if cost.bytes > config.max_bytes:
        raise ThumbnailSkipped(
            f"thumbnail skipped: {what} plane needs {cost.bytes / MB:.0f} MB of chunks > {config.max_bytes / MB:.0f} MB cap"
        )
    if cost.pixels > config.max_pixels:
        raise ThumbnailSkipped(
            f"thumbnail skipped: {what} plane decodes {cost.pixels / 1e6:.0f} Mpx > {config.max_pixels / 1e6:.0f} Mpx cap"
        )


async def read_plane(source: PlaneSource) -> np.ndarray:
    data = await source.array.getitem(source.selection)
    return to_cyx(np.asarray(data), source.selection, source.roles)


# ---------------------------------------------------------------------------
# Files


# ---------------------------------------------------------------------------
# The stage


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
) -> list[Dataset]:
    """Give every renderable dataset a ``thumbnail`` (files under ``out_dir/thumbnails``), same order.

    Datasets that cannot get one keep ``thumbnail=None`` and gain a warning
    saying why; nothing here raises for a single dataset's sake.
    ``progress`` is called once per dataset that has resolutions.
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
        async with limit:
            result = await make_thumbnail(d, ctx)
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
            return dataclasses.replace(dataset, thumbnail=existing)
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


def _warn(dataset: Dataset, message: str) -> Dataset:
    return dataclasses.replace(dataset, thumbnail=None, warnings=dataset.warnings + (message,))


def _image_url(dataset: Dataset) -> str:
    return join_url(dataset.url, dataset.image_path)


async def _level_metadata(dataset: Dataset, level: Level, ctx: _Context) -> Mapping[str, Any]:
    if level.metadata is not None:
        return level.metadata
    # Inferred level: one request for its array document.
    return await get_array_document(ctx.fetcher, _image_url(dataset), level.path, dataset.zarr_format)


async def _read_within_budget(source: PlaneSource, ctx: _Context) -> np.ndarray:
    held = await ctx.memory.acquire(source.cost.bytes)
    try:
        return await read_plane(source)
    finally:
        await ctx.memory.release(held)


def _read_limit(config: ThumbnailConfig) -> int:
    # Compressed chunks can exceed their raw size by a few header bytes; the estimate already used raw sizes.
    return int(config.max_bytes * 1.1) + 64 * 1024


async def _image_thumbnail(dataset: Dataset, key: str, ctx: _Context) -> tuple[Thumbnail, list[str]]:
    roles = get_axis_roles(dataset.axes, len(dataset.resolutions[0].shape))
    index = choose_level(dataset.resolutions, roles, ctx.config.card_size)
    level = dataset.resolutions[index]
    metadata = await _level_metadata(dataset, level, ctx)
    budget = ReadBudget(_read_limit(ctx.config))
    source = open_plane(ctx.fetcher, _image_url(dataset), level.path, metadata, dataset.axes, budget, dataset.zarr_format)
    check_cost(source.cost, ctx.config, f"level {level.path}")
    plane = await _read_within_budget(source, ctx)
    notes = []
    if budget.requests and budget.missing == budget.requests:
        notes.append("thumbnail: every chunk of the plane is missing; drawn from the fill value")
    labels = is_label_image(dataset)
    aspect = get_pixel_aspect(level, source.roles, dataset.physical_sizes if index == 0 else None)

    def render() -> Thumbnail:
        img = render_plane(plane, dataset.channels, pixel_aspect=aspect, size=ctx.config.detail_size, labels=labels)
        return write_renditions(img, ctx.out_dir, key, ctx.config, nearest=labels)

    return await ctx.run(render), notes


# ---------------------------------------------------------------------------
# Plates


def get_plate_grid(plate: Plate) -> tuple[list[str], list[str], list[tuple[str, int, int]]]:
    """Row names, column names and (well path, row, column) for every well of a plate.

    Positions come from the well path "<row>/<column>" looked up in the
    plate's row and column names (derived from the paths when absent).
    """
    pairs = [(w, *w.strip("/").split("/")[:2]) for w in plate.well_paths if w.count("/") >= 1]
    rows = list(plate.row_names) or sorted({r for _, r, _ in pairs})
    cols = list(plate.column_names) or sorted({c for _, _, c in pairs}, key=lambda c: (len(c), c))
    wells = [(w, rows.index(r), cols.index(c)) for w, r, c in pairs if r in rows and c in cols]
    return rows, cols, wells


async def _first_field(dataset: Dataset, well: str, ctx: _Context) -> str:
    known = [f for f in dataset.plate.field_paths if f.startswith(well.rstrip("/") + "/")]  # type: ignore[union-attr]
    if known:
        return known[0]
    attrs = await _group_attributes(dataset, well, ctx)
    images = (attrs.get("well") or {}).get("images") or []
    if not images or not isinstance(images[0], dict) or "path" not in images[0]:
        raise ThumbnailSkipped(f"well {well} lists no images")
    return f"{well.rstrip('/')}/{images[0]['path']}"


async def _group_attributes(dataset: Dataset, path: str, ctx: _Context) -> Mapping[str, Any]:
    """OME attributes of a group: ``attributes.ome`` of zarr.json (v3) or ``.zattrs`` (v2)."""
    if dataset.zarr_format == 2:
        doc, _ = await ctx.fetcher.get_json(join_url(dataset.url, path, ".zattrs"), conditional=False)
        return doc if isinstance(doc, dict) else {}
    doc, _ = await ctx.fetcher.get_json(join_url(dataset.url, path, "zarr.json"), conditional=False)
    attrs = doc.get("attributes") if isinstance(doc, dict) else None
    attrs = attrs if isinstance(attrs, dict) else {}
    return attrs.get("ome") if isinstance(attrs.get("ome"), dict) else attrs


async def _field_lowest_level(dataset: Dataset, field: str, ctx: _Context) -> tuple[str, Mapping[str, Any]]:
    """The lowest level's path and array document of one field image."""
    lowest = dataset.resolutions[-1]
    if field == dataset.image_path and lowest.metadata is not None:
        return lowest.path, lowest.metadata
    field_url = join_url(dataset.url, field)
    try:
        # Fields of a plate share their pyramid layout: try the first field's lowest path directly.
        return lowest.path, await get_array_document(ctx.fetcher, field_url, lowest.path, dataset.zarr_format)
    except FetchError as e:
        if e.status != 404:
            raise
    attrs = await _group_attributes(dataset, field, ctx)
    multiscales = attrs.get("multiscales") or []
    paths = [d.get("path") for d in (multiscales[0].get("datasets") or [])] if multiscales else []
    if not paths or not isinstance(paths[-1], str):
        raise ThumbnailSkipped(f"field {field} has no multiscales datasets")
    return paths[-1], await get_array_document(ctx.fetcher, field_url, paths[-1], dataset.zarr_format)


async def _open_field(dataset: Dataset, well: str, ctx: _Context, budget: ReadBudget) -> PlaneSource:
    field = await _first_field(dataset, well, ctx)
    path, doc = await _field_lowest_level(dataset, field, ctx)
    return open_plane(ctx.fetcher, join_url(dataset.url, field), path, doc, dataset.axes, budget, dataset.zarr_format)


async def _plate_thumbnail(dataset: Dataset, key: str, ctx: _Context) -> tuple[Thumbnail, list[str]]:
    plate = dataset.plate
    assert plate is not None
    rows, cols, wells = get_plate_grid(plate)
    if not wells:
        raise ThumbnailSkipped("thumbnail skipped: the plate lists no wells")
    budget = ReadBudget(_read_limit(ctx.config))
    opened = await asyncio.gather(*(_open_field(dataset, w, ctx, budget) for w, _, _ in wells), return_exceptions=True)
    notes: list[str] = []
    chosen: list[tuple[int, int, PlaneSource]] = []
    spent_bytes = spent_pixels = 0
    failed = over = 0
    for (well, r, c), src in zip(wells, opened):
        if isinstance(src, BaseException):
            if isinstance(src, asyncio.CancelledError):
                raise src
            failed += 1
            continue
        if spent_bytes + src.cost.bytes > ctx.config.max_bytes or spent_pixels + src.cost.pixels > ctx.config.max_pixels:
            over += 1
            continue
        spent_bytes += src.cost.bytes
        spent_pixels += src.cost.pixels
        chosen.append((r, c, src))
    if not chosen:
        if over:
            first = next(s for s in opened if not isinstance(s, BaseException))
            check_cost(first.cost, ctx.config, "a well's lowest-level")
        raise ThumbnailSkipped(f"thumbnail skipped: none of the plate's {len(wells)} wells could be opened")
    if over:
        notes.append(
            f"thumbnail: plate montage shows {len(chosen)} of {len(wells)} wells; the rest would exceed the "
            f"{ctx.config.max_bytes / MB:.0f} MB read cap"
        )
    if failed:
        notes.append(f"thumbnail: {failed} of {len(wells)} wells could not be opened and are left blank")

    held = await ctx.memory.acquire(spent_bytes)
    try:
        planes = await asyncio.gather(*(read_plane(s) for _, _, s in chosen))
    finally:
        await ctx.memory.release(held)
    labels = is_label_image(dataset)

    def render() -> Thumbnail:
        img = render_montage(
            planes, [(r, c) for r, c, _ in chosen], len(rows), len(cols), dataset.channels, ctx.config.detail_size, labels
        )
        return write_renditions(img, ctx.out_dir, key, ctx.config)

    return await ctx.run(render), notes


