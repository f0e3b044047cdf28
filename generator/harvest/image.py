"""One image's multiscales: its levels' array documents, read with the fewest round trips."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Mapping

from generator.harvest.parse import (
    GroupDoc,
    HarvestProblem,
    Multiscale,
    _join_path,
    _level_written,
    infer_shape,
    parse_level,
    parse_multiscales,
)
from generator.harvest.reader import Reader
from generator.plan import get_unread_planned_level, pick_thumbnail_level
from generator.records import Level


@dataclass
class ImageFacts:
    path: str
    ome: Mapping[str, Any]
    multiscale: Multiscale
    levels: tuple[Level, ...]
    itemsize: int | None
    stats_written: int | None  # sum of _ome2024_ngff_challenge_stats over all levels, when all were read


async def _read_image(reader: Reader, group: GroupDoc, *, thumb_size: int, csv_shape: tuple[int, ...] | None, errors: list[str], need_written: bool) -> ImageFacts:
    ms = parse_multiscales(group.ome)
    errors.extend(ms.errors)
    if not ms.paths:
        raise HarvestProblem(errors.pop() if errors else "multiscales[0]: no usable datasets")
    base = group.path

    def apath(p: str) -> str:
        return _join_path(base, p)

    # Level 0 and - when the CSV tells us level 0's shape - the thumbnail level, together.
    guess_shapes = [infer_shape(csv_shape, ms.scales[0], s) if csv_shape else None for s in ms.scales] if csv_shape else []
    wanted = [0]
    if csv_shape and guess_shapes and guess_shapes[0] is not None:
        guess_shapes[0] = csv_shape
        t = pick_thumbnail_level(guess_shapes, ms.axes, thumb_size)
        if t != 0:
            wanted.append(t)
    docs: dict[int, Any] = {}
    results = await asyncio.gather(*(reader.array(apath(ms.paths[i])) for i in wanted), return_exceptions=True)
    for i, r in zip(wanted, results):
        if isinstance(r, BaseException):
            if isinstance(r, HarvestProblem) and not r.unreachable:
                # Keep what the group said (kind, version, attributes) for the report and validation.
                errors.append(r.message)
                return ImageFacts(base, group.ome, ms, (), None, None)
            raise r
        docs[i] = r
    try:
        level0, itemsize = parse_level(ms.paths[0], docs[0], reader.zarr_format or 3, ms.scales[0])
    except HarvestProblem as p:
        errors.append(p.message)
        return ImageFacts(base, group.ome, ms, (), None, None)
    shapes: list[tuple[int, ...] | None] = [infer_shape(level0.shape, ms.scales[0], s) for s in ms.scales]
    shapes[0] = level0.shape
    t = pick_thumbnail_level(shapes, ms.axes, thumb_size)
    if t not in docs:
        try:
            docs[t] = await reader.array(apath(ms.paths[t]))
        except HarvestProblem as p:
            if p.unreachable:
                raise
            errors.append(p.message)
    levels: list[Level] = []
    for i, path in enumerate(ms.paths):
        doc = docs.get(i, reader.consolidated.get(apath(path)))
        if i == 0:
            lv = level0
        elif doc is not None:
            try:
                lv = parse_level(path, doc, reader.zarr_format or 3, ms.scales[i])[0]
            except HarvestProblem as p:
                errors.append(p.message)
                continue
        else:
            shape = shapes[i]
            if shape is None:
                errors.append(f"multiscales[0].datasets[{i}]: cannot infer the shape of level {path!r} (no usable scale)")
                continue
            lv = Level(path=path, shape=shape, dtype=level0.dtype, scale=ms.scales[i], inferred=True)
        levels.append(lv)
    again = get_unread_planned_level(levels, ms.axes, thumb_size)
    if again is not None and levels[again].path not in {ms.paths[i] for i in (*wanted, t)}:
        try:
            doc = await reader.array(apath(levels[again].path))
            levels[again] = parse_level(levels[again].path, doc, reader.zarr_format or 3, levels[again].scale)[0]
        except HarvestProblem as p:
            if p.unreachable:
                raise
            errors.append(p.message)
    stats_written = None
    stats = [_level_written(lv.metadata) for lv in levels if lv.metadata is not None]
    if any(s is not None for s in stats):
        missing = [i for i, lv in enumerate(levels) if lv.inferred]
        if missing and need_written:
            # Only challenge-converted data carries these stats; read the rest to sum them honestly.
            more = await asyncio.gather(*(reader.array(apath(levels[i].path)) for i in missing), return_exceptions=True)
            for i, doc in zip(missing, more):
                if isinstance(doc, BaseException):
                    continue  # a sum over some levels would understate what was written
                try:
                    levels[i] = parse_level(levels[i].path, doc, reader.zarr_format or 3, levels[i].scale)[0]
                except HarvestProblem as p:
                    errors.append(p.message)
            stats = [_level_written(lv.metadata) for lv in levels]
            missing = [i for i, lv in enumerate(levels) if lv.inferred]
        if not missing:
            stats_written = sum(s or 0 for s in stats)
    return ImageFacts(base, group.ome, ms, tuple(levels), itemsize, stats_written)
