"""One resolver per container kind: where the image to read is, and what the container says.

A dataset URL may point at an image, or at a group that holds images: a
plate (a sample of its wells, one field each, the first described), a well
(its first field), a bioformats2raw container (its first series described,
the others read for their sizes) or a labels group (its first label). Each resolver reads only the container documents it needs and
returns a ``Resolved``; the record is built once, from that and the image,
in ``dataset.py``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from generator.config import PLATE_WELLS
from generator.harvest.image import ImageFacts, read_image
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
from generator.harvest.plates import _first_well_image, get_well_sample, parse_plate
from generator.harvest.structure import check_fields, check_wells
from generator.harvest.reader import Reader, optional
from generator.harvest.transforms import get_scene_images
from generator.records import Findings, Level, Plate
from generator.sources.columns import Listed


# Series of a bioformats2raw container whose images are read; sizes sum over them.
SERIES_READ = 64


@dataclass(frozen=True)
class Resolved:
    """The image group to read, and the facts its container gave."""

    image: GroupDoc
    # The group the image sits in (the dataset's root), when it is not the root itself.
    container: GroupDoc | None = None
    plate: Plate | None = None
    series: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    found: Findings = Findings()


def _doc_name(group: GroupDoc) -> str:
    return "zarr.json" if group.zarr_format == 3 else ".zattrs"


async def get_groups(reader: Reader, rels: Sequence[str]) -> tuple[dict[str, GroupDoc | None], Findings]:
    """The groups at ``rels``, read at once: None where missing or broken (a broken one is an error).

    Raises the host's faults (down, or no Zarr document), as every read does.
    """
    results = await asyncio.gather(*(reader.group(r) for r in rels), return_exceptions=True)
    out: dict[str, GroupDoc | None] = {}
    errors: list[str] = []
    for rel, r in zip(rels, results):
        if isinstance(r, BaseException):
            if not isinstance(r, HarvestProblem) or r.unreachable or r.not_a_document:
                raise r
            if "not found" not in r.message:
                errors.append(r.message)
            out[rel] = None
        else:
            out[rel] = r
    return out, Findings(errors=tuple(errors))


def _well_images(well: GroupDoc | None, where: str) -> tuple[list[str] | None, Findings]:
    if well is None or not isinstance(well.ome.get("well"), dict):
        return None, Findings()  # check_wells says so
    try:
        _first_well_image(well.ome, where)
    except HarvestProblem as p:
        return None, Findings.error(p.message)
    images = well.ome["well"]["images"][:MAX_SERIES]
    return [im["path"] for im in images if isinstance(im, dict) and isinstance(im.get("path"), str) and is_safe_path(im["path"])], Findings()


async def resolve_plate(reader: Reader, root: GroupDoc, sample_size: int | None = PLATE_WELLS) -> Resolved:
    """The plate's wells for a sample spread across it, one field image per sampled well, and
    the first of those fields as the image the record describes.

    Fields are picked at rotating positions (well k reads its field k mod n),
    so a sample also covers the later fields of uneven wells.
    """
    plate = parse_plate(root.ome)
    doc = _doc_name(root)
    sampled = [plate.well_paths[i] for i in get_well_sample(len(plate.well_paths), sample_size)]
    wells, found = await get_groups(reader, sampled)
    found += check_wells(sampled, {w: (g.ome if g is not None else None) for w, g in wells.items()}, doc)
    images_of: dict[str, list[str]] = {}
    for w in sampled:
        images, more = _well_images(wells[w], _join_path(w, doc))
        found += more
        if images:
            images_of[w] = images
    if not images_of:
        raise HarvestProblem(f"plate: none of the {len(sampled)} wells read has a usable field image", found=found)
    picks = [f"{w}/{imgs[k % len(imgs)]}" for k, (w, imgs) in enumerate(images_of.items())]
    fields, more = await get_groups(reader, picks)
    found += more + check_fields({p: (g.ome if g is not None else None) for p, g in fields.items()}, doc)
    image = next((fields[p] for p in picks if fields[p] is not None and "multiscales" in fields[p].ome), None)  # type: ignore[union-attr]
    if image is None:
        raise HarvestProblem(f"plate: none of the {len(picks)} field images read has 'multiscales' metadata", found=found)
    plate = replace(plate, **get_plate_counts(plate, sampled, images_of), field_paths=_field_paths(plate, images_of, image.path))
    # A plate's wells are its series, even under a bioformats2raw layout.
    return Resolved(image=image, container=root, plate=plate, found=found)


def get_plate_counts(plate: Plate, sampled: Sequence[str], images_of: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Fields per well and over the plate, from the wells read; extrapolated when they were a sample."""
    counted = sum(len(v) for v in images_of.values())
    estimated = len(sampled) < len(plate.well_paths)
    total = round(counted * len(plate.well_paths) / len(sampled)) if estimated else counted
    most = max((len(v) for v in images_of.values()), default=0)
    return {"fields": plate.fields or min(most, MAX_SERIES), "wells_read": len(sampled), "field_total": total, "estimated": estimated}


