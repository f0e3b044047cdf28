"""Harvest: read each dataset's metadata over HTTP into a frozen ``Dataset``.

The metadata is untrusted, so it is parsed leniently into records here and
judged against the spec later (``validate``). Every problem becomes a message
on the record; nothing a host serves can make ``harvest_one`` raise.

Round trips are the cost that matters (hosts are far away, documents small):

1. the group document (``zarr.json``, or ``.zattrs`` on a 404; the format that
   worked is remembered per host and path prefix, so a Zarr v2 collection pays
   the extra probe once);
2. at the same time: level 0's array document, RO-Crate, and - when the CSV
   gives level 0's shape - the array document of the level the thumbnail will
   use. Without a CSV shape that level is chosen once level 0 is known.

Other levels get shapes inferred from the scale ratios. Consolidated metadata
(v3, inline in ``zarr.json``) replaces every follow-up request it covers.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from typing import Any, Callable, Sequence

from generator.fetch import Fetcher
from generator.harvest.image import _read_image
from generator.harvest.parse import (
    MAX_SERIES,
    OME_KEYS,
    GroupDoc,
    HarvestProblem,
    _detect_version,
    _first_well_image,
    _join_path,
    _kind,
    _series_list,
    _short,
    _term,
    _written_of,
    is_safe_path,
    parse_channels,
    parse_kept_attributes,
    parse_ome_xml_series,
    parse_plate,
    parse_rocrate,
)
from generator.harvest.reader import RECHECK_ABSENT_ROCRATE, FormatMemory, Reader
from generator.records import Axis, Dataset, Entry, Plate
from generator.sources.columns import (
    MAX_NDIM,
    _csv_written,
    dataset_from_entry,
    is_placeholder,
    parse_csv_ints,
)

# ---------------------------------------------------------------- format memory


# ---------------------------------------------------------------- small parsers


# ---------------------------------------------------------------- documents


# ---------------------------------------------------------------- array documents


# ---------------------------------------------------------------- multiscales


# ---------------------------------------------------------------- RO-Crate


# ---------------------------------------------------------------- OME-XML


# ---------------------------------------------------------------- the harvest


async def _optional(coro: Any) -> Any:
    """A document whose absence is normal: None instead of a problem."""
    try:
        return await coro
    except HarvestProblem:
        return None


async def harvest_one(entry: Entry, fetcher: Fetcher, *, thumb_size: int = 256, memory: FormatMemory | None = None) -> Dataset:
    """Harvest one dataset. Never raises for dataset problems: they go into ``errors``."""
    base = dataset_from_entry(entry)
    memory = memory if memory is not None else FormatMemory()
    errors: list[str] = []
    warnings: list[str] = []
    reader = Reader(entry.url, fetcher, memory)
    try:
        try:
            root = await reader.root()
        except HarvestProblem as p:
            return replace(base, status="unreachable" if p.unreachable else "invalid", errors=(p.message,), kind="unknown", resolutions=(), axes=(), cors=None)
        facts = await _harvest_group(entry, reader, root, base, errors, warnings, thumb_size)
        return facts
    except HarvestProblem as p:
        return replace(base, status="unreachable" if p.unreachable else "invalid", errors=tuple(errors) + (p.message,), warnings=tuple(warnings))
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise
    except Exception as e:  # last resort: a record, never a crashed build
        return replace(base, status="invalid", errors=tuple(errors) + (f"could not read the metadata: {type(e).__name__}: {e}"[:500],))


async def _harvest_group(entry: Entry, reader: Reader, root: GroupDoc, base: Dataset, errors: list[str], warnings: list[str], thumb_size: int) -> Dataset:
    fmt = root.zarr_format
    doc_name = "zarr.json" if fmt == 3 else ".zattrs"
    cors = root.response.cors if root.response is not None else None
    out = replace(base, zarr_format=fmt, cors=cors, resolutions=(), axes=(), kind="unknown")
    if fmt == 3 and not root.attrs.get("ome"):
        if any(k in root.attrs for k in OME_KEYS):
            raise HarvestProblem("no OME-NGFF metadata: zarr.json has no 'ome' attribute (its OME keys sit at the top level, as in OME-Zarr 0.4)")
        raise HarvestProblem("no OME-NGFF metadata: zarr.json has no 'ome' attribute")
    if fmt == 2 and not any(k in root.ome for k in OME_KEYS):
        if isinstance(root.attrs.get("attributes"), dict) and "ome" in root.attrs["attributes"]:
            raise HarvestProblem("no OME-NGFF metadata: .zattrs holds a Zarr v3 'attributes' object (zarr.json content in a Zarr v2 file)")
        raise HarvestProblem("no OME-NGFF metadata: .zattrs has none of " + ", ".join(repr(k) for k in OME_KEYS[:4]))
    kind = _kind(root.ome)
    version = _detect_version(root)
    out = replace(out, kind=kind, ngff_version=version)
    rocrate_coro = _optional(
        reader.fetch("ro-crate-metadata.json", allow_missing=True, recheck_absent_after=RECHECK_ABSENT_ROCRATE)
    )
    rocrate_task = asyncio.ensure_future(rocrate_coro)
    csv_shape = parse_csv_ints(entry.columns.get("shape"))
    need_written = _csv_written(entry.columns) is None
    plate: Plate | None = None
    series: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    image_group = root
    try:
        if kind == "plate":
            plate, _ = parse_plate(root.ome)
            if "bioformats2raw.layout" in root.ome:
                series = ()  # the plate's own wells are its series
            well = await reader.group(plate.well_paths[0])
            first, images = _first_well_image(well.ome, _join_path(plate.well_paths[0], doc_name))
            if not plate.fields:
                plate = replace(plate, fields=len(images))
            plate = replace(plate, field_paths=tuple(f"{w}/{first}" for w in plate.well_paths))
            image_group = await reader.group(_join_path(plate.well_paths[0], first))
            csv_shape = None  # the CSV shape of a plate describes a field, but be safe
        elif kind == "well":
            first, images = _first_well_image(root.ome, doc_name)
            image_group = await reader.group(first)
        elif kind == "bioformats2raw":
            guess = entry.columns.get("series0", "").strip() or "0"
            if not is_safe_path(guess):
                guess = "0"
            # OME/ and the likely first series at once: one round trip instead of two.
            ome_doc, guessed = await asyncio.gather(_optional(reader.group("OME")), _optional(reader.group(guess)))
            listed = _series_list(ome_doc.ome) if ome_doc is not None else None
            if listed is None:
                xml = await _optional(reader.fetch_raw("OME/METADATA.ome.xml"))
                if xml is not None:
                    try:
                        listed = parse_ome_xml_series(xml) or None
                    except HarvestProblem as p:
                        warnings.append(p.message)
            if listed is None:
                s0 = entry.columns.get("series0", "").strip()
                listed = (s0,) if s0 and is_safe_path(s0) else ("0",)
            series = listed
            first = next((s for s in series if is_safe_path(s)), None)
            if first is None:
                raise HarvestProblem("OME: no usable series path")
            image_group = guessed if (guessed is not None and first == guess) else await reader.group(first)
        elif kind == "labels" and "multiscales" not in root.ome:
            names = root.ome.get("labels")
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names[:MAX_SERIES]):
                raise HarvestProblem("labels: expected a non-empty list of label names")
            labels = tuple(names[:MAX_SERIES])
            if not is_safe_path(labels[0]):
                raise HarvestProblem(f"labels[0]: unsafe path {_short(labels[0])}")
            image_group = await reader.group(labels[0])
        if "multiscales" not in image_group.ome:
            where = _join_path(image_group.path, doc_name)
            if fmt == 3 and not image_group.attrs.get("ome"):
                raise HarvestProblem(f"no OME-NGFF metadata: {where} has no 'ome' attribute")
            raise HarvestProblem(f"{where}: no 'multiscales' metadata")
        if image_group is not root:
            inner_version = _detect_version(image_group)
            if out.ngff_version is None:
                out = replace(out, ngff_version=inner_version)
        image = await _read_image(reader, image_group, thumb_size=thumb_size, csv_shape=csv_shape if image_group is root or kind == "bioformats2raw" else None, errors=errors, need_written=need_written and kind != "plate")
    finally:
        rocrate = await rocrate_task
    # Labels listed under the image (only when consolidated metadata has them: no probing).
    lab = reader.consolidated.get(_join_path(image_group.path, "labels")) if reader.consolidated else None
    if isinstance(lab, dict) and isinstance(lab.get("attributes"), dict):
        names = (lab["attributes"].get("ome") or {}).get("labels") if isinstance(lab["attributes"].get("ome"), dict) else None
        if isinstance(names, list):
            labels = tuple(n for n in names[:MAX_SERIES] if isinstance(n, str))

    ms = image.multiscale
    axes = ms.axes
    level0 = image.levels[0] if image.levels else None
    if level0 is not None and not axes and fmt == 3 and isinstance(level0.metadata, dict):
        dn = level0.metadata.get("dimension_names")
        if isinstance(dn, list) and all(isinstance(n, str) for n in dn):
            axes = tuple(Axis(name=n[:64]) for n in dn[:MAX_NDIM])
    physical: dict[str, float] = {}
    s0 = ms.scales[0] if ms.scales else None
    if s0 is not None and len(s0) == len(axes):
        g = ms.global_scale if ms.global_scale is not None and len(ms.global_scale) == len(s0) else (1.0,) * len(s0)
        for a, v, gv in zip(axes, s0, g):
            if a.type == "space" or (a.type is None and a.name.lower() in ("x", "y", "z")):
                physical[a.name] = v * gv
    uncompressed = None
    if image.itemsize is not None and image.levels:
        uncompressed = sum(math.prod(lv.shape) for lv in image.levels) * image.itemsize
        if plate is not None:
            uncompressed *= plate.wells * max(plate.fields, 1)
    written = image.stats_written
    group_written = _written_of(root.attrs.get("_ome2024_ngff_challenge_stats"))
    if group_written is not None and kind != "plate":
        written = group_written
    if kind == "plate":
        written = None  # one field's stats say nothing measured about the whole plate
    if written is None:
        written = base.written_bytes
    channels = parse_channels(image.ome, warnings)
    crate = {}
    if rocrate is not None:
        try:
            crate = parse_rocrate(rocrate[0])
        except (AttributeError, TypeError):
            warnings.append("ro-crate-metadata.json: unexpected structure; ignored")
    container = kind in ("plate", "well", "bioformats2raw") or (kind == "labels" and image_group is not root)
    # Validate the container's own attributes too: keep them next to the image's.
    attributes = parse_kept_attributes(
        {**dict(image.ome), "_container": dict(root.ome), "_container_kind": kind} if container else dict(image.ome), errors
    )
    name = crate.get("name") or (ms.name if ms.name and ms.name.strip("/ ") and not is_placeholder(ms.name) else None) or base.name
    out = replace(
        out,
        kind=kind,
        errors=tuple(errors),
        warnings=tuple(warnings),
        status="invalid" if errors else "ok",
        name=name,
        description=crate.get("description") or base.description,
        license=crate.get("license") or base.license,
        organism=_term(crate.get("organism"), "organism") or base.organism,
        modality=_term(crate.get("modality"), "modality") or base.modality,
        image_path=image.path,
        axes=axes,
        resolutions=image.levels,
        physical_sizes=physical,
        channels=channels,
        uncompressed_bytes=uncompressed,
        written_bytes=written,
        plate=plate,
        series=series or base.series,
        labels=labels,
        rocrate=crate or None,
        attributes=attributes,
    )
    if out.ngff_version is None and ms.version:
        out = replace(out, ngff_version=ms.version)
    return out


# ---------------------------------------------------------------- offline records


# ---------------------------------------------------------------- many datasets


async def harvest(
    entries: Sequence[Entry],
    fetcher: Fetcher,
    *,
    thumb_size: int = 256,
    progress: Callable[[Dataset], None] | None = None,
) -> list[Dataset]:
    """Harvest every entry; output order is entry order.

    A fixed pool of workers pulls from the list, so memory holds the records
    and a bounded number of in-flight documents, whatever the entry count.
    The fetcher's limits bound the requests; the pool is sized to keep them busy.
    """
    results: list[Dataset | None] = [None] * len(entries)
    memory = FormatMemory()
    it = iter(range(len(entries)))

    async def worker() -> None:
        for i in it:  # a shared iterator: each index is taken once
            ds = await harvest_one(entries[i], fetcher, thumb_size=thumb_size, memory=memory)
            results[i] = ds
            if progress is not None:
                progress(ds)

    n = max(1, min(len(entries), fetcher.concurrency * 2))
    await asyncio.gather(*(worker() for _ in range(n)))
    return [r for r in results if r is not None]
