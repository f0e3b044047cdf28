"""What the build found about a dataset (Findings, Documents, Dataset) and the gathered Catalog."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from generator.object_urls import get_public_url
from generator.readonly import EMPTY, ReadOnlyDict, freeze, freeze_optional
from generator.records.array import Axis, Channel, LabelImage, Level, Plate, Term, Thumbnail
from generator.records.listing import Listing, RowError, get_dataset_id

Kind = Literal["image", "plate", "well", "bioformats2raw", "labels", "scene", "unknown"]
Status = Literal["ok", "invalid", "unreachable", "stale"]

KINDS: tuple[str, ...] = ("image", "plate", "well", "bioformats2raw", "labels", "scene", "unknown")
STATUSES: tuple[str, ...] = ("ok", "invalid", "unreachable", "stale")


@dataclass(frozen=True, slots=True)
class Findings:
    """Messages a stage found about one dataset, in the order found.

    Parsers return these instead of appending to a caller's list; ``+``
    combines two (a message found twice is kept once).
    """

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @classmethod
    def error(cls, message: str) -> Findings:
        return cls(errors=(message,))

    @classmethod
    def warning(cls, message: str) -> Findings:
        return cls(warnings=(message,))

    def __add__(self, other: Findings) -> Findings:
        if not other.errors and not other.warnings:
            return self
        return Findings(_unique(self.errors + other.errors), _unique(self.warnings + other.warnings))

    def __bool__(self) -> bool:
        return bool(self.errors or self.warnings)


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True, slots=True)
class Documents:
    """The raw OME attributes harvest read, kept for validation.

    ``image`` is the image's OME object (v3 ``attributes.ome``, or the v2
    ``.zattrs``). ``container`` is that of the group the image was found in
    (a plate, well, bioformats2raw or labels group), with ``container_kind``
    saying which. ``arrays`` maps each level path of the image's multiscales
    to its array document as served (``zarr.json`` or ``.zarray``), None
    where it is missing or was not read. Internal: kept in the build state,
    never in ``catalog.json``.
    """

    image: Mapping[str, Any]
    container: Mapping[str, Any] | None = None
    container_kind: Kind | None = None
    arrays: Mapping[str, Mapping[str, Any] | None] = field(default_factory=lambda: EMPTY)

    def __post_init__(self) -> None:
        object.__setattr__(self, "image", freeze(self.image))
        object.__setattr__(self, "container", freeze_optional(self.container))
        object.__setattr__(self, "arrays", ReadOnlyDict((k, freeze_optional(v)) for k, v in self.arrays.items()))

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.image, "container": self.container, "container_kind": self.container_kind, "arrays": self.arrays}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Documents:
        return cls(
            image=d.get("image") or EMPTY,
            container=d.get("container"),
            container_kind=d.get("container_kind"),
            arrays=d.get("arrays") or EMPTY,
        )

    @classmethod
    def from_legacy(cls, attributes: Mapping[str, Any]) -> Documents:
        """A state written before this record existed: one ``attributes`` object with the
        container packed in under ``_container`` and ``_container_kind``."""
        image = {k: v for k, v in attributes.items() if k not in ("_container", "_container_kind")}
        container = attributes.get("_container")
        return cls(
            image=image,
            container=container if isinstance(container, Mapping) else None,
            container_kind=attributes.get("_container_kind") if isinstance(container, Mapping) else None,
        )


@dataclass(frozen=True, slots=True)
class Dataset:
    """Everything known about one dataset URL; the unit of ``catalog.json``."""

    url: str
    source: str = ""
    collection: str = ""
    listings: tuple[Listing, ...] = ()
    kind: Kind = "unknown"
    status: Status = "ok"
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    ngff_version: str | None = None
    zarr_format: int | None = None
    name: str | None = None
    description: str | None = None
    license: str | None = None
    origin: str | None = None
    organism: Term | None = None
    modality: Term | None = None
    # The image the array facts describe, relative to ``url``: "" for a plain
    # image, "0" for bioformats2raw, "A/1/0" for a plate's first field.
    image_path: str = ""
    axes: tuple[Axis, ...] = ()
    resolutions: tuple[Level, ...] = ()
    physical_sizes: Mapping[str, float] = field(default_factory=lambda: EMPTY)
    channels: tuple[Channel, ...] = ()
    uncompressed_bytes: int | None = None
    written_bytes: int | None = None
    plate: Plate | None = None
    series: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    rocrate: Mapping[str, Any] | None = None
    cors: bool | None = None
    thumbnail: Thumbnail | None = None
    first_seen: str | None = None
    last_ok: str | None = None
    # The raw documents, for validation; not exported.
    documents: Documents | None = None
    # False when the host could not be reached (the errors say why). Harvest
    # reports it; the driver turns it into a status (``state.decide_status``),
    # which no other stage sets.
    reached: bool = True
    # Set when the host answered, but not with a Zarr document (an HTML page,
    # random bytes): the error saying so, which is also among ``errors``. A
    # host fault: a last good record is kept instead (``history.decide_status``).
    not_a_document: str | None = None
    # The label images found under the image's ``labels`` group, with their colours.
    label_images: tuple[LabelImage, ...] = ()
    # Series of a bioformats2raw container whose images were read (sizes sum over them).
    series_read: int = 0
    # The S3-compatible service an ``s3://`` URL is read from (None: AWS, or not an s3:// URL).
    endpoint: str | None = None

    def __post_init__(self) -> None:
        if type(self.physical_sizes) is not ReadOnlyDict:
            object.__setattr__(self, "physical_sizes", freeze(self.physical_sizes))
        if self.rocrate is not None and type(self.rocrate) is not ReadOnlyDict:
            object.__setattr__(self, "rocrate", freeze(self.rocrate))

    @property
    def findings(self) -> Findings:
        return Findings(self.errors, self.warnings)

    def with_findings(self, found: Findings) -> Dataset:
        """This record with ``found`` added to its errors and warnings."""
        combined = self.findings + found
        if combined == self.findings:
            return self
        return dataclasses.replace(self, errors=combined.errors, warnings=combined.warnings)

    @property
    def id(self) -> str:
        return get_dataset_id(self.url)

    @property
    def public_url(self) -> str:
        """What a browser opens: the listed URL, or the HTTPS form of an ``s3://``/``gs://`` one."""
        return get_public_url(self.url, self.endpoint)

    @property
    def level0(self) -> Level | None:
        return self.resolutions[0] if self.resolutions else None

    @property
    def shape(self) -> tuple[int, ...] | None:
        return self.level0.shape if self.level0 else None

    def to_dict(self, *, internal: bool = False) -> dict[str, Any]:
        """The ``catalog.json`` shape. ``internal`` adds what only the cache needs."""
        # Called once per record for every export of a 100,000-record catalog:
        # each attribute read once, the level-0 facts in one branch.
        l0 = self.resolutions[0] if self.resolutions else None
        organism, modality, plate, thumbnail, rocrate = self.organism, self.modality, self.plate, self.thumbnail, self.rocrate
        url, endpoint = self.url, self.endpoint
        if l0 is None:
            shape = dtype = chunks = shards = None
            codecs: list[str] = []
        else:
            shape, dtype, codecs = list(l0.shape), l0.dtype, list(l0.codecs)
            chunks = list(l0.chunks) if l0.chunks else None
            shards = list(l0.shards) if l0.shards else None
        d: dict[str, Any] = {
            "id": get_dataset_id(url),
            "url": url,
            "source": self.source,
            "collection": self.collection,
            "listings": [x.to_dict() for x in self.listings],
            "kind": self.kind,
            "status": self.status,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "ngff_version": self.ngff_version,
            "zarr_format": self.zarr_format,
            "name": self.name,
            "description": self.description,
            "license": self.license,
            "origin": self.origin,
            "organism": organism.to_dict() if organism else None,
            "modality": modality.to_dict() if modality else None,
            "image_path": self.image_path,
            "axes": [a.to_dict() for a in self.axes],
            "shape": shape,
            "dtype": dtype,
            "chunks": chunks,
            "shards": shards,
            "codecs": codecs,
            "levels": len(self.resolutions),
            "resolutions": [lv.to_dict(with_metadata=internal) for lv in self.resolutions],
            "physical_sizes": dict(self.physical_sizes),
            "channels": [c.to_dict() for c in self.channels],
            "uncompressed_bytes": self.uncompressed_bytes,
            "written_bytes": self.written_bytes,
            "plate": plate.to_dict(internal=internal) if plate else None,
            "series": list(self.series),
            "labels": list(self.labels),
            "rocrate": dict(rocrate) if rocrate else None,
            "cors": self.cors,
            "thumbnail": thumbnail.card if thumbnail else None,
            "thumbnail_large": thumbnail.detail if thumbnail else None,
            "first_seen": self.first_seen,
            "last_ok": self.last_ok,
            "series_read": self.series_read,
            "https_url": get_public_url(url, endpoint),
            "endpoint": endpoint,
        }
        if internal:
            d["label_images"] = [x.to_dict() for x in self.label_images]
            d["thumbnail_record"] = self.thumbnail.to_dict() if self.thumbnail else None
            d["documents"] = self.documents.to_dict() if self.documents else None
            d["reached"] = self.reached
            d["not_a_document"] = self.not_a_document
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Dataset:
        thumb = d.get("thumbnail_record")
        return cls(
            url=d["url"],
            source=d.get("source") or "",
            collection=d.get("collection") or "",
            listings=tuple(Listing.from_dict(x) for x in d.get("listings") or ()),
            kind=d.get("kind") or "unknown",
            status=d.get("status") or "ok",
            errors=tuple(d.get("errors") or ()),
            warnings=tuple(d.get("warnings") or ()),
            ngff_version=d.get("ngff_version"),
            zarr_format=d.get("zarr_format"),
            name=d.get("name"),
            description=d.get("description"),
            license=d.get("license"),
            origin=d.get("origin"),
            organism=Term.from_dict(d.get("organism")),
            modality=Term.from_dict(d.get("modality")),
            image_path=d.get("image_path") or "",
            axes=tuple(Axis.from_dict(a) for a in d.get("axes") or ()),
            resolutions=tuple(Level.from_dict(x) for x in d.get("resolutions") or ()),
            physical_sizes=dict(d.get("physical_sizes") or {}),
            channels=tuple(Channel.from_dict(c) for c in d.get("channels") or ()),
            uncompressed_bytes=d.get("uncompressed_bytes"),
            written_bytes=d.get("written_bytes"),
            plate=Plate.from_dict(d["plate"]) if d.get("plate") else None,
            series=tuple(d.get("series") or ()),
            labels=tuple(d.get("labels") or ()),
            rocrate=d.get("rocrate"),
            cors=d.get("cors"),
            thumbnail=Thumbnail.from_dict(thumb) if thumb else None,
            first_seen=d.get("first_seen"),
            last_ok=d.get("last_ok"),
            documents=_documents_from(d),
            reached=bool(d.get("reached", d.get("status") not in ("unreachable", "stale"))),
            not_a_document=d.get("not_a_document"),
            label_images=tuple(LabelImage.from_dict(x) for x in d.get("label_images") or ()),
            series_read=int(d.get("series_read") or 0),
            endpoint=d.get("endpoint"),
        )


def _documents_from(d: Mapping[str, Any]) -> Documents | None:
    if d.get("documents"):
        return Documents.from_dict(d["documents"])
    if d.get("attributes") is not None:  # a state written by an older ngff-catalog
        return Documents.from_legacy(d["attributes"])
    return None


@dataclass(frozen=True, slots=True)
class Catalog:
    """What the build gathered; the site stage writes it out."""

    generated_at: str  # ISO 8601, UTC
    datasets: tuple[Dataset, ...]
    row_errors: tuple[RowError, ...] = ()
    # Datasets failing for longer than the stale limit: in the report, not the catalog.
    gone: tuple[Dataset, ...] = ()
    csv_files: tuple[str, ...] = ()  # every submission CSV read
    title: str = "OME-Zarr catalog"
