"""One resolver per container kind: where the image to read is, and what the container says.

A dataset URL may point at an image, or at a group that holds images: a
plate (its first well's first field), a well (its first field), a
bioformats2raw container (its first series) or a labels group (its first
label). Each resolver reads only the container documents it needs and
returns a ``Resolved``; the record is built once, from that and the image,
in ``dataset.py``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Sequence

from generator.harvest.omexml import parse_ome_xml_series
from generator.harvest.parse import (
    MAX_SERIES,
    GroupDoc,
    HarvestProblem,
    _join_path,
    _series_list,
    _short,
    is_safe_path,
)
from generator.harvest.plates import _first_well_image, parse_plate
from generator.harvest.reader import Reader, optional
from generator.harvest.transforms import get_scene_images
from generator.records import Findings, Level, Plate
from generator.sources.columns import Listed


@dataclass(frozen=True)
class Resolved:
    """The image group to read, and the facts its container gave."""

    image: GroupDoc
    # The group the image sits in (the dataset's root), when it is not the root itself.
    container: GroupDoc | None = None
    plate: Plate | None = None
    series: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    # Whether a shape the CSV lists describes this image (not a plate's field, a well's, a label's).
    listed_shape_applies: bool = True
    found: Findings = Findings()


def _doc_name(group: GroupDoc) -> str:
    return "zarr.json" if group.zarr_format == 3 else ".zattrs"


async def resolve_plate(reader: Reader, root: GroupDoc) -> Resolved:
    plate = parse_plate(root.ome)
    well = await reader.group(plate.well_paths[0])
    first, images = _first_well_image(well.ome, _join_path(plate.well_paths[0], _doc_name(root)))
    plate = replace(
        plate,
        fields=plate.fields or len(images),
        field_paths=tuple(f"{w}/{first}" for w in plate.well_paths),
    )
    image = await reader.group(_join_path(plate.well_paths[0], first))
    # A plate's wells are its series, even under a bioformats2raw layout.
    return Resolved(image=image, container=root, plate=plate, listed_shape_applies=False)


async def resolve_well(reader: Reader, root: GroupDoc) -> Resolved:
    first, _ = _first_well_image(root.ome, _doc_name(root))
    return Resolved(image=await reader.group(first), container=root, listed_shape_applies=False)


async def resolve_bioformats2raw(reader: Reader, root: GroupDoc, series0: str | None) -> Resolved:
    """The series list (OME/, else the OME-XML, else the CSV's ``series0``) and the first series."""
    guess = series0 if series0 and is_safe_path(series0) else "0"
    # OME/ and the likely first series at once: one round trip instead of two.
    ome_doc, guessed = await asyncio.gather(optional(reader.group("OME")), optional(reader.group(guess)))
    series = _series_list(ome_doc.ome) if ome_doc is not None else None
    found = Findings()
    if series is None:
        xml = await optional(reader.fetch_raw("OME/METADATA.ome.xml"))
        if xml is not None:
            try:
                series = parse_ome_xml_series(xml) or None
            except HarvestProblem as p:
                found = Findings.warning(p.message)
    if series is None:
        series = (series0,) if series0 and is_safe_path(series0) else ("0",)
    first = next((s for s in series if is_safe_path(s)), None)
    if first is None:
        raise HarvestProblem("OME: no usable series path", found=found)
    try:
        image = guessed if (guessed is not None and first == guess) else await reader.group(first)
    except HarvestProblem as p:
        raise p.after(found) from None
    return Resolved(image=image, container=root, series=series, found=found)


async def resolve_labels(reader: Reader, root: GroupDoc) -> Resolved:
    names = root.ome.get("labels")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names[:MAX_SERIES]):
        raise HarvestProblem("labels: expected a non-empty list of label names")
    labels = tuple(names[:MAX_SERIES])
    if not is_safe_path(labels[0]):
        raise HarvestProblem(f"labels[0]: unsafe path {_short(labels[0])}")
    image = await reader.group(labels[0])
    return Resolved(image=image, container=root, labels=labels, listed_shape_applies=False)


async def resolve_scene(reader: Reader, root: GroupDoc) -> Resolved:
    """A 0.6 scene: the images its transformations connect, and the first of them read."""
    scene = root.ome.get("scene")
    images = get_scene_images(scene, MAX_SERIES) if isinstance(scene, dict) else ()
    first = next((p for p in images if is_safe_path(p)), None)
    if first is None:
        raise HarvestProblem("scene: its coordinateTransformations name no image (no 'path' in any input or output)")
    image = await reader.group(first)
    # The scene's images are listed as its series.
    return Resolved(image=image, container=root, series=images, listed_shape_applies=False)


async def resolve(kind: str, reader: Reader, root: GroupDoc, listed: Listed) -> Resolved:
    """The image of a dataset of ``kind`` (an image, or a labels group that is one, is its own)."""
    if kind == "plate":
        resolved = await resolve_plate(reader, root)
    elif kind == "well":
        resolved = await resolve_well(reader, root)
    elif kind == "bioformats2raw":
        resolved = await resolve_bioformats2raw(reader, root, listed.series0)
    elif kind == "scene":
        resolved = await resolve_scene(reader, root)
    elif kind == "labels" and "multiscales" not in root.ome:
        resolved = await resolve_labels(reader, root)
    else:
        resolved = Resolved(image=root)
    image = resolved.image
    if "multiscales" not in image.ome:
        where = _join_path(image.path, _doc_name(root))
        if root.zarr_format == 3 and not image.attrs.get("ome"):
            raise HarvestProblem(f"no OME-NGFF metadata: {where} has no 'ome' attribute", found=resolved.found)
        raise HarvestProblem(f"{where}: no 'multiscales' metadata", found=resolved.found)
    return resolved


def get_consolidated_labels(reader: Reader, image_path: str) -> tuple[str, ...] | None:
    """Labels listed under the image, when consolidated metadata has them (no probing)."""
    lab = reader.consolidated.get(_join_path(image_path, "labels")) if reader.consolidated else None
    if not isinstance(lab, dict) or not isinstance(lab.get("attributes"), dict):
        return None
    ome = lab["attributes"].get("ome")
    names = ome.get("labels") if isinstance(ome, dict) else None
    if not isinstance(names, list):
        return None
    return tuple(n for n in names[:MAX_SERIES] if isinstance(n, str))


async def get_plate_montage(reader: Reader, plate: Plate, field_levels: Sequence[Level]) -> Plate:
    """``plate`` with the fields its thumbnail montage draws, so that stage reads chunks only.

    A montage that cannot be gathered is no finding about the plate: the
    thumbnail stage says what it could not draw.
    """
    from generator.harvest.montage import get_montage

    try:
        return replace(plate, montage=await get_montage(reader, plate, field_levels))
    except HarvestProblem:
        return plate
