"""A plate's montage fields: each drawn well's first field, its lowest level and that level's array document.

The thumbnail stage draws a plate from these documents alone, so harvest reads
them here, with the requests the montage needs and no more: the fields of a
plate share their pyramid layout, so each field's lowest level is asked for at
the first field's lowest path directly; only a field where that is not found
costs its group document too. The first field's document is usually read
already (the plan has harvest read the lowest level of a small image).
"""

from __future__ import annotations

import asyncio
from typing import Any, Mapping, Sequence

from generator.harvest.parse import HarvestProblem, _join_path, is_safe_path
from generator.harvest.reader import Reader
from generator.plan import get_montage_wells
from generator.records import FieldImage, Level, Plate

# Field documents read at once for one plate: enough to keep a host's connections busy
# without holding thousands of waiting tasks for a big screen.
MONTAGE_CONCURRENCY = 16


async def get_montage(reader: Reader, plate: Plate, field_levels: Sequence[Level]) -> tuple[FieldImage, ...]:
    """The fields a plate montage draws, in plate order; a field that cannot be read is left out.

    ``field_levels`` are the levels of the plate's first field, as harvested.
    The number of fields is bounded by the plate's wells (``MAX_WELLS``).
    """
    if not field_levels:
        return ()
    lowest = field_levels[-1]
    paths = [path for path, _, _ in get_montage_wells(plate)]
    found: list[FieldImage | None] = [None] * len(paths)
    first = plate.field_paths[0] if plate.field_paths else None
    todo = iter(range(len(paths)))

    async def worker() -> None:
        for i in todo:  # a shared iterator: each field is taken once
            if paths[i] == first and lowest.metadata is not None:
                found[i] = FieldImage(paths[i], lowest.path, lowest.metadata)
                continue
            found[i] = await _read_field(reader, paths[i], lowest.path)

    await asyncio.gather(*(worker() for _ in range(min(MONTAGE_CONCURRENCY, len(paths)))))
    return tuple(f for f in found if f is not None)


async def _read_field(reader: Reader, field: str, level_path: str) -> FieldImage | None:
    try:
        doc = await _array_or_none(reader, _join_path(field, level_path))
        if doc is None:
            group = await reader.group(field)
            level_path = _last_dataset(group.ome)
            if not level_path:
                return None
            doc = await reader.array(_join_path(field, level_path))
    except HarvestProblem:
        return None  # the montage leaves this well blank and says how many were
    return FieldImage(field, level_path, doc) if isinstance(doc, dict) else None


async def _array_or_none(reader: Reader, rel: str) -> Any:
    """An array document, or None when the store has none at ``rel``."""
    if rel in reader.consolidated:
        return reader.consolidated[rel]
    name = "zarr.json" if reader.zarr_format == 3 else ".zarray"
    got = await reader.fetch(_join_path(rel, name), allow_missing=True)
    return None if got is None else got[0]


def _last_dataset(ome: Mapping[str, Any]) -> str | None:
    """The path of the last (lowest) dataset of the first multiscales, if it has one."""
    multiscales = ome.get("multiscales")
    if not isinstance(multiscales, list) or not multiscales or not isinstance(multiscales[0], dict):
        return None
    datasets = multiscales[0].get("datasets")
    if not isinstance(datasets, list) or not datasets or not isinstance(datasets[-1], dict):
        return None
    path = datasets[-1].get("path")
    return path if isinstance(path, str) and is_safe_path(path) else None
