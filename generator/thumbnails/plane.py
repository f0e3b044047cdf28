"""One plane of one array: opened from its harvested document (no request), bounded, then read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from zarr.core.array import AsyncArray, parse_array_metadata
from zarr.storage import StorePath

from generator.config import ThumbnailConfig
from generator.fetch.http import Fetcher
from generator.plan import (
    AxisRoles,
    DefaultPlane,
    ReadCost,
    ThumbnailSkipped,
    estimate_read,
    get_axis_roles,
    get_plane_selection,
    to_cyx,
)
from generator.records import Axis
from generator.thumbnails.decode import bound_array_metadata
from generator.thumbnails.store import MB, FetcherStore, ReadBudget


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
    default: DefaultPlane = DefaultPlane(),
    shape0: Sequence[int] | None = None,
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
    selection = get_plane_selection(meta.shape, roles, default, shape0)
    store = FetcherStore(image_url, fetcher, budget)
    array = AsyncArray(metadata=meta, store_path=StorePath(store, level_path))
    return PlaneSource(array, selection, roles, estimate_read(meta, selection), store)


def check_cost(cost: ReadCost, config: ThumbnailConfig, what: str) -> None:
    # Requests first: a plane of thousands of tiny chunks is cheap in bytes and
    # ruinous in time on a slow host, and the grid says so before any request.
    if cost.requests > config.max_chunks:
        raise ThumbnailSkipped(
            f"thumbnail skipped: {what} plane needs {cost.requests} chunk requests > the cap of "
            f"{config.max_chunks} per thumbnail (--thumbnail-max-chunks)"
        )
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


def get_read_limit(config: ThumbnailConfig) -> int:
    """The bytes a read may really receive before it is aborted."""
    # Compressed chunks can exceed their raw size by a few header bytes; the estimate already used raw sizes.
    return int(config.max_bytes * 1.1) + 64 * 1024
