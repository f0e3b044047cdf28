"""Real Zarr groups from OME-NGFF attribute documents (the spec's examples and tests).

``write_spec_group`` writes a document as the attributes of a group that
zarr-python creates, with the arrays it names: every multiscales level (the
ndim its axes or scale say, uint8), every well a plate lists and every field
image a well lists, the series of a bioformats2raw container and the images a
scene's transformations point at. A label document without multiscales gets a
minimal pyramid, since a label image is an image. Paths the spec forbids
(``..``, absolute, empty) are not written: the document says them, the store
does not have them, as a provider's would not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import zarr

V2_VERSIONS = ("0.1", "0.2", "0.3", "0.4")
SIDE = 16


def zarr_format_of(version: str) -> int:
    return 2 if version in V2_VERSIONS else 3


def write_spec_group(path: Path, ome: Mapping[str, Any], version: str, *, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``ome`` (the OME object; for 0.4 the whole ``.zattrs``) as a group at ``path``."""
    zf = zarr_format_of(version)
    ome = dict(ome)
    if "image-label" in ome and "multiscales" not in ome:
        ome.update(minimal_image(version, with_version=False))
    group = zarr.open_group(str(path), mode="w", zarr_format=zf)
    group.attrs.update(dict(ome) if zf == 2 else {"ome": ome, **(extra or {})})
    for multiscale in _list(ome.get("multiscales")):
        if isinstance(multiscale, Mapping):
            _write_levels(group, multiscale)
    _write_children(Path(path), ome, version)
    return Path(path)


def _write_children(path: Path, ome: Mapping[str, Any], version: str) -> None:
    plate = ome.get("plate")
    if isinstance(plate, Mapping):
        for well in _list(plate.get("wells")):
            if isinstance(well, Mapping) and is_safe_path(well.get("path")):
                write_spec_group(path / well["path"], minimal_well(version), version)
    well = ome.get("well")
    if isinstance(well, Mapping):
        for image in _list(well.get("images")):
            if isinstance(image, Mapping) and is_safe_path(image.get("path")):
                write_spec_group(path / image["path"], minimal_image(version), version)
    if "bioformats2raw.layout" in ome and not isinstance(plate, Mapping):
        write_spec_group(path / "0", minimal_image(version), version)
    scene = ome.get("scene")
    if isinstance(scene, Mapping):
        for target in _scene_paths(scene):
            write_spec_group(path / target, minimal_image(version), version)


def _scene_paths(scene: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    for t in _list(scene.get("coordinateTransformations")):
        for end in ("input", "output"):
            ref = t.get(end) if isinstance(t, Mapping) else None
            if isinstance(ref, Mapping) and is_safe_path(ref.get("path")):
                found.add(ref["path"])
    return found


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def is_safe_path(p: Any) -> bool:
    if not isinstance(p, str) or not p or p.startswith("/"):
        return False
    # Split as written: PurePosixPath would fold "." and "a//b" away.
    return all(part not in ("", ".", "..") for part in p.split("/")) and "\\" not in p


def _write_levels(group: zarr.Group, multiscale: Mapping[str, Any]) -> None:
    datasets = multiscale.get("datasets")
    for i, ds in enumerate(_list(datasets)):
        if not isinstance(ds, Mapping) or not is_safe_path(ds.get("path")) or ds["path"] in group:
            continue
        ndim = _ndim(multiscale, ds)
        shape = tuple(max(1, SIDE >> i) for _ in range(ndim))
        kwargs: dict[str, Any] = {}
        if group.metadata.zarr_format == 2:
            kwargs["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
        else:
            names = _axis_names(multiscale, ds, ndim)
            if names is not None:
                kwargs["dimension_names"] = names
        group.create_array(ds["path"], shape=shape, chunks=shape, dtype="uint8", fill_value=0, **kwargs)


def _ndim(multiscale: Mapping[str, Any], ds: Mapping[str, Any]) -> int:
    """As many dimensions as the document's axes; else as its scale has; else 2."""
    axes = _axes(multiscale, ds)
    if axes:
        return len(axes)
    for t in _transforms(ds.get("coordinateTransformations")):
        for key in ("scale", "translation"):
            if isinstance(t.get(key), list) and t[key]:
                return len(t[key])
    return 2


def _transforms(value: Any) -> list[Mapping[str, Any]]:
    """Every transformation, with a sequence's members (0.6) flattened."""
    out: list[Mapping[str, Any]] = []
    for t in _list(value):
        if isinstance(t, Mapping):
            out.append(t)
            out += _transforms(t.get("transformations"))
    return out


def _axes(multiscale: Mapping[str, Any], ds: Mapping[str, Any]) -> list[Any]:
    """0.4/0.5: the multiscale's axes; 0.6: those of the system the level maps into."""
    axes = multiscale.get("axes")
    if isinstance(axes, list):
        return axes
    systems = [c for c in _list(multiscale.get("coordinateSystems")) if isinstance(c, Mapping) and isinstance(c.get("axes"), list)]
    outputs = [t.get("output") for t in _list(ds.get("coordinateTransformations")) if isinstance(t, Mapping)]
    names = {o.get("name") if isinstance(o, Mapping) else o for o in outputs}
    target = [c for c in systems if c.get("name") in names] or systems
    return target[0]["axes"] if target else []


def _axis_names(multiscale: Mapping[str, Any], ds: Mapping[str, Any], ndim: int) -> list[str] | None:
    names = [a.get("name") if isinstance(a, Mapping) else a for a in _axes(multiscale, ds)]
    if len(names) == ndim and all(isinstance(n, str) for n in names) and len(set(names)) == ndim:
        return names
    return None


def minimal_image(version: str, *, with_version: bool = True) -> dict[str, Any]:
    """A valid 2-D single-level image of ``version`` (the OME object), with what the strict schemas ask for."""
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    if version.startswith("0.6"):
        multiscale: dict[str, Any] = {
            "coordinateSystems": [{"name": "physical", "axes": axes}],
            "datasets": [{"path": "0", "coordinateTransformations": [
                {"type": "scale", "scale": [1.0, 1.0], "input": {"path": "0"}, "output": {"name": "physical"}},
            ]}],
        }
    else:
        multiscale = {"axes": axes, "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0]}]}]}
    multiscale.update({"name": "image", "type": "none", "metadata": {"method": "none"}})
    if zarr_format_of(version) == 2:
        multiscale["version"] = version
        return {"multiscales": [multiscale]}
    return {"version": version, "multiscales": [multiscale]} if with_version else {"multiscales": [multiscale]}


def minimal_well(version: str) -> dict[str, Any]:
    well: dict[str, Any] = {"images": [{"path": "0"}]}
    if zarr_format_of(version) == 2:
        return {"well": {**well, "version": version}}
    return {"version": version, "well": well}
