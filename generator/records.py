"""Frozen records passed between the pipeline's stages.

Each stage takes records and returns new ones; nothing is mutated along the
way (use ``dataclasses.replace``). ``to_dict`` gives the JSON shape written to
``catalog.json``; ``from_dict`` reads it back (the build cache stores records
that way).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from generator.readonly import EMPTY, ReadOnlyDict, freeze, freeze_optional

Kind = Literal["image", "plate", "well", "bioformats2raw", "labels", "unknown"]
Status = Literal["ok", "invalid", "unreachable", "stale"]

KINDS: tuple[str, ...] = ("image", "plate", "well", "bioformats2raw", "labels", "unknown")
STATUSES: tuple[str, ...] = ("ok", "invalid", "unreachable", "stale")


@functools.lru_cache(maxsize=1 << 18)
def get_dataset_id(url: str) -> str:
    """A short, stable, URL-safe id: used for page paths and thumbnail names."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Listing:
    """One place a dataset URL was listed: a CSV file and a 1-based line.

    ``file`` is the CSV as it was read (a URL, or a path on the build
    machine); ``name`` is the CSV as the repository sees it (a path relative
    to the root CSV's folder, or its URL) and is what every output shows, so
    no path of the build machine is published. ``link`` points at the exact
    line on GitHub when the build ran in Actions.
    """

    file: str
    line: int
    source: str = ""
    collection: str = ""
    name: str = ""
    link: str = ""

    @property
    def shown(self) -> str:
        """``name:line``, as outputs cite the listing."""
        return f"{self.name or self.file}:{self.line}"

    def to_dict(self) -> dict[str, Any]:
        # Explicit rather than dataclasses.asdict (which deep-copies): 100,000-dataset exports.
        d: dict[str, Any] = {
            "file": self.name or self.file,
            "line": self.line,
            "source": self.source,
            "collection": self.collection,
        }
        if self.link:
            d["link"] = self.link
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Listing:
        return cls(
            file=str(d["file"]),
            line=int(d["line"]),
            source=str(d.get("source", "")),
            collection=str(d.get("collection", "")),
            link=str(d.get("link", "")),
        )


@dataclass(frozen=True, slots=True)
class Entry:
    """A dataset URL as listed in the submission CSVs (output of ``sources``).

    ``columns`` holds the CSV-provided values (``name``, ``written``, ``shape``,
    ``organismId`` ...), inherited columns included; it is never mutated.
    """

    url: str
    source: str
    collection: str
    listings: tuple[Listing, ...]
    columns: Mapping[str, str] = field(default_factory=lambda: EMPTY)

    def __post_init__(self) -> None:
        if type(self.columns) is not ReadOnlyDict:
            object.__setattr__(self, "columns", freeze(self.columns))

    @property
    def id(self) -> str:
        return get_dataset_id(self.url)

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "source": self.source,
            "collection": self.collection,
            "listings": [x.to_dict() for x in self.listings],
            "columns": dict(self.columns),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Entry:
        return cls(
            url=d["url"],
            source=d.get("source", ""),
            collection=d.get("collection", ""),
            listings=tuple(Listing.from_dict(x) for x in d.get("listings", ())),
            columns=d.get("columns") or EMPTY,
        )


@dataclass(frozen=True, slots=True)
class RowError:
    """A problem with one CSV row (or a whole CSV), tied to its file and line.

    ``file`` is the CSV as read, ``name`` as the repository sees it (see
    ``Listing``): outputs show ``name``.
    """

    file: str
    line: int
    message: str
    url: str | None = None
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.name or self.file, "line": self.line, "message": self.message, "url": self.url}

    def __str__(self) -> str:
        return f"{self.name or self.file}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class Axis:
    name: str
    type: str | None = None
    unit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "unit": self.unit}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Axis:
        return cls(name=str(d["name"]), type=d.get("type"), unit=d.get("unit"))


@dataclass(frozen=True, slots=True)
class Channel:
    label: str | None = None
    color: str | None = None  # "RRGGBB"
    window_start: float | None = None
    window_end: float | None = None
    active: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "color": self.color,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "active": self.active,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Channel:
        return cls(**{f.name: d.get(f.name, f.default) for f in dataclasses.fields(cls)})


@dataclass(frozen=True, slots=True)
class Level:
    """One resolution level of the harvested image.

    ``metadata`` is the array document as served (``zarr.json`` or
    ``.zarray``), kept so the thumbnail stage can open the array without
    probing; it is None when the level's shape was inferred from the scale
    transformations instead of fetched (``inferred`` is then True).
    """

    path: str
    shape: tuple[int, ...]
    dtype: str | None = None
    chunks: tuple[int, ...] | None = None
    shards: tuple[int, ...] | None = None
    codecs: tuple[str, ...] = ()
    scale: tuple[float, ...] | None = None
    inferred: bool = False
    metadata: Mapping[str, Any] | None = None
    # The shape was stated by the CSV listing, not read from the data (offline
    # records): ``path`` is then a placeholder. Internal, like ``metadata``.
    listed: bool = False

    def __post_init__(self) -> None:
        if self.metadata is not None and type(self.metadata) is not ReadOnlyDict:
            object.__setattr__(self, "metadata", freeze(self.metadata))

    def to_dict(self, *, with_metadata: bool = False) -> dict[str, Any]:
        d = {
            "path": self.path,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "chunks": list(self.chunks) if self.chunks else None,
            "shards": list(self.shards) if self.shards else None,
            "codecs": list(self.codecs),
            "scale": list(self.scale) if self.scale else None,
            "inferred": self.inferred,
        }
        if with_metadata:
            d["metadata"] = self.metadata
            d["listed"] = self.listed
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Level:
        def tup(v: Any) -> tuple | None:
            return tuple(v) if v is not None else None

        return cls(
            path=str(d["path"]),
            shape=tuple(d["shape"]),
            dtype=d.get("dtype"),
            chunks=tup(d.get("chunks")),
            shards=tup(d.get("shards")),
            codecs=tuple(d.get("codecs") or ()),
            scale=tup(d.get("scale")),
            inferred=bool(d.get("inferred", False)),
            metadata=d.get("metadata"),
            listed=bool(d.get("listed", False)),
        )


