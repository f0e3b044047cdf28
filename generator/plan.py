"""The read plan shared by harvest and thumbnails: axis roles, level and plane choice, read cost.

Harvest reads the array documents this plan names (``pick_thumbnail_level``,
``get_montage_wells``) and the thumbnail stage reads the chunks of the same
levels (``get_level_plan``), so the two agree by construction and the
thumbnail stage needs no document of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from zarr.codecs.sharding import ShardingCodec
from zarr.core.array import parse_array_metadata

from generator.records import Axis, Level, Plate

Shape = tuple[int, ...]


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


def yx_indices(axes: Sequence[Axis], ndim: int) -> tuple[int, int]:
    """Y and X of ``get_axis_roles``; the last two dimensions when the axes say nothing usable."""
    try:
        roles = get_axis_roles(axes, ndim)
    except ThumbnailSkipped:
        return max(ndim - 2, 0), ndim - 1
    return roles.y, roles.x


@dataclass(frozen=True)
class LevelPlan:
    """Which levels the thumbnail stage reads, decided from the level shapes alone.

    ``image``: the level an image's thumbnail reads, the smallest whose
    longest Y/X side reaches the card size (ties: the first listed); when no
    level is that large, the sharpest one (level 0, which harvest always
    reads, in any sane pyramid). ``lowest``: the level a plate montage reads
    in every field.
    """

    roles: AxisRoles
    image: int
    lowest: int
    reaches_size: bool

    @property
    def prefetch(self) -> int:
        """The one level besides level 0 whose array document harvest reads for the thumbnail stage.

        When no level reaches the card size, an image is drawn from level 0 and
        the document left to read is the lowest level's: the one a plate's
        montage draws from its first field.
        """
        if not self.reaches_size and self.image == 0:
            return self.lowest
        return self.image


def _longest_sides(shapes: Sequence[Shape | None], roles: AxisRoles) -> list[int]:
    top = max(roles.y, roles.x)
    return [max(int(s[roles.y]), int(s[roles.x])) if s is not None and len(s) > top else 0 for s in shapes]


def get_level_plan_for_roles(shapes: Sequence[Shape | None], roles: AxisRoles, size: int) -> LevelPlan:
    """The plan for known axis roles; ``ThumbnailSkipped`` when no level has a Y/X shape."""
    longest = _longest_sides(shapes, roles)
    usable = [i for i, n in enumerate(longest) if n > 0]
    if not usable:
        raise ThumbnailSkipped("thumbnail skipped: no level has a Y/X shape")
    big_enough = [i for i in usable if longest[i] >= size]
    if big_enough:
        image = min(big_enough, key=lambda i: (longest[i], i))
    else:
        # Every level is smaller than a card: the largest is the sharpest and still tiny to read.
        image = max(usable, key=lambda i: (longest[i], -i))
    return LevelPlan(roles=roles, image=image, lowest=len(shapes) - 1, reaches_size=bool(big_enough))


def get_level_plan(shapes: Sequence[Shape | None], axes: Sequence[Axis], size: int) -> LevelPlan:
    """The plan for levels of these shapes (None: unknown), the axes read from level 0's rank."""
    first = next((s for s in shapes if s is not None), None)
    if first is None:
        raise ThumbnailSkipped("thumbnail skipped: no level has a Y/X shape")
    return get_level_plan_for_roles(shapes, get_axis_roles(axes, len(first)), size)


def get_image_plan(levels: Sequence[Level], axes: Sequence[Axis], size: int) -> LevelPlan:
    """The plan for a harvested image's levels (what the thumbnail stage and its key use)."""
    return get_level_plan([lv.shape for lv in levels], axes, size)


def get_unread_planned_level(levels: Sequence[Level], axes: Sequence[Axis], size: int) -> int | None:
    """The image level the plan picks from the harvested shapes when its document is still unread, else None.

    Harvest plans from inferred shapes; a level read meanwhile can turn out
    smaller than inferred (writers round down) and so move the plan. Harvest
    then reads the planned level too, so the thumbnail stage never has to.
    """
    try:
        index = get_image_plan(levels, axes, size).image
    except ThumbnailSkipped:
        return None
    return index if levels[index].metadata is None else None


def choose_level(levels: Sequence[Level], roles: AxisRoles, size: int) -> int:
    """Index of the level an image's thumbnail reads (``LevelPlan.image``)."""
    return get_level_plan_for_roles([lv.shape for lv in levels], roles, size).image


