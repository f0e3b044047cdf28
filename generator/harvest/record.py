"""The harvested record, built once from the facts read: the described image, the other series, RO-Crate."""

from __future__ import annotations

from typing import Any, Mapping

from generator.harvest.containers import Resolved
from generator.harvest.image import ImageFacts
from generator.harvest.omero import get_window_findings
from generator.harvest.parse import GroupDoc, _detect_version
from generator.harvest.rocrate import _term, parse_rocrate
from generator.harvest.totals import get_uncompressed, get_written, is_file_name
from generator.records import Axis, Dataset, Documents, Entry, Findings
from generator.sources.columns import (
    MAX_NDIM,
    Listed,
    get_endpoint,
    is_placeholder,
    url_name,
)


def parse_crate_facts(rocrate: tuple[Any, Any] | None) -> tuple[dict[str, Any], Findings]:
    if rocrate is None:
        return {}, Findings()
    try:
        return parse_rocrate(rocrate[0]), Findings()
    except (AttributeError, TypeError):
        return {}, Findings.warning("ro-crate-metadata.json: unexpected structure; ignored")


def make_record(
    entry: Entry,
    listed: Listed,
    root: GroupDoc,
    kind: str,
    resolved: Resolved,
    images: tuple[ImageFacts, ...],
    crate: Mapping[str, Any],
    channels: tuple,
    found: Findings,
) -> Dataset:
    """The harvested record, built once from the described image (and the other series read).

    The name is what the submitter wrote in the reviewed CSV, else the
    RO-Crate's, else a multiscales name that is more than a file name, else
    the URL's last segment."""
    image = images[0]
    ms = image.multiscale
    axes = _axes_of(image, root.zarr_format)
    version = _detect_version(root)
    if version is None and resolved.image is not root:
        version = _detect_version(resolved.image)
    ms_name = ms.name if ms.name and ms.name.strip("/ ") and not is_placeholder(ms.name) else None
    if ms_name is not None and is_file_name(ms_name, entry.url, image.path):
        ms_name = None
    container = resolved.container
    # The reader bounded what the groups keep as they entered; say what it dropped.
    found = found + resolved.image.findings + (container.findings if container is not None else Findings())
    found += get_window_findings(channels, image.levels[0].dtype if image.levels else None)
    return Dataset(
        url=entry.url,
        source=entry.source,
        collection=entry.collection,
        listings=entry.listings,
        kind=kind,  # type: ignore[arg-type]
        errors=found.errors,
        warnings=found.warnings,
        ngff_version=version if version is not None else (ms.version or None),
        zarr_format=root.zarr_format,
        name=listed.name or crate.get("name") or ms_name or url_name(entry.url),
        description=crate.get("description") or listed.description,
        license=crate.get("license") or listed.license,
        origin=listed.origin,
        organism=_term(crate.get("organism"), "organism") or listed.organism,
        modality=_term(crate.get("modality"), "modality") or listed.modality,
        image_path=image.path,
        axes=axes,
        resolutions=image.levels,
        physical_sizes=_physical_sizes(image, axes),
        channels=channels,
        uncompressed_bytes=get_uncompressed(images, resolved.plate),
        written_bytes=get_written(images, root, kind, listed),
        plate=resolved.plate,
        series=resolved.series or listed.series,
        labels=resolved.labels,
        rocrate=crate or None,
        cors=root.response.cors if root.response is not None else None,
        documents=Documents(
            image=image.ome,
            container=container.ome if container is not None else None,
            container_kind=kind if container is not None else None,  # type: ignore[arg-type]
            arrays=image.arrays,
        ),
        series_read=len(images) if kind == "bioformats2raw" else 0,
        endpoint=get_endpoint(entry),
    )


def _axes_of(image: ImageFacts, zarr_format: int) -> tuple[Axis, ...]:
    """The multiscales' axes; failing those, level 0's ``dimension_names`` (Zarr v3)."""
    axes = image.multiscale.axes
    level0 = image.levels[0] if image.levels else None
    if level0 is not None and not axes and zarr_format == 3 and isinstance(level0.metadata, dict):
        dn = level0.metadata.get("dimension_names")
        if isinstance(dn, list) and all(isinstance(n, str) for n in dn):
            axes = tuple(Axis(name=n[:64]) for n in dn[:MAX_NDIM])
    return axes


def _physical_sizes(image: ImageFacts, axes: tuple[Axis, ...]) -> dict[str, float]:
    """Level 0's pixel size per space axis, and its step per time axis."""
    ms = image.multiscale
    s0 = ms.scales[0] if ms.scales else None
    if s0 is None or len(s0) != len(axes):
        return {}
    g = ms.global_scale if ms.global_scale is not None and len(ms.global_scale) == len(s0) else (1.0,) * len(s0)
    return {
        a.name: v * gv
        for a, v, gv in zip(axes, s0, g)
        if a.type in ("space", "time") or (a.type is None and a.name.lower() in ("x", "y", "z", "t"))
    }
