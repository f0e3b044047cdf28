"""One image's multiscales: its levels' array documents, read with the fewest round trips."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Mapping

from generator.harvest.parse import (
    GroupDoc,
    HarvestProblem,
    _join_path,
    _level_written,
    infer_shape,
    parse_level,
)
from generator.harvest.multiscales import Multiscale, parse_multiscales
from generator.harvest.reader import Reader
from generator.plan import get_unread_planned_level, pick_thumbnail_level
from generator.records import Findings, Level


@dataclass(frozen=True)
class ImageFacts:
    path: str
    ome: Mapping[str, Any]
    multiscale: Multiscale
    levels: tuple[Level, ...]
    itemsize: int | None
    stats_written: int | None  # sum of _ome2024_ngff_challenge_stats over all levels, when all were read


async def read_image(
    reader: Reader, group: GroupDoc, *, thumb_size: int, csv_shape: tuple[int, ...] | None, need_written: bool
) -> tuple[ImageFacts, Findings]:
    """The image in ``group``: its levels (read or inferred) and what was wrong with them.

    Raises HarvestProblem when the multiscales name no level, or the host
    stops answering or answers with no Zarr document; a level document that
    is broken is a finding instead.
    """
    ms = parse_multiscales(group.ome)
    if not ms.paths:
        errors = ms.findings.errors
        if not errors:
            raise HarvestProblem("multiscales[0]: no usable datasets", found=ms.findings)
        raise HarvestProblem(errors[-1], found=Findings(errors[:-1], ms.findings.warnings))
    try:
        facts, found = await _read_levels(reader, group, ms, thumb_size=thumb_size, csv_shape=csv_shape)
    except HarvestProblem as p:
        raise p.after(ms.findings) from None
    facts, more = await _sum_written(reader, facts, read_missing=need_written)
    found += more
    return facts, ms.findings + found


def _is_host_fault(p: HarvestProblem) -> bool:
    """A level document the host failed to serve (down, or answering with no Zarr
    document): the whole dataset's harvest stops, so its last good record can stand."""
    return p.unreachable or p.not_a_document


def _first_reads(ms: Multiscale, csv_shape: tuple[int, ...] | None, thumb_size: int) -> list[int]:
    """Level 0 and - when the CSV tells us level 0's shape - the thumbnail level, to read together."""
    wanted = [0]
    if csv_shape:
        guess_shapes = [infer_shape(csv_shape, ms.scales[0], s) for s in ms.scales]
        if guess_shapes and guess_shapes[0] is not None:
            guess_shapes[0] = csv_shape
            t = pick_thumbnail_level(guess_shapes, ms.axes, thumb_size)
            if t != 0:
                wanted.append(t)
    return wanted


async def _read_levels(
    reader: Reader, group: GroupDoc, ms: Multiscale, *, thumb_size: int, csv_shape: tuple[int, ...] | None
) -> tuple[ImageFacts, Findings]:
    base = group.path
    fmt = reader.zarr_format or 3
    # Without levels the group's facts (kind, version, attributes) still go to the report and validation.
    empty = ImageFacts(base, group.ome, ms, (), None, None)
    wanted = _first_reads(ms, csv_shape, thumb_size)
    docs: dict[int, Any] = {}
    results = await asyncio.gather(*(reader.array(_join_path(base, ms.paths[i])) for i in wanted), return_exceptions=True)
    for i, r in zip(wanted, results):
        if isinstance(r, BaseException):
            if isinstance(r, HarvestProblem) and not _is_host_fault(r):
                return empty, Findings.error(r.message)
            raise r
        docs[i] = r
    try:
        level0, itemsize = parse_level(ms.paths[0], docs[0], fmt, ms.scales[0])
    except HarvestProblem as p:
        return empty, Findings.error(p.message)
    shapes: list[tuple[int, ...] | None] = [infer_shape(level0.shape, ms.scales[0], s) for s in ms.scales]
    shapes[0] = level0.shape
    found = Findings()
    t = pick_thumbnail_level(shapes, ms.axes, thumb_size)
    if t not in docs:
        try:
            docs[t] = await reader.array(_join_path(base, ms.paths[t]))
        except HarvestProblem as p:
            if _is_host_fault(p):
                raise
            found += Findings.error(p.message)
    levels, more = _levels(reader, base, ms, docs, level0, shapes)
    levels, again = await _read_replanned(reader, base, ms, levels, thumb_size)
    return ImageFacts(base, group.ome, ms, levels, itemsize, None), found + more + again


async def _read_replanned(
    reader: Reader, base: str, ms: Multiscale, levels: tuple[Level, ...], thumb_size: int
) -> tuple[tuple[Level, ...], Findings]:
    """Read the level the plan moves to once real shapes are known (writers that round down
    make a level smaller than inferred), so the thumbnail stage never fetches a document."""
    again = get_unread_planned_level(levels, ms.axes, thumb_size)
    if again is None:
        return levels, Findings()
    lv = levels[again]
    try:
        doc = await reader.array(_join_path(base, lv.path))
        read = parse_level(lv.path, doc, reader.zarr_format or 3, lv.scale)[0]
    except HarvestProblem as p:
        if _is_host_fault(p):
            raise
        return levels, Findings.error(p.message)
    return levels[:again] + (read,) + levels[again + 1 :], Findings()


def _levels(
    reader: Reader, base: str, ms: Multiscale, docs: Mapping[int, Any], level0: Level, shapes: list[tuple[int, ...] | None]
) -> tuple[tuple[Level, ...], Findings]:
    """Every level: parsed where its document is at hand, else inferred from the scales."""
    levels: list[Level] = []
    errors: list[str] = []
    for i, path in enumerate(ms.paths):
        doc = docs.get(i, reader.consolidated.get(_join_path(base, path)))
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
    return tuple(levels), Findings(errors=tuple(errors))


async def _sum_written(reader: Reader, facts: ImageFacts, *, read_missing: bool) -> tuple[ImageFacts, Findings]:
    """Sum the challenge's written-bytes stats over all levels, reading the inferred ones if
    ``read_missing`` (nothing else says what was written)."""
    levels = list(facts.levels)
    stats = [_level_written(lv.metadata) for lv in levels if lv.metadata is not None]
    if not any(s is not None for s in stats):
        return facts, Findings()
    errors: list[str] = []
    missing = [i for i, lv in enumerate(levels) if lv.inferred]
    if missing and read_missing:
        # Only challenge-converted data carries these stats; read the rest to sum them honestly.
        more = await asyncio.gather(*(reader.array(_join_path(facts.path, levels[i].path)) for i in missing), return_exceptions=True)
        for i, doc in zip(missing, more):
            if isinstance(doc, BaseException):
                continue  # a sum over some levels would understate what was written
            try:
                levels[i] = parse_level(levels[i].path, doc, reader.zarr_format or 3, levels[i].scale)[0]
            except HarvestProblem as p:
                errors.append(p.message)
        stats = [_level_written(lv.metadata) for lv in levels]
        missing = [i for i, lv in enumerate(levels) if lv.inferred]
    written = sum(s or 0 for s in stats) if not missing else None
    facts = ImageFacts(facts.path, facts.ome, facts.multiscale, tuple(levels), facts.itemsize, written)
    return facts, Findings(errors=tuple(errors))