def pick_thumbnail_level(shapes: Sequence[Shape | None], axes: Sequence[Axis], thumb_size: int) -> int:
    """The level whose array document harvest reads for the thumbnail stage (``LevelPlan.prefetch``).

    Without usable axes the last two dimensions are taken as Y and X, so
    harvest still reads a small level of an array the thumbnail stage will
    turn down; with no known shape, the lowest level.
    """
    first = next((s for s in shapes if s is not None and len(s) >= 2), None)
    if first is None:
        return len(shapes) - 1
    y, x = yx_indices(axes, len(first))
    try:
        return get_level_plan_for_roles(shapes, AxisRoles(y=y, x=x), thumb_size).prefetch
    except ThumbnailSkipped:
        return len(shapes) - 1


@dataclass(frozen=True)
class DefaultPlane:
    """The plane a viewer opens first (``omero.rdefs``), as level-0 indices; None: not stated."""

    z: int | None = None
    t: int | None = None


def get_default_plane(ome: Mapping[str, Any] | None) -> DefaultPlane:
    """``omero.rdefs`` ``defaultZ``/``defaultT``, as OMERO and vizarr honour them."""
    omero = ome.get("omero") if isinstance(ome, Mapping) else None
    rdefs = omero.get("rdefs") if isinstance(omero, Mapping) else None
    if not isinstance(rdefs, Mapping):
        return DefaultPlane()

    def index(v: Any) -> int | None:
        return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None

    return DefaultPlane(z=index(rdefs.get("defaultZ")), t=index(rdefs.get("defaultT")))


def _at_level(index: int | None, n: int, n0: int | None) -> int | None:
    """A level-0 index mapped onto a level with ``n`` entries along that axis (None when out of range)."""
    if index is None or n <= 0:
        return None
    if n0 and n0 > n:
        index = index * n // n0
    return index if index < n else None


def get_plane_selection(
    shape: Sequence[int], roles: AxisRoles, default: DefaultPlane = DefaultPlane(), shape0: Sequence[int] | None = None
) -> tuple[int | slice, ...]:
    """The ``rdefs`` plane when stated and in range, else first t and middle z; all channels, Y and X; 0 elsewhere.

    ``shape0`` is level 0's shape, which the rdefs indices refer to (a level
    may be downsampled along z too).
    """
    sel: list[int | slice] = []
    for i, n in enumerate(shape):
        n0 = shape0[i] if shape0 is not None and len(shape0) == len(shape) else None
        if i in (roles.y, roles.x, roles.c):
            sel.append(slice(None))
        elif i == roles.z:
            z = _at_level(default.z, int(n), n0)
            sel.append(z if z is not None else int(n) // 2)
        elif i == roles.t:
            t = _at_level(default.t, int(n), n0)
            sel.append(t if t is not None else 0)
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
    """Upper bounds for reading a selection: chunk bytes fetched (uncompressed size), elements decoded,
    and requests made (every chunk, plus each touched shard's index)."""

    chunks: int
    bytes: int
    pixels: int
    requests: int = 0


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
    requests = n_chunks
    if outer is not None:
        per_shard = math.prod(o // c for o, c in zip(outer, chunk))
        total += touched(outer) * (16 * per_shard + 4)
        requests += touched(outer)
    return ReadCost(chunks=n_chunks, bytes=total, pixels=n_chunks * elements, requests=requests)


def get_montage_wells(plate: Plate) -> list[tuple[str, int, int]]:
    """(field path, row, column) of the field a plate montage draws in each well, in plate order.

    A well's field is its first harvested field image (``Plate.field_paths``);
    wells with none, or outside the grid, are not drawn.
    """
    first_field: dict[str, str] = {}
    for f in plate.field_paths:
        parts = f.split("/")
        for k in range(1, len(parts)):
            first_field.setdefault("/".join(parts[:k]), f)
    _, _, wells = get_plate_grid(plate)
    return [(first_field[w.rstrip("/")], r, c) for w, r, c in wells if w.rstrip("/") in first_field]


def get_plate_grid(plate: Plate) -> tuple[list[str], list[str], list[tuple[str, int, int]]]:
    """Row names, column names and (well path, row, column) for every well of a plate.

    Positions come from the well path "<row>/<column>" looked up in the
    plate's row and column names (derived from the paths when absent).
    """
    pairs = [(w, *w.strip("/").split("/")[:2]) for w in plate.well_paths if w.count("/") >= 1]
    rows = list(plate.row_names) or sorted({r for _, r, _ in pairs})
    cols = list(plate.column_names) or sorted({c for _, _, c in pairs}, key=lambda c: (len(c), c))
    row_of = {name: i for i, name in reversed(list(enumerate(rows)))}
    col_of = {name: i for i, name in reversed(list(enumerate(cols)))}
    wells = [(w, row_of[r], col_of[c]) for w, r, c in pairs if r in row_of and c in col_of]
    return rows, cols, wells
