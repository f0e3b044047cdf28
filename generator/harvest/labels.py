"""An image's ``labels`` group and its label images, found by reading, not only listing.

Zarr v3 consolidated metadata lists the labels group when it has one; other
datasets (every Zarr v2 one) are asked for ``labels/zarr.json`` or
``labels/.zattrs`` directly, at the same time as the image's levels, so the
label images cost one more round trip only when there are labels.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Mapping

from generator.harvest.parse import MAX_STRING, GroupDoc, HarvestProblem, _join_path, _json_size, _short, is_safe_path
from generator.harvest.reader import RECHECK_ABSENT_ROCRATE, Reader
from generator.records import Findings, LabelColor, LabelImage

# Label images read per image: a cell atlas may list many, the page shows their names.
MAX_LABEL_IMAGES = 64
# Colours and properties kept per label image (a segmentation of 10^5 cells lists 10^5).
MAX_LABEL_ENTRIES = 1024
# A missing labels group is the common case: believed for a week, like a missing RO-Crate.
RECHECK_ABSENT_LABELS = RECHECK_ABSENT_ROCRATE


async def find_labels_group(reader: Reader, image_path: str) -> GroupDoc | None:
    """The ``labels`` group under ``image_path``, or None when there is none."""
    rel = _join_path(image_path, "labels")
    fmt = reader.zarr_format or 3
    if reader.consolidated:
        doc = reader.consolidated.get(rel)
        return reader._group(rel, fmt, doc, None) if isinstance(doc, dict) and fmt == 3 else None
    name = _join_path(rel, "zarr.json" if fmt == 3 else ".zattrs")
    try:
        got = await reader.fetch(name, allow_missing=True, recheck_absent_after=RECHECK_ABSENT_LABELS)
    except HarvestProblem as p:
        if p.unreachable or p.not_a_document:
            raise
        return None
    if got is None:
        return None
    try:
        return reader._group(rel, fmt, got[0], got[1])
    except HarvestProblem:
        return None


def parse_label_names(ome: Mapping[str, Any], where: str) -> tuple[tuple[str, ...], Findings]:
    """The ``labels`` list of a labels group: usable names, and an error for each unusable one."""
    names = ome.get("labels")
    if not isinstance(names, list):
        return (), Findings.error(f"{where}: 'labels' is missing or not a list")
    out: list[str] = []
    errors: list[str] = []
    for i, n in enumerate(names[:MAX_LABEL_IMAGES]):
        if isinstance(n, str) and is_safe_path(n):
            out.append(n)
        else:
            errors.append(f"{where}: labels[{i}]: not a usable label path {_short(n)}")
    return tuple(out), Findings(errors=tuple(errors))


def parse_label_image(name: str, ome: Mapping[str, Any]) -> LabelImage:
    """A label image's ``image-label`` colours and properties, bounded and lenient."""
    il = ome.get("image-label")
    il = il if isinstance(il, dict) else {}
    colors = []
    raw_colors = il.get("colors") if isinstance(il.get("colors"), list) else []
    for c in raw_colors:
        if len(colors) >= MAX_LABEL_ENTRIES:
            break
        value, rgba = (c.get("label-value"), c.get("rgba")) if isinstance(c, dict) else (None, None)
        if not _is_number(value) or not _is_rgba(rgba):
            continue
        colors.append(LabelColor(label_value=value, rgba=tuple(int(v) for v in rgba)))  # type: ignore[arg-type]
    raw_props = il.get("properties") if isinstance(il.get("properties"), list) else []
    props = [p for p in raw_props[:MAX_LABEL_ENTRIES] if isinstance(p, dict) and _json_size(p) <= MAX_STRING]
    return LabelImage(name=name, colors=tuple(colors), properties=tuple(props), has_multiscales="multiscales" in ome)


async def read_labels(reader: Reader, group: GroupDoc) -> tuple[tuple[str, ...], tuple[LabelImage, ...], Findings]:
    """The label names of ``group`` (a labels group) and each label image's document, read at once."""
    where = _join_path(group.path, "zarr.json" if group.zarr_format == 3 else ".zattrs")
    names, found = parse_label_names(group.ome, where)
    results = await asyncio.gather(*(reader.group(_join_path(group.path, n)) for n in names), return_exceptions=True)
    images: list[LabelImage] = []
    for n, r in zip(names, results):
        if isinstance(r, BaseException):
            if not isinstance(r, HarvestProblem) or r.unreachable or r.not_a_document:
                raise r
            found += Findings.error(f"labels: label image {n!r} does not resolve ({r.message})")
            continue
        image = parse_label_image(n, r.ome)
        if not image.has_multiscales:
            found += Findings.error(f"labels: label image {n!r} has no 'multiscales' metadata")
        images.append(image)
    return names, tuple(images), found


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_rgba(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 4 and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 255 for x in v)
