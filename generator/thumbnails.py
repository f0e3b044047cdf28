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
import hashlib
import json
import math
import os
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterable, Mapping, Sequence
from urllib.parse import quote

import numpy as np
from PIL import Image, features
from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest
from zarr.codecs.sharding import ShardingCodec
from zarr.core.array import AsyncArray, parse_array_metadata
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import StorePath

from generator.config import ThumbnailConfig
from generator.fetch import Fetcher, FetchError
from generator.records import Axis, Channel, Dataset, Level, Plate, Thumbnail
from generator.render import RENDER_VERSION, get_display_channels, get_output_size, render_plane

THUMB_DIR = "thumbnails"
# Part of the key: bump when plane choice or file layout changes.
THUMBNAIL_VERSION = 1
EMPTY_WELL = (48, 48, 48)
MONTAGE_BACKGROUND = (20, 20, 20)
# How many datasets are fetched/rendered at once. Memory is bounded separately by ``_ByteBudget``.
DATASET_CONCURRENCY = 32
MB = 1024 * 1024


class ThumbnailSkipped(Exception):
    """An expected reason for having no thumbnail; its message becomes the dataset's warning."""


def get_image_format() -> str:
    return "webp" if features.check("webp") else "png"


# ---------------------------------------------------------------------------
# Pure choices: axes, level, plane, key, cost


@dataclass(frozen=True)
class AxisRoles:
    """Index of each role in the array's dimensions (None when absent)."""

    y: int
    x: int
    c: int | None = None
    z: int | None = None
    t: int | None = None


def get_axis_roles(axes: Sequence[Axis], ndim: int) -> AxisRoles:
    """Find y, x, c, z, t among the axes, by name first, then by type.

    Without usable axes metadata (NGFF ≤0.2 or a mismatch) the order is
    assumed to be the tail of ``tczyx``, as the early specs required.
    """
    names = [a.name.lower() for a in axes] if len(axes) == ndim else list("tczyx"[-ndim:] if ndim <= 5 else "")
    types = [(a.type or "").lower() for a in axes] if len(axes) == ndim else [""] * len(names)
    if len(names) != ndim or ndim < 2:
        raise ThumbnailSkipped(f"thumbnail skipped: cannot tell the axes of a {ndim}-d array")

    def find(name: str, type_: str | None = None) -> int | None:
        if name in names:
            return names.index(name)
        if type_ is not None:
            hits = [i for i, t in enumerate(types) if t == type_]
            if len(hits) == 1:
                return hits[0]
        return None

    y, x, z = find("y"), find("x"), find("z")
    space = [i for i, t in enumerate(types) if t == "space" and i not in (y, x, z)]
    if y is None or x is None:
        # Unnamed spatial axes: the last two are Y and X, as in every writer we know.
        space_all = [i for i, t in enumerate(types) if t == "space"]
        if len(space_all) < 2:
            raise ThumbnailSkipped("thumbnail skipped: no Y/X axes in the metadata")
        y, x = space_all[-2], space_all[-1]
        if z is None and len(space_all) >= 3:
            z = space_all[-3]
    elif z is None and space:
        z = space[-1]
    return AxisRoles(y=y, x=x, c=find("c", "channel"), z=z, t=find("t", "time"))


def _yx(shape: Sequence[int], roles: AxisRoles) -> tuple[int, int]:
    return int(shape[roles.y]), int(shape[roles.x])


def choose_level(levels: Sequence[Level], roles: AxisRoles, size: int) -> int:
    """Index of the smallest level whose longest Y/X side is ≥ ``size``.

    When no level is that large, the largest one (all are small then).
    """
    longest = [max(_yx(lv.shape, roles)) if len(lv.shape) > max(roles.y, roles.x) else 0 for lv in levels]
    usable = [i for i, n in enumerate(longest) if n > 0]
    if not usable:
        raise ThumbnailSkipped("thumbnail skipped: no level has a Y/X shape")
    big_enough = [i for i in usable if longest[i] >= size]
    if big_enough:
        # Ties keep the first listed level.
        return min(big_enough, key=lambda i: (longest[i], i))
    # Every level is smaller than a card: the largest (level 0, always harvested) is the sharpest
    # and still tiny to read.
    return max(usable, key=lambda i: (longest[i], -i))


