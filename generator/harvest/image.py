"""One image's multiscales: every level's array document, read in one round trip."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from generator.harvest.parse import (
    GroupDoc,
    HarvestProblem,
    _join_path,
    _kept_array_document,
    _level_written,
    parse_level,
)
from generator.harvest.multiscales import Multiscale, parse_multiscales
from generator.harvest.reader import Reader
from generator.harvest.structure import check_dimension_names, check_levels_exist, check_pyramid
from generator.readonly import freeze
from generator.records import Findings, Level


@dataclass(frozen=True)
class ImageFacts:
    path: str
    ome: Mapping[str, Any]
    multiscale: Multiscale
    levels: tuple[Level, ...]
    itemsize: int | None
    stats_written: int | None  # sum of _ome2024_ngff_challenge_stats over all levels, when all have them
    # Level path -> array document as served (kept within bounds), None where missing.
    arrays: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)


async def read_image(reader: Reader, group: GroupDoc) -> tuple[ImageFacts, Findings]:
    """The image in ``group``: every level's array document, read at once, and what was wrong.

    One round trip after the group document, whatever the number of levels:
    real shapes for every level (writers that round down make a level
    smaller than its scale says), and the validator's cross-document checks.
    Raises HarvestProblem when the multiscales name no level, or the host
    stops answering or answers with no Zarr document; a level document that
    is missing or broken is a finding instead.
    """
    ms = parse_multiscales(group.ome)
    if not ms.paths:
        errors = ms.findings.errors
        if not errors:
            raise HarvestProblem("multiscales[0]: no usable datasets", found=ms.findings)
        raise HarvestProblem(errors[-1], found=Findings(errors[:-1], ms.findings.warnings))
    try:
        facts, found = await _read_levels(reader, group, ms)
    except HarvestProblem as p:
        raise p.after(ms.findings) from None
    return facts, ms.findings + found


def _is_host_fault(p: HarvestProblem) -> bool:
    """A level document the host failed to serve (down, or answering with no Zarr
    document): the whole dataset's harvest stops, so its last good record can stand."""
    return p.unreachable or p.not_a_document


async def _read_levels(reader: Reader, group: GroupDoc, ms: Multiscale) -> tuple[ImageFacts, Findings]:
    base = group.path
    fmt = reader.zarr_format or 3
    results = await asyncio.gather(*(reader.array(_join_path(base, p)) for p in ms.paths), return_exceptions=True)
    arrays: dict[str, Mapping[str, Any] | None] = {}
    levels: list[Level] = []
    itemsize: int | None = None
    errors: list[str] = []
    for i, (path, r) in enumerate(zip(ms.paths, results)):
        if isinstance(r, BaseException):
            if not isinstance(r, HarvestProblem) or _is_host_fault(r):
                raise r
            arrays[path] = None
            if "not found" not in r.message:
                errors.append(r.message)
            continue
        # Frozen once: the level's metadata and the validator's copy are the same object.
        r = freeze(_kept_array_document(r)) if isinstance(r, dict) else r
        arrays[path] = r if isinstance(r, dict) else None
        try:
            lv, size = parse_level(path, r, fmt, ms.scales[i])
        except HarvestProblem as p:
            errors.append(p.message)
            continue
        separator = r.get("dimension_separator") if fmt == 2 else None
        levels.append(replace(lv, dimension_separator=separator if isinstance(separator, str) else None))
        if i == 0:
            itemsize = size
    doc_name = "zarr.json" if fmt == 3 else ".zarray"
    found = check_levels_exist(ms.paths, arrays, doc_name, base) + Findings(errors=tuple(errors))
    if not levels or levels[0].path != ms.paths[0]:
        # Without level 0 the record has no array facts; its group still goes to validation.
        return ImageFacts(base, group.ome, ms, (), None, None, arrays), found
    found += check_pyramid(levels) + check_dimension_names(levels, ms.axes)
    stats = [_level_written(lv.metadata) for lv in levels]
    written = sum(s or 0 for s in stats) if len(levels) == len(ms.paths) and all(s is not None for s in stats) else None
    return ImageFacts(base, group.ome, ms, tuple(levels), itemsize, written, arrays), found
