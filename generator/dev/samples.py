"""Write small, real OME-Zarr datasets with zarr-python.

Used by ``ngff-catalog demo`` (which must work with no internet), by the
tests (which serve what these write over a real local HTTP server) and by
the benchmarks. Every writer goes through zarr-python, so the bytes on disk
are what a real producer would publish.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import zarr

AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
AXIS_UNITS = {"t": "second", "z": "micrometer", "y": "micrometer", "x": "micrometer"}


@dataclass(frozen=True)
class ChannelSpec:
    label: str
    color: str  # RRGGBB
    start: float
    end: float
    active: bool = True

    def to_omero(self, dtype: np.dtype) -> dict[str, Any]:
        lo, hi = _dtype_range(dtype)
        return {
            "label": self.label,
            "color": self.color,
            "active": self.active,
            "window": {"start": self.start, "end": self.end, "min": lo, "max": hi},
        }


def _dtype_range(dtype: np.dtype) -> tuple[float, float]:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return float(info.min), float(info.max)
    return 0.0, 1.0


def _downsample(data: np.ndarray, axes: str) -> np.ndarray:
    index = tuple(slice(None, None, 2) if a in "yx" else slice(None) for a in axes)
    return data[index]


def _axes_meta(axes: str) -> list[dict[str, str]]:
    out = []
    for a in axes:
        d = {"name": a, "type": AXIS_TYPES[a]}
        if a in AXIS_UNITS:
            d["unit"] = AXIS_UNITS[a]
        out.append(d)
    return out


def write_image(
    path: Path,
    data: np.ndarray,
    *,
    axes: str = "cyx",
    version: str = "0.5",
    levels: int = 3,
    chunks: Sequence[int] | None = None,
    shards: Sequence[int] | None = None,
    channels: Sequence[ChannelSpec] | None = None,
    pixel_size: Sequence[float] | None = None,
    name: str | None = None,
    extra_attrs: dict[str, Any] | None = None,
    labels: dict[str, np.ndarray] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Path:
    """Write ``data`` as an OME-Zarr image with a 2x YX pyramid.

    ``version`` "0.5" writes Zarr v3 (``zarr.json``, attributes under "ome");
    "0.4" writes Zarr v2 (``.zattrs`` / ``.zarray``). ``shards`` needs 0.5.
    ``path`` may be an fsspec URL (``s3://bucket/x.zarr``) with its ``storage_options``.
    """
    if len(axes) != data.ndim:
        raise ValueError(f"axes {axes!r} do not match data ndim {data.ndim}")
    zarr_format = 3 if version != "0.4" else 2
    if shards is not None and zarr_format == 2:
        raise ValueError("sharding needs Zarr v3 (OME-Zarr 0.5)")
    remote = {"storage_options": storage_options} if storage_options else {}
    group = zarr.open_group(str(path), mode="w", zarr_format=zarr_format, **remote)
    base_scale = list(pixel_size) if pixel_size is not None else [1.0] * len(axes)
    datasets = []
    level_data = data
    for i in range(levels):
        shape = level_data.shape
        level_chunks = tuple(min(c, n) for c, n in zip(chunks, shape)) if chunks else None
        kwargs: dict[str, Any] = {"chunks": level_chunks or "auto"}
        if zarr_format == 3:
            kwargs["dimension_names"] = list(axes)
            if shards is not None:
                level_chunks = level_chunks or tuple(shape)
                kwargs["chunks"] = level_chunks
                # A shard must hold whole chunks.
                kwargs["shards"] = tuple(
                    max(c, min(s, -(-n // c) * c)) for s, c, n in zip(shards, level_chunks, shape)
                )
        else:
            kwargs["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
        arr = group.create_array(str(i), shape=shape, dtype=level_data.dtype, fill_value=0, **kwargs)
        arr[...] = level_data
        factor = 2**i
        scale = [s * factor if a in "yx" else s for s, a in zip(base_scale, axes)]
        datasets.append({"path": str(i), "coordinateTransformations": [{"type": "scale", "scale": scale}]})
        level_data = _downsample(level_data, axes)
    multiscale: dict[str, Any] = {"axes": _axes_meta(axes), "datasets": datasets}
    if name:
        multiscale["name"] = name
    if version == "0.4":
        multiscale["version"] = "0.4"
    ome: dict[str, Any] = {"multiscales": [multiscale]}
    if channels:
        ome["omero"] = {"channels": [c.to_omero(data.dtype) for c in channels], "rdefs": {"model": "color"}}
        if version == "0.4":
            ome["omero"]["version"] = "0.4"
    _set_ome_attrs(group, ome, version, extra_attrs)
    if labels:
        _write_labels(group, labels, axes=axes, version=version, pixel_size=base_scale)
    return Path(path) if not remote else path  # type: ignore[return-value]


def _set_ome_attrs(group: zarr.Group, ome: dict[str, Any], version: str, extra: dict[str, Any] | None) -> None:
    if version == "0.4":
        attrs = dict(ome)
    else:
        attrs = {"ome": {"version": version, **ome}}
    if extra:
        attrs.update(extra)
    group.attrs.update(attrs)


def _write_labels(group: zarr.Group, labels: dict[str, np.ndarray], *, axes: str, version: str, pixel_size: list[float]) -> None:
    zarr_format = group.metadata.zarr_format
    labels_group = group.require_group("labels")
    names = list(labels)
    _set_ome_attrs(labels_group, {"labels": names}, version, None)
    for label_name, mask in labels.items():
        sub = labels_group.require_group(label_name)
        level = mask
        datasets = []
        for i in range(2):
            kwargs: dict[str, Any] = {"chunks": "auto"}
            if zarr_format == 3:
                kwargs["dimension_names"] = list(axes)
            else:
                kwargs["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
            arr = sub.create_array(str(i), shape=level.shape, dtype=level.dtype, fill_value=0, **kwargs)
            arr[...] = level
            scale = [s * 2**i if a in "yx" else s for s, a in zip(pixel_size, axes)]
            datasets.append({"path": str(i), "coordinateTransformations": [{"type": "scale", "scale": scale}]})
            level = _downsample(level, axes)
        ms: dict[str, Any] = {"axes": _axes_meta(axes), "datasets": datasets, "name": label_name}
        if version == "0.4":
            ms["version"] = "0.4"
        ids = [int(v) for v in np.unique(mask)[:16] if v]
        image_label = {"colors": [{"label-value": v, "rgba": [(37 * v) % 256, (91 * v) % 256, (173 * v) % 256, 255]} for v in ids], "source": {"image": "../../"}}
        if version == "0.4":
            image_label["version"] = "0.4"
        _set_ome_attrs(sub, {"multiscales": [ms], "image-label": image_label}, version, None)


def write_plate(
    path: Path,
    *,
    rows: Sequence[str] = ("A", "B"),
    columns: Sequence[str] = ("1", "2", "3"),
    wells: Sequence[tuple[str, str]] | None = None,
    fields: int = 1,
    version: str = "0.5",
    field_shape: tuple[int, ...] = (2, 64, 64),
    axes: str = "cyx",
    seed: int = 0,
    name: str = "plate",
    channels: Sequence[ChannelSpec] | None = None,
    levels: int = 2,
) -> Path:
    """Write an HCS plate; every well gets ``fields`` images of ``field_shape``."""
    zarr_format = 3 if version != "0.4" else 2
    group = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    wells = list(wells) if wells is not None else [(r, c) for r in rows for c in columns]
    rng = np.random.default_rng(seed)
    well_meta = []
    for r, c in wells:
        well_path = f"{r}/{c}"
        well_group = group.require_group(r).require_group(c)
        images = []
        for f in range(fields):
            data = (rng.random(field_shape) * 200 + 20 * (rows.index(r) + 1)).astype("uint8")
            write_image(Path(path) / r / c / str(f), data, axes=axes, version=version, levels=levels, channels=channels)
            images.append({"path": str(f), "acquisition": 0})
        well_attrs: dict[str, Any] = {"images": images}
        if version == "0.4":
            well_attrs["version"] = "0.4"
        _set_ome_attrs(well_group, {"well": well_attrs}, version, None)
        well_meta.append({"path": well_path, "rowIndex": list(rows).index(r), "columnIndex": list(columns).index(c)})
    plate: dict[str, Any] = {
        "name": name,
        "rows": [{"name": r} for r in rows],
        "columns": [{"name": c} for c in columns],
        "wells": well_meta,
        "acquisitions": [{"id": 0, "name": "acquisition 0"}],
        "field_count": fields,
    }
    if version == "0.4":
        plate["version"] = "0.4"
    _set_ome_attrs(group, {"plate": plate}, version, None)
    return Path(path)


def write_bioformats2raw(
    path: Path,
    series: Sequence[np.ndarray],
    *,
    axes: str = "tczyx",
    version: str = "0.4",
    ome_xml: bool = True,
    series_list: bool = True,
    **image_kwargs: Any,
) -> Path:
    """Write a bioformats2raw.layout 3 container with one image per series."""
    zarr_format = 3 if version != "0.4" else 2
    group = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    _set_ome_attrs(group, {"bioformats2raw.layout": 3} if version != "0.4" else {}, version, None)
    if version == "0.4":
        group.attrs.update({"bioformats2raw.layout": 3})
    for i, data in enumerate(series):
        write_image(Path(path) / str(i), data, axes=axes, version=version, **image_kwargs)
    ome_group = group.require_group("OME")
    if series_list:
        _set_ome_attrs(ome_group, {"series": [str(i) for i in range(len(series))]}, version, None)
    if ome_xml:
        images = "".join(
            f'<Image ID="Image:{i}" Name="series {i}"><Pixels ID="Pixels:{i}" DimensionOrder="XYZCT" '
            f'Type="{np.dtype(d.dtype).name}" SizeX="{d.shape[-1]}" SizeY="{d.shape[-2]}" SizeZ="1" SizeC="1" SizeT="1"/></Image>'
            for i, d in enumerate(series)
        )
        xml = f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">{images}</OME>'
        (Path(path) / "OME" / "METADATA.ome.xml").write_text(xml, encoding="utf-8")
    return Path(path)


def write_rocrate(
    path: Path,
    *,
    name: str | None = None,
    description: str | None = None,
    license: str | None = None,
    organism: tuple[str, str] | None = None,
    modality: tuple[str, str] | None = None,
) -> Path:
    """Write an ``ro-crate-metadata.json`` in the shape the NGFF challenge used."""
    root: dict[str, Any] = {"@id": "./", "@type": "Dataset"}
    if name:
        root["name"] = name
    if description:
        root["description"] = description
    if license:
        root["license"] = license
    graph: list[dict[str, Any]] = [
        {"@id": "ro-crate-metadata.json", "@type": "CreativeWork", "conformsTo": {"@id": "https://w3id.org/ro/crate/1.1"}, "about": {"@id": "./"}},
        root,
    ]
    if organism or modality:
        biosample = {"@id": "#biosample", "@type": "biosample"}
        root["resultOf"] = {"@id": "#imaging"}
        imaging: dict[str, Any] = {"@id": "#imaging", "@type": "image_acquisition"}
        if organism:
            graph.append({"@id": organism[0], "@type": "taxonomic_classification", "name": organism[1]})
            biosample["organism_classification"] = {"@id": organism[0]}
            root["about"] = {"@id": "#biosample"}
            graph.append(biosample)
        if modality:
            graph.append({"@id": modality[0], "@type": "imaging_method", "name": modality[1]})
            imaging["fbbi_id"] = {"@id": modality[0]}
        graph.append(imaging)
    doc = {"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": graph}
    out = Path(path) / "ro-crate-metadata.json"
    out.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return out


def gradient(shape: Sequence[int], dtype: str = "uint16", seed: int = 0) -> np.ndarray:
    """Smooth, non-flat test data: a diagonal gradient with a bright disc and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[-2], 0 : shape[-1]]
    h, w = shape[-2], shape[-1]
    base = (yy / max(h - 1, 1) + xx / max(w - 1, 1)) / 2
    disc = ((yy - h / 2) ** 2 + (xx - w / 3) ** 2) < (min(h, w) / 5) ** 2
    plane = 0.6 * base + 0.4 * disc + 0.05 * rng.random((h, w))
    lead = tuple(shape[:-2])
    out = np.broadcast_to(plane, lead + (h, w)).copy()
    if np.issubdtype(np.dtype(dtype), np.integer):
        out = out * (np.iinfo(dtype).max * 0.8)
    return out.astype(dtype)