@dataclass(frozen=True, slots=True)
class FieldImage:
    """One plate field the thumbnail montage draws, as harvest found it.

    ``path`` is the field image relative to the plate ("A/1/0"); ``level_path``
    its lowest level ("2"), and ``metadata`` that level's array document, so
    the thumbnail stage opens the array without another request. Internal:
    kept in the build state, never in ``catalog.json``.
    """

    path: str
    level_path: str
    metadata: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "level_path": self.level_path, "metadata": self.metadata}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FieldImage:
        return cls(path=str(d["path"]), level_path=str(d["level_path"]), metadata=d["metadata"])


@dataclass(frozen=True, slots=True)
class Plate:
    rows: int
    columns: int
    wells: int
    fields: int
    row_names: tuple[str, ...] = ()
    column_names: tuple[str, ...] = ()
    well_paths: tuple[str, ...] = ()
    # Relative path of every harvested field image, e.g. "A/1/0".
    field_paths: tuple[str, ...] = ()
    # The fields a montage draws, with their lowest level's array document (internal).
    montage: tuple[FieldImage, ...] = ()

    def to_dict(self, *, internal: bool = False) -> dict[str, Any]:
        d = {
            "rows": self.rows,
            "columns": self.columns,
            "wells": self.wells,
            "fields": self.fields,
            "row_names": list(self.row_names),
            "column_names": list(self.column_names),
            "well_paths": list(self.well_paths),
            "field_paths": list(self.field_paths),
        }
        if internal:
            d["montage"] = [f.to_dict() for f in self.montage]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plate:
        return cls(
            rows=int(d["rows"]),
            columns=int(d["columns"]),
            wells=int(d["wells"]),
            fields=int(d["fields"]),
            row_names=tuple(d.get("row_names") or ()),
            column_names=tuple(d.get("column_names") or ()),
            well_paths=tuple(d.get("well_paths") or ()),
            field_paths=tuple(d.get("field_paths") or ()),
            montage=tuple(FieldImage.from_dict(x) for x in d.get("montage") or ()),
        )


@dataclass(frozen=True, slots=True)
class Term:
    """An ontology term: organism (NCBI taxon) or imaging modality (FBbi ...)."""

    id: str
    label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Term | None:
        if not d or not d.get("id"):
            return None
        return cls(id=str(d["id"]), label=d.get("label"))


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """Output of the thumbnail stage: site-relative paths of the renditions and their pixel sizes."""

    key: str  # content hash of the source metadata
    card: str  # e.g. "thumbnails/<key>-256.webp"
    detail: str | None
    width: int  # of the card rendition
    height: int
    detail_width: int | None = None  # of the detail rendition, when there is one
    detail_height: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Thumbnail:
        # Records stored before the detail sizes were kept lack them: the defaults apply.
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


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
    saying which. Internal: kept in the build state, never in ``catalog.json``.
    """

    image: Mapping[str, Any]
    container: Mapping[str, Any] | None = None
    container_kind: Kind | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "image", freeze(self.image))
        object.__setattr__(self, "container", freeze_optional(self.container))

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.image, "container": self.container, "container_kind": self.container_kind}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Documents:
        return cls(image=d.get("image") or EMPTY, container=d.get("container"), container_kind=d.get("container_kind"))

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
    def level0(self) -> Level | None:
        return self.resolutions[0] if self.resolutions else None

    @property
    def shape(self) -> tuple[int, ...] | None:
        return self.level0.shape if self.level0 else None

    def to_dict(self, *, internal: bool = False) -> dict[str, Any]:
        """The ``catalog.json`` shape. ``internal`` adds what only the cache needs."""
        l0 = self.level0
        d: dict[str, Any] = {
            "id": self.id,
            "url": self.url,
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
            "organism": self.organism.to_dict() if self.organism else None,
            "modality": self.modality.to_dict() if self.modality else None,
            "image_path": self.image_path,
            "axes": [a.to_dict() for a in self.axes],
            "shape": list(l0.shape) if l0 else None,
            "dtype": l0.dtype if l0 else None,
            "chunks": list(l0.chunks) if l0 and l0.chunks else None,
            "shards": list(l0.shards) if l0 and l0.shards else None,
            "codecs": list(l0.codecs) if l0 else [],
            "levels": len(self.resolutions),
            "resolutions": [lv.to_dict(with_metadata=internal) for lv in self.resolutions],
            "physical_sizes": dict(self.physical_sizes),
            "channels": [c.to_dict() for c in self.channels],
            "uncompressed_bytes": self.uncompressed_bytes,
            "written_bytes": self.written_bytes,
            "plate": self.plate.to_dict(internal=internal) if self.plate else None,
            "series": list(self.series),
            "labels": list(self.labels),
            "rocrate": dict(self.rocrate) if self.rocrate else None,
            "cors": self.cors,
            "thumbnail": self.thumbnail.card if self.thumbnail else None,
            "thumbnail_large": self.thumbnail.detail if self.thumbnail else None,
            "first_seen": self.first_seen,
            "last_ok": self.last_ok,
        }
        if internal:
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
