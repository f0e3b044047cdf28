"""The OME-NGFF validator's cross-document checks: pure, over what harvest read.

A document can pass its schema while the dataset it belongs to is broken: a
multiscales naming a level whose array is missing, a level of another data
type, a pyramid that grows, a plate listing a well that is not there. Each
check takes the documents (or the levels parsed from them) and returns a
``Findings`` of errors; nothing here fetches.

The level messages are worded as ``validate`` words them, so a record
checked by both stages carries each once (``Findings`` merges equal messages).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from generator.records import Axis, Findings, Level


def check_levels_exist(
    paths: Sequence[str], arrays: Mapping[str, Mapping[str, Any] | None], doc_name: str, base: str = ""
) -> Findings:
    """Every level the multiscales names has an array document (``base``: the image's path in the dataset)."""
    errors = tuple(
        f"level {p!r}: no array at {base + '/' if base else ''}{p}/{doc_name} (the multiscales lists it, the store does not have it)"
        for p in paths
        if arrays.get(p) is None
    )
    return Findings(errors=errors)


def check_pyramid(levels: Sequence[Level]) -> Findings:
    """Same ndim and data type as the first level, and no dimension larger than the level before."""
    if not levels:
        return Findings()
    errors: list[str] = []
    first = levels[0]
    for prev, lv in zip(levels, levels[1:]):
        if len(lv.shape) != len(first.shape):
            errors.append(f"level {lv.path!r}: {len(lv.shape)} dimensions, but level {first.path!r} has {len(first.shape)}")
            continue
        if lv.dtype != first.dtype:
            errors.append(f"level {lv.path!r}: data type {lv.dtype}, but level {first.path!r} has {first.dtype}")
        if len(prev.shape) == len(lv.shape) and any(n > m for n, m in zip(lv.shape, prev.shape)):
            errors.append(
                f"level {lv.path!r}: shape {list(lv.shape)} is larger than the shape {list(prev.shape)} of level {prev.path!r} "
                "(each level of a pyramid is no larger than the one before it)"
            )
    return Findings(errors=tuple(errors))


def check_dimension_names(levels: Sequence[Level], axes: Sequence[Axis]) -> Findings:
    """Zarr v3 ``dimension_names``, where given, name the multiscales axes in order."""
    names = [a.name for a in axes]
    if not names:
        return Findings()
    errors = []
    for lv in levels:
        meta = lv.metadata
        dims = meta.get("dimension_names") if isinstance(meta, Mapping) else None
        if not isinstance(dims, list):
            continue
        if len(dims) != len(names) or any(d is not None and d != n for d, n in zip(dims, names)):
            errors.append(f"level {lv.path!r}: dimension_names {dims} do not match the axes {names}")
    return Findings(errors=tuple(errors))


def check_wells(plate_paths: Sequence[str], wells: Mapping[str, Mapping[str, Any] | None], doc_name: str) -> Findings:
    """Every sampled well path of the plate resolves to a group with ``well`` metadata."""
    errors: list[str] = []
    for path in plate_paths:
        if path not in wells:
            continue  # not sampled
        doc = wells[path]
        if doc is None:
            errors.append(f"plate.wells: well {path!r} does not resolve (no {path}/{doc_name})")
        elif not isinstance(doc.get("well"), Mapping):
            errors.append(f"plate.wells: {path}/{doc_name} has no 'well' metadata")
    return Findings(errors=tuple(errors))


def check_fields(fields: Mapping[str, Mapping[str, Any] | None], doc_name: str) -> Findings:
    """Every field image read (``well/field`` -> its OME attributes) resolves and has multiscales."""
    errors: list[str] = []
    for path, ome in fields.items():
        if ome is None:
            errors.append(f"well.images: field {path!r} does not resolve (no {path}/{doc_name})")
        elif "multiscales" not in ome:
            errors.append(f"well.images: field {path!r} has no 'multiscales' metadata ({path}/{doc_name})")
    return Findings(errors=tuple(errors))
