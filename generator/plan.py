"""The read plan shared by harvest and thumbnails: axis roles, level and plane choice, read cost."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from zarr.codecs.sharding import ShardingCodec
from zarr.core.array import parse_array_metadata

from generator.config import ThumbnailConfig
from generator.records import Axis, Dataset, Level
from generator.thumbnails.render import RENDER_VERSION


def yx_indices(axes: Sequence[Axis], ndim: int) -> tuple[int, int]:
    names = [a.name.lower() for a in axes] if len(axes) == ndim else []
    if "y" in names and "x" in names:
        return names.index("y"), names.index("x")
    return max(ndim - 2, 0), ndim - 1


def pick_thumbnail_level(shapes: Sequence[tuple[int, ...] | None], axes: Sequence[Axis], thumb_size: int) -> int:
    """The smallest level whose longest Y/X side is at least ``thumb_size`` (else the lowest)."""
    best = len(shapes) - 1
    for i in range(len(shapes) - 1, -1, -1):
        shape = shapes[i]
        if shape is None or len(shape) < 2:
            continue
        y, x = yx_indices(axes, len(shape))
        if max(shape[y], shape[x]) >= thumb_size:
            return i
    return best

# Part of the key: bump when plane choice or file layout changes.
THUMBNAIL_VERSION = 1


class ThumbnailSkipped(Exception):
    """An expected reason for having no thumbnail; its message becomes the dataset's warning."""


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
    return dataset.kind == "labels" or bool(dataset.documents and "image-label" in dataset.documents.image)


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
