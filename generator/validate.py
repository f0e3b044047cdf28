"""Validate: judge a harvested record against the OME-NGFF spec of its version.

Pure (no I/O). The attribute documents are checked with ``ome-zarr-models``
(0.4 and 0.5); the array facts get the checks the OME-NGFF validator adds
(same ndim and dtype at every level, axes vs ``dimension_names``). The
findings come back as a ``Findings`` record; the driver adds them to the
dataset and decides its status.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings as pywarnings
from typing import Any, Mapping, Protocol

import pydantic
from ome_zarr_models.v04.bioformats2raw import BioFormats2RawAttrs as BF2RawV04
from ome_zarr_models.v04.hcs import HCSAttrs as HCSV04
from ome_zarr_models.v04.image import ImageAttrs as ImageV04
from ome_zarr_models.v04.image_label import ImageLabelAttrs as LabelV04
from ome_zarr_models.v04.labels import LabelsAttrs as LabelsV04
from ome_zarr_models.v04.well import WellAttrs as WellV04
from ome_zarr_models.v05.bioformats2raw import BioFormats2RawAttrs as BF2RawV05
from ome_zarr_models.v05.hcs import HCSAttrs as HCSV05
from ome_zarr_models.v05.image import ImageAttrs as ImageV05
from ome_zarr_models.v05.image_label import ImageLabelAttrs as LabelV05
from ome_zarr_models.v05.labels import LabelsAttrs as LabelsV05
from ome_zarr_models.v05.well import WellAttrs as WellV05

from .records import Dataset, Documents, Findings

MODELS: dict[str, dict[str, type[pydantic.BaseModel]]] = {
    "0.4": {"image": ImageV04, "label": LabelV04, "plate": HCSV04, "well": WellV04, "bioformats2raw": BF2RawV04, "labels": LabelsV04},
    "0.5": {"image": ImageV05, "label": LabelV05, "plate": HCSV05, "well": WellV05, "bioformats2raw": BF2RawV05, "labels": LabelsV05},
}
# Versions the spec has published (or drafted) but no validator here covers.
KNOWN_VERSION = re.compile(r"0\.[0-9]+(?:\.[0-9]+)?(?:-?(?:dev|rc|a|b)[0-9]*)?")
MAX_MESSAGES = 20


class SpecMemo(Protocol):
    """Remembers spec messages by document hash (the build state keeps one)."""

    def get(self, key: str) -> list[str] | None: ...

    def __setitem__(self, key: str, value: list[str]) -> None: ...


def validate(dataset: Dataset, *, memo: SpecMemo | None = None) -> Findings:
    """What the spec and the validator's checks find wrong with ``dataset``.

    Pure: the record is not changed, and no status is set (the build driver
    decides it from these findings and the harvest's). ``memo`` skips the
    spec models for documents already checked: they are the slow part, and
    most documents are unchanged from one build to the next.
    """
    docs = dataset.documents
    if not dataset.reached or docs is None:
        return Findings()
    return _check_documents(dataset, docs, memo) + _check_levels(dataset) + _advise(dataset, docs)


def _model_version(dataset: Dataset) -> tuple[str | None, Findings]:
    """Which validator applies, with a finding for versions that have none."""
    version = dataset.ngff_version
    default = "0.4" if dataset.zarr_format == 2 else "0.5"
    if version is None:
        return default, Findings.error("no NGFF version: the metadata does not say which OME-NGFF version it follows")
    if version in MODELS:
        return version, Findings()
    if KNOWN_VERSION.fullmatch(version):
        return None, Findings.warning(f"no validator for NGFF version {version}: metadata not checked against the spec")
    # The spec model still reports the version field (and anything else) precisely.
    return default, Findings.error(f"unrecognised NGFF version {version!r}")


def _check_documents(dataset: Dataset, docs: Documents, memo: SpecMemo | None) -> Findings:
    version, found = _model_version(dataset)
    if version is None:
        return found
    models = MODELS[version]
    errors: list[str] = []
    image: Mapping[str, Any] = docs.image
    container = docs.container
    where = f"{dataset.image_path}: " if dataset.image_path else ""
    if "multiscales" in image:
        model = models["label"] if "image-label" in image else models["image"]
        if version == "0.5" and "version" not in image and container is not None and "version" in container:
            # A 0.5 image inside a container inherits the container's version.
            image = {"version": container["version"], **image}
        errors += (where + m for m in _spec_errors(model, image, memo))
    if container is not None:
        model = _container_model(models, docs.container_kind, container)
        if model is not None:
            errors += _spec_errors(model, container, memo)
    return found + Findings(errors=tuple(errors))


def _container_model(
    models: Mapping[str, type[pydantic.BaseModel]], kind: str | None, container: Mapping[str, Any]
) -> type[pydantic.BaseModel] | None:
    if kind == "plate" or "plate" in container:
        return models["plate"]
    if kind in ("well", "bioformats2raw"):
        return models[kind]
    if kind == "labels" and "labels" in container:
        return models["labels"]
    return None


def _spec_errors(model: type[pydantic.BaseModel], doc: Mapping[str, Any], memo: SpecMemo | None) -> list[str]:
    if memo is None:
        return describe_errors(model, doc)
    blob = json.dumps([model.__module__, model.__qualname__, doc], sort_keys=True, default=str)
    key = hashlib.sha256(blob.encode("utf-8")).hexdigest()
    found = memo.get(key)
    if found is None:
        found = describe_errors(model, doc)
        memo[key] = found
    return list(found)


def describe_errors(model: type[pydantic.BaseModel], doc: Mapping[str, Any]) -> list[str]:
    """Validate ``doc``; pydantic's findings as "json.path: message" lines."""
    try:
        with pywarnings.catch_warnings():
            # ome-zarr-models warns when it fills in defaults; the record says what was served.
            pywarnings.simplefilter("ignore")
            model.model_validate(doc)
    except pydantic.ValidationError as e:
        lines = []
        for err in e.errors(include_url=False):
            path = ".".join(str(p) for p in err["loc"]) or "(document)"
            lines.append(f"{path}: {err['msg']}")
        if len(lines) > MAX_MESSAGES:
            lines = lines[:MAX_MESSAGES] + [f"... and {len(lines) - MAX_MESSAGES} more spec errors"]
        return lines
    except (ValueError, TypeError, RecursionError) as e:
        return [f"(document): {e}"[:300]]
    return []


def _check_levels(dataset: Dataset) -> Findings:
    """The OME-NGFF validator's array checks, over the levels whose metadata was read."""
    levels = [lv for lv in dataset.resolutions if not lv.inferred]
    if not levels:
        return Findings()
    errors: list[str] = []
    first = levels[0]
    for lv in levels[1:]:
        if len(lv.shape) != len(first.shape):
            errors.append(f"level {lv.path!r}: {len(lv.shape)} dimensions, but level {first.path!r} has {len(first.shape)}")
        if lv.dtype != first.dtype:
            errors.append(f"level {lv.path!r}: data type {lv.dtype}, but level {first.path!r} has {first.dtype}")
    names = [a.name for a in dataset.axes]
    if names and len(names) != len(first.shape):
        errors.append(f"axes: {len(names)} axes ({','.join(names)}) but level {first.path!r} has {len(first.shape)} dimensions")
    for lv in levels:
        meta = lv.metadata
        dims = meta.get("dimension_names") if isinstance(meta, Mapping) else None
        if not isinstance(dims, list) or not names:
            continue
        if len(dims) != len(names) or any(d is not None and d != n for d, n in zip(dims, names)):
            errors.append(f"level {lv.path!r}: dimension_names {dims} do not match the axes {names}")
    return Findings(errors=tuple(errors))


def _advise(dataset: Dataset, docs: Documents) -> Findings:
    warnings: list[str] = []
    image = docs.image
    if "multiscales" in image and "image-label" not in image and not isinstance(image.get("omero"), Mapping):
        warnings.append("no 'omero' rendering metadata: thumbnails use auto-contrast and default colours")
    if dataset.cors is False:
        warnings.append("no CORS header: browser viewers on other sites cannot read this dataset")
    # Inferred levels are a harvesting economy, not a finding about the data:
    # the per-level table marks them, and no warning is raised.
    return Findings(warnings=tuple(warnings))