def _field_paths(plate: Plate, images_of: Mapping[str, Sequence[str]], image_path: str) -> tuple[str, ...]:
    """Each well's first field: as read, else named like the described image's."""
    first = image_path.rsplit("/", 1)[-1]
    return tuple(f"{w}/{images_of[w][0]}" if w in images_of else f"{w}/{first}" for w in plate.well_paths)


async def resolve_well(reader: Reader, root: GroupDoc) -> Resolved:
    first, _ = _first_well_image(root.ome, _doc_name(root))
    return Resolved(image=await reader.group(first), container=root)


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


async def read_more_series(reader: Reader, resolved: Resolved, cap: int = SERIES_READ) -> tuple[tuple[ImageFacts, ...], Findings]:
    """The images of a bioformats2raw container's series after the first, up to ``cap`` in all,
    read at once (each: its group, then its levels). A series that is missing or
    broken is an error naming it; the host's faults stop the harvest as usual."""
    first = resolved.image.path
    rest = [s for s in resolved.series if is_safe_path(s) and s != first][: max(cap - 1, 0)]
    results = await asyncio.gather(*(_read_series(reader, s) for s in rest), return_exceptions=True)
    images: list[ImageFacts] = []
    found = Findings()
    for s, r in zip(rest, results):
        if isinstance(r, BaseException):
            if not isinstance(r, HarvestProblem) or r.unreachable or r.not_a_document:
                raise r
            found += _prefixed(f"series {s!r}: ", r.found + Findings.error(r.message))
            continue
        image, more = r
        found += _prefixed(f"series {s!r}: ", more)
        images.append(image)
    if len(resolved.series) > cap:
        found += Findings.warning(f"bioformats2raw: {len(resolved.series)} series; the first {cap} were read, sizes sum over those")
    return tuple(images), found


async def _read_series(reader: Reader, path: str) -> tuple[ImageFacts, Findings]:
    group = await reader.group(path)
    if "multiscales" not in group.ome:
        raise HarvestProblem(f"{_join_path(path, _doc_name(group))}: no 'multiscales' metadata")
    return await read_image(reader, group)


def _prefixed(prefix: str, found: Findings) -> Findings:
    return Findings(tuple(prefix + m for m in found.errors), tuple(prefix + m for m in found.warnings))


async def resolve_labels(reader: Reader, root: GroupDoc) -> Resolved:
    names = root.ome.get("labels")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names[:MAX_SERIES]):
        raise HarvestProblem("labels: expected a non-empty list of label names")
    labels = tuple(names[:MAX_SERIES])
    if not is_safe_path(labels[0]):
        raise HarvestProblem(f"labels[0]: unsafe path {_short(labels[0])}")
    image = await reader.group(labels[0])
    return Resolved(image=image, container=root, labels=labels)


async def resolve_scene(reader: Reader, root: GroupDoc) -> Resolved:
    """A 0.6 scene: the images its transformations connect, and the first of them read."""
    scene = root.ome.get("scene")
    images = get_scene_images(scene, MAX_SERIES) if isinstance(scene, dict) else ()
    first = next((p for p in images if is_safe_path(p)), None)
    if first is None:
        raise HarvestProblem("scene: its coordinateTransformations name no image (no 'path' in any input or output)")
    image = await reader.group(first)
    # The scene's images are listed as its series.
    return Resolved(image=image, container=root, series=images)


async def resolve(kind: str, reader: Reader, root: GroupDoc, listed: Listed, *, plate_wells: int | None = PLATE_WELLS) -> Resolved:
    """The image of a dataset of ``kind`` (an image, or a labels group that is one, is its own).

    ``plate_wells``: how many of a plate's wells to read (None: all)."""
    if kind == "plate":
        resolved = await resolve_plate(reader, root, plate_wells)
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
