"""What a dataset's arrays are: axes, channels, levels, plates and their montage fields, terms, thumbnails."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from generator.readonly import ReadOnlyDict, freeze


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
    # A Zarr v2 array's chunk key separator ("." or "/"), as its document says; None for v3
    # or when unsaid (the spec's nested layout is a rule for 0.2-0.4).
    dimension_separator: str | None = None

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
            d["dimension_separator"] = self.dimension_separator
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
            dimension_separator=d.get("dimension_separator"),
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
    # Well documents harvest read (a sample spread across the plate; 0: none read, as offline).
    wells_read: int = 0
    # Field images over the whole plate: counted in the wells read, extrapolated when
    # those were a sample (``estimated``); 0 when unknown.
    field_total: int = 0
    estimated: bool = False

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
            "wells_read": self.wells_read,
            "field_total": self.field_total,
            "estimated": self.estimated,
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
            wells_read=int(d.get("wells_read") or 0),
            field_total=int(d.get("field_total") or 0),
            estimated=bool(d.get("estimated", False)),
        )


@dataclass(frozen=True, slots=True)
class LabelColor:
    """One ``image-label`` colour: a label value and its RGBA (0-255 each)."""

    label_value: float
    rgba: tuple[int, int, int, int]

    def to_dict(self) -> dict[str, Any]:
        return {"label_value": self.label_value, "rgba": list(self.rgba)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LabelColor:
        r, g, b, a = (int(v) for v in d["rgba"])
        return cls(label_value=d["label_value"], rgba=(r, g, b, a))


@dataclass(frozen=True, slots=True)
class LabelImage:
    """One label image under an image's ``labels`` group, as harvest read it.

    ``colors`` and ``properties`` are its ``image-label`` lists (bounded);
    ``has_multiscales`` False when the group holds no pyramid.
    """

    name: str
    colors: tuple[LabelColor, ...] = ()
    properties: tuple[Mapping[str, Any], ...] = ()
    has_multiscales: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "properties", tuple(freeze(p) for p in self.properties))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "colors": [c.to_dict() for c in self.colors],
            "properties": [dict(p) for p in self.properties],
            "has_multiscales": self.has_multiscales,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LabelImage:
        return cls(
            name=str(d["name"]),
            colors=tuple(LabelColor.from_dict(c) for c in d.get("colors") or ()),
            properties=tuple(d.get("properties") or ()),
            has_multiscales=bool(d.get("has_multiscales", True)),
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
