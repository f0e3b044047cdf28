"""The OME-NGFF validator's checks over the array documents harvest read.

Every ``Level`` that carries its array document (``.zarray`` or ``zarr.json``)
is checked: same ndim and dtype as level 0, ``dimension_names`` that agree with the axes, and, for 0.2-0.4, the nested
chunk layout the spec requires of Zarr v2 arrays.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from generator.records import Dataset, Findings, Level

# OME-NGFF 0.2 made the nested chunk layout a requirement of Zarr v2 storage; 0.5 moved to Zarr v3.
NESTED_VERSIONS = ("0.2", "0.3", "0.4")


def check_levels(dataset: Dataset) -> Findings:
    """The validator's array checks, over the levels whose metadata was read."""
    levels = [lv for lv in dataset.resolutions if not lv.inferred and not lv.listed]
    if not levels:
        return Findings()
    first = levels[0]
    errors = _pyramid_errors(first, levels[1:])
    names = [a.name for a in dataset.axes]
    if names and len(names) != len(first.shape):
        errors.append(f"axes: {len(names)} axes ({','.join(names)}) but level {first.path!r} has {len(first.shape)} dimensions")
    for lv in levels:
        meta = lv.metadata
        dims = meta.get("dimension_names") if isinstance(meta, Mapping) else None
        if not isinstance(dims, (list, tuple)) or not names:
            continue
        if len(dims) != len(names) or any(d is not None and d != n for d, n in zip(dims, names)):
            errors.append(f"level {lv.path!r}: dimension_names {list(dims)} do not match the axes {names}")
    return Findings(errors=tuple(errors)) + check_separator(dataset.ngff_version, levels)


def _pyramid_errors(first: Level, rest: Sequence[Level]) -> list[str]:
    errors: list[str] = []
    for lv in rest:
        if len(lv.shape) != len(first.shape):
            errors.append(f"level {lv.path!r}: {len(lv.shape)} dimensions, but level {first.path!r} has {len(first.shape)}")
        if lv.dtype != first.dtype:
            errors.append(f"level {lv.path!r}: data type {lv.dtype}, but level {first.path!r} has {first.dtype}")
    return errors


def check_separator(version: str | None, levels: Sequence[Level]) -> Findings:
    """OME-NGFF 0.2-0.4: a Zarr v2 array must store its chunks nested (``dimension_separator`` "/")."""
    if version not in NESTED_VERSIONS:
        return Findings()
    flat = [lv.path for lv in levels if _is_flat_v2(lv.metadata)]
    if not flat:
        return Findings()
    which = ("level " if len(flat) == 1 else "levels ") + ", ".join(repr(p) for p in flat)
    return Findings.error(
        f"{which}: Zarr v2 arrays must use the nested '/' dimension separator (OME-NGFF {version}: "
        f"chunks are stored in nested folders); set \"dimension_separator\": \"/\" in each .zarray and move "
        f"every chunk file into nested folders (\"0.1.2\" becomes \"0/1/2\")"
    )


def _is_flat_v2(meta: Mapping | None) -> bool:
    if not isinstance(meta, Mapping) or meta.get("zarr_format") != 2:
        return False
    # The Zarr v2 default, when the key is left out, is ".".
    return meta.get("dimension_separator", ".") != "/"