def get_plane_selection(shape: Sequence[int], roles: AxisRoles) -> tuple[int | slice, ...]:
    """First t, middle z, all channels, all of Y and X; index 0 on any other axis."""
    sel: list[int | slice] = []
    for i, n in enumerate(shape):
        if i in (roles.y, roles.x, roles.c):
            sel.append(slice(None))
        elif i == roles.z:
            sel.append(int(n) // 2)
        else:
            sel.append(0)
    return tuple(sel)


def to_cyx(data: np.ndarray, selection: Sequence[int | slice], roles: AxisRoles) -> np.ndarray:
    """Transpose what ``selection`` returned to (C, Y, X), whatever the stored axis order."""
    kept = [i for i, s in enumerate(selection) if isinstance(s, slice)]
    order = [kept.index(roles.y), kept.index(roles.x)]
    if roles.c is not None:
        return np.transpose(data, [kept.index(roles.c)] + order)
    return np.transpose(data, order)[np.newaxis]


def get_pixel_aspect(level: Level, roles: AxisRoles, physical_sizes: Mapping[str, float] | None = None) -> float:
    """Physical pixel height / width at this level (1.0 when unknown)."""
    if level.scale and len(level.scale) > max(roles.y, roles.x):
        sy, sx = level.scale[roles.y], level.scale[roles.x]
    elif physical_sizes:
        sy, sx = physical_sizes.get("y", 1.0), physical_sizes.get("x", 1.0)
    else:
        return 1.0
    try:
        aspect = float(sy) / float(sx)
    except (TypeError, ValueError, ZeroDivisionError):
        return 1.0
    return aspect if math.isfinite(aspect) and aspect > 0 else 1.0


@dataclass(frozen=True)
class ReadCost:
    """Upper bounds for reading a selection: chunk bytes fetched (uncompressed size), elements decoded."""

    chunks: int
    bytes: int
    pixels: int


def estimate_read(metadata: Any, selection: Sequence[int | slice]) -> ReadCost:
    """Bound the cost of ``selection`` from the chunk grid alone, before any request.

    Every touched chunk (inner chunk, for sharded arrays) is counted at its
    uncompressed size: compressed chunks are smaller, so this over-estimates
    what is fetched. Shard indexes are added per touched shard.
    """
    meta = parse_array_metadata(dict(metadata)) if isinstance(metadata, Mapping) else metadata
    shape = tuple(meta.shape)
    itemsize = int(meta.dtype.to_native_dtype().itemsize)
    sharding = None
    if meta.zarr_format == 3 and len(meta.codecs) == 1 and isinstance(meta.codecs[0], ShardingCodec):
        sharding = meta.codecs[0]
        outer = tuple(meta.chunk_grid.chunk_shape)
        chunk = tuple(sharding.chunk_shape)
    else:
        outer = None
        chunk = tuple(meta.chunks)

    def touched(grid: Sequence[int]) -> int:
        count = 1
        for s, n, c in zip(selection, shape, grid):
            count *= 1 if not isinstance(s, slice) else max(1, math.ceil(n / c))
        return count

    n_chunks = touched(chunk)
    elements = math.prod(chunk)
    total = n_chunks * elements * itemsize
    if outer is not None:
        per_shard = math.prod(o // c for o, c in zip(outer, chunk))
        total += touched(outer) * (16 * per_shard + 4)
    return ReadCost(chunks=n_chunks, bytes=total, pixels=n_chunks * elements)


def is_label_image(dataset: Dataset) -> bool:
    return dataset.kind == "labels" or bool(dataset.attributes and "image-label" in dataset.attributes)


def get_thumbnail_key(dataset: Dataset, config: ThumbnailConfig) -> str | None:
    """Content hash of everything that decides the pixels; None when there is nothing to render.

    It covers the image location, the chosen level's array document (or its
    harvested summary when the document was not fetched), axes, channel
    settings, plate layout, sizes and the renderer's version, so an
    unchanged dataset keeps its file and any change gets a new one.
    """
    if not dataset.resolutions:
        return None
    try:
        roles = get_axis_roles(dataset.axes, len(dataset.resolutions[0].shape))
        index = choose_level(dataset.resolutions, roles, config.card_size)
    except (ThumbnailSkipped, ValueError, IndexError):
        return None
    level = dataset.resolutions[index]
    material = {
        "url": dataset.url,
        "image_path": dataset.image_path,
        "kind": dataset.kind,
        "labels": is_label_image(dataset),
        "level": level.path,
        "array": dict(level.metadata) if level.metadata is not None else level.to_dict(),
        "scale": list(level.scale) if level.scale else None,
        "axes": [a.to_dict() for a in dataset.axes],
        "channels": [c.to_dict() for c in dataset.channels],
        "plate": dataset.plate.to_dict() if dataset.plate else None,
        "lowest": dataset.resolutions[-1].to_dict() if dataset.plate else None,
        "sizes": [config.card_size, config.detail_size],
        "versions": [RENDER_VERSION, THUMBNAIL_VERSION],
    }
    blob = json.dumps(material, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


# ---------------------------------------------------------------------------
# A read-only zarr store over the Fetcher


class ReadBudget:
    """Counts the bytes a read really receives; raises past ``limit`` (metadata may lie)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.bytes = 0
        self.requests = 0
        self.missing = 0

    def add(self, n: int) -> None:
        self.requests += 1
        self.bytes += n
        if self.bytes > self.limit:
            raise ThumbnailSkipped(
                f"thumbnail skipped: read {self.bytes / MB:.0f} MB of chunks, over the {self.limit / MB:.0f} MB cap "
                "(the array metadata understates the chunk sizes)"
            )


class FetcherStore(Store):
    """Read-only zarr store for ``root`` (an http(s) URL), fetching through the build's ``Fetcher``.

    A missing key (404) is None, which zarr reads as a chunk of fill value.
    Range, offset and suffix requests map onto HTTP Range, so zarr's
    partial shard reads (index, then inner chunks) work.
    """

    supports_writes = False
    supports_deletes = False
    supports_listing = False
    supports_partial_writes = False

    def __init__(self, root: str, fetcher: Fetcher, budget: ReadBudget | None = None) -> None:
        super().__init__(read_only=True)
        self.root = root.rstrip("/")
        self.fetcher = fetcher
        self.budget = budget
        self._is_open = True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FetcherStore) and other.root == self.root and other.fetcher is self.fetcher

    def __repr__(self) -> str:
        return f"FetcherStore({self.root!r})"

    def url_for(self, key: str) -> str:
        return f"{self.root}/{quote(key, safe='/')}"

    async def get(self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None) -> Buffer | None:
        rng: tuple[int | None, int | None] | None
        if byte_range is None:
            rng = None
        elif isinstance(byte_range, RangeByteRequest):
            rng = (byte_range.start, byte_range.end)
        elif isinstance(byte_range, OffsetByteRequest):
            rng = (byte_range.offset, None)
        elif isinstance(byte_range, SuffixByteRequest):
            rng = (None, byte_range.suffix)
        else:
            raise TypeError(f"unexpected byte range {byte_range!r}")
        try:
            body = await self.fetcher.get_bytes(self.url_for(key), rng)
        except FetchError as e:
            if e.status in (404, 410):
                if self.budget is not None:
                    self.budget.missing += 1
                    self.budget.add(0)
                return None
            raise
        if self.budget is not None:
            self.budget.add(len(body))
        return prototype.buffer.from_bytes(body)

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        return list(await asyncio.gather(*(self.get(k, prototype, r) for k, r in key_ranges)))

    async def exists(self, key: str) -> bool:
        try:
            await self.fetcher.get(self.url_for(key), byte_range=(0, 1), conditional=False)
        except FetchError as e:
            if e.status in (404, 410):
                return False
            raise
        return True

    async def set(self, key: str, value: Buffer) -> None:
        raise NotImplementedError("FetcherStore is read-only")

    async def delete(self, key: str) -> None:
        raise NotImplementedError("FetcherStore is read-only")

    async def _empty(self) -> AsyncIterator[str]:
        return
        yield  # pragma: no cover

    def list(self) -> AsyncIterator[str]:
        return self._empty()

    def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        return self._empty()

    def list_dir(self, prefix: str) -> AsyncIterator[str]:
        return self._empty()


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


def _thumb_paths(out_dir: Path, key: str, config: ThumbnailConfig, fmt: str) -> tuple[Path, Path]:
    folder = out_dir / THUMB_DIR
    return folder / f"{key}-{config.card_size}.{fmt}", folder / f"{key}-{config.detail_size}.{fmt}"


def find_existing(out_dir: Path, key: str, config: ThumbnailConfig) -> Thumbnail | None:
    """The thumbnail already written for ``key`` (by an earlier build), if any."""
    for fmt in ("webp", "png"):
        card, detail = _thumb_paths(out_dir, key, config, fmt)
        if card.is_file():
            try:
                with Image.open(card) as im:
                    width, height = im.size
            except OSError:
                continue  # a damaged file is rendered again
            return Thumbnail(
                key=key,
                card=f"{THUMB_DIR}/{card.name}",
                detail=f"{THUMB_DIR}/{detail.name}" if detail.is_file() else None,
                width=width,
                height=height,
            )
    return None


def _save(img: Image.Image, path: Path, fmt: str) -> None:
    # Written aside then renamed, so a crash never leaves a truncated file that a later build would reuse.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if fmt == "webp":
        # Slower methods shrink big renditions by only ~5% for 3x the encoding time.
        img.save(tmp, "WEBP", quality=82, method=4 if max(img.size) <= 256 else 0)
    else:
        img.save(tmp, "PNG", optimize=False)
    os.replace(tmp, path)


def write_renditions(detail: Image.Image, out_dir: Path, key: str, config: ThumbnailConfig, *, nearest: bool = False) -> Thumbnail:
    """Write the card (≤ card size) and, when the image is larger than a card, the detail rendition."""
    fmt = get_image_format()
    card_path, detail_path = _thumb_paths(out_dir, key, config, fmt)
    card_path.parent.mkdir(parents=True, exist_ok=True)
    if max(detail.size) > config.card_size:
        w, h = get_output_size(detail.height, detail.width, config.card_size)
        resample = Image.Resampling.NEAREST if nearest else Image.Resampling.LANCZOS
        card = detail.resize((w, h), resample)
        _save(detail, detail_path, fmt)
        detail_rel: str | None = f"{THUMB_DIR}/{detail_path.name}"
    else:
        card, detail_rel = detail, None
    _save(card, card_path, fmt)
    return Thumbnail(key=key, card=f"{THUMB_DIR}/{card_path.name}", detail=detail_rel, width=card.width, height=card.height)


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


def render_montage(
    planes: Sequence[np.ndarray],
    positions: Sequence[tuple[int, int]],
    rows: int,
    cols: int,
    channels: Sequence[Channel],
    size: int,
    labels: bool = False,
) -> Image.Image:
    """Plate layout: each plane in its (row, column) cell; empty wells dark grey. Pure (no I/O)."""
    gap = 1 if max(rows, cols) > 1 else 0
    cell = max(2, (size - gap * (max(rows, cols) + 1)) // max(rows, cols))
    native = max(max(p.shape[1], p.shape[2]) for p in planes)
    cell = min(cell, native)
    canvas = Image.new("RGB", (cols * cell + (cols + 1) * gap, rows * cell + (rows + 1) * gap), MONTAGE_BACKGROUND)
    for r in range(rows):
        for c in range(cols):
            canvas.paste(EMPTY_WELL, _cell_box(r, c, cell, gap))
    # One contrast for the whole plate, so wells can be compared.
    same = [p for p in planes if p.shape[0] == planes[0].shape[0]]
    display = get_display_channels(same, channels) if not labels else ()
    for plane, (r, c) in zip(planes, positions):
        img = render_plane(plane, display if plane.shape[0] == len(display) else channels, size=cell, labels=labels)
        x0, y0, _, _ = _cell_box(r, c, cell, gap)
        canvas.paste(img, (x0 + (cell - img.width) // 2, y0 + (cell - img.height) // 2))
    return canvas


def _cell_box(r: int, c: int, cell: int, gap: int) -> tuple[int, int, int, int]:
    x0, y0 = gap + c * (cell + gap), gap + r * (cell + gap)
    return x0, y0, x0 + cell, y0 + cell
