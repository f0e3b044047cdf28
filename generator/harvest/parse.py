"""Pure parsers for harvested documents: each returns a value or raises HarvestProblem."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from generator.fetch.base import Response
from generator.records import Channel, Findings, Level
from generator.sources.columns import MAX_DIM, MAX_NDIM
from generator.text import DocumentError, clean_text, parse_json_document

MAX_LEVELS = 64
OME_KEYS = ("multiscales", "plate", "well", "bioformats2raw.layout", "labels", "image-label", "scene")
MAX_CHANNELS = 1024


MAX_SERIES = 100_000
MAX_STRING = 4096


# A channel label is shown on a card and in a table cell, never more.
MAX_CHANNEL_LABEL = 256


# Compact JSON a record keeps of a dataset's OME attributes (for validation,
# in memory and in the build state). Real ones are a few KB, a 1536-well
# plate's about 100 KB; an 18 MB "omero" block must not ride along.
MAX_KEPT_ATTRIBUTES = 1024 * 1024
# Attributes needed to validate what the image is; others are dropped first.
STRUCTURAL_KEYS = frozenset(OME_KEYS) | {"version"}


class HarvestProblem(Exception):
    """A dataset problem, worded for the report. ``unreachable`` for host trouble.

    ``not_a_document`` when the host answered a Zarr document's URL with
    something that is no Zarr document at all (an HTML page, random bytes):
    also a host fault, but one that reached the host (``history.decide_status``).
    ``found`` holds what was found before the problem stopped the harvest, so
    the record keeps those messages too (in the order they were found).
    """

    def __init__(
        self, message: str, *, unreachable: bool = False, not_a_document: bool = False, found: Findings = Findings()
    ):
        super().__init__(message)
        self.message = message
        self.unreachable = unreachable
        self.not_a_document = not_a_document
        self.found = found

    def after(self, earlier: Findings) -> HarvestProblem:
        """The same problem, with ``earlier`` findings ahead of its own."""
        if not earlier:
            return self
        return HarvestProblem(
            self.message, unreachable=self.unreachable, not_a_document=self.not_a_document, found=earlier + self.found
        )


def parse_json(body: bytes, name: str) -> Any:
    """JSON from a body (valid text, depth-capped), or a HarvestProblem naming the document and position."""
    try:
        return parse_json_document(body, name)
    except DocumentError as e:
        raise HarvestProblem(str(e)) from None


def parse_int_list(value: Any, where: str, *, max_len: int = MAX_NDIM) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise HarvestProblem(f"{where}: expected a list of integers, got {_type_name(value)}")
    if len(value) > max_len:
        raise HarvestProblem(f"{where}: {len(value)} dimensions is more than the {max_len} supported")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            else:
                raise HarvestProblem(f"{where}: expected integers, got {_short(v)}")
        if v < 0 or v > MAX_DIM:
            raise HarvestProblem(f"{where}: size {v} is out of range")
        out.append(v)
    return tuple(out)


def parse_dtype(value: Any) -> tuple[str | None, int | None]:
    """Zarr v2 ("<u2") or v3 ("uint16") data type -> (numpy-style name, itemsize)."""
    if isinstance(value, dict):  # v3 extension data types: {"name": ..., "configuration": ...}
        value = value.get("name")
    if not isinstance(value, str) or len(value) > 32:
        return None, None
    try:
        dt = np.dtype(value)
    except (TypeError, ValueError):
        return value, None
    return dt.name, dt.itemsize


def _type_name(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null", bool: "a boolean"}.get(type(v), type(v).__name__)


def _short(v: Any) -> str:
    text = json.dumps(v) if not isinstance(v, str) else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(v: Any, *, multiline: bool = False) -> str | None:
    """A trimmed string within MAX_STRING; one line unless ``multiline`` (descriptions)."""
    if isinstance(v, str):
        v = clean_text(v, multiline=multiline).strip()
        if v:
            return v[:MAX_STRING]
    return None


def is_safe_path(path: str) -> bool:
    """A relative member path: no scheme, no leading slash, no '.'/'..' segments."""
    if not path or len(path) > 1024 or "\\" in path or ":" in path.split("/")[0]:
        return False
    return all(seg not in ("", ".", "..") for seg in path.split("/"))


def _join_path(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


@dataclass(frozen=True)
class GroupDoc:
    """A group's attributes as served: ``ome`` is the OME object (v3 "ome", v2 the attrs)."""

    path: str  # relative to the dataset URL
    zarr_format: int
    attrs: Mapping[str, Any]
    ome: Mapping[str, Any]
    response: Response | None
    consolidated: Mapping[str, Any] | None = None  # v3 inline: relative path -> document
    findings: Findings = Findings()  # what bounding the attributes dropped
    # The omero channels, parsed from the attributes as served (before bounding): an image's rendering.
    channels: tuple[tuple[Channel, ...], Findings] = ((), Findings())


def parse_level(path: str, doc: Any, zarr_format: int, scale: tuple[float, ...] | None) -> tuple[Level, int | None]:
    """An array document -> (Level, itemsize)."""
    name = _join_path(path, "zarr.json" if zarr_format == 3 else ".zarray")
    if not isinstance(doc, dict):
        raise HarvestProblem(f"{name}: expected a JSON object, got {_type_name(doc)}")
    if zarr_format == 3 and doc.get("node_type") not in ("array", None):
        raise HarvestProblem(f"{name}: is a {_short(doc.get('node_type'))}, expected an array")
    if "shape" not in doc:
        raise HarvestProblem(f"{name}: missing 'shape'")
    shape = parse_int_list(doc["shape"], f"{name}: shape")
    shards = None
    codecs: list[str] = []
    if zarr_format == 3:
        dtype, itemsize = parse_dtype(doc.get("data_type"))
        grid = doc.get("chunk_grid")
        cfg = grid.get("configuration") if isinstance(grid, dict) else None
        chunks = parse_int_list(cfg["chunk_shape"], f"{name}: chunk_shape") if isinstance(cfg, dict) and "chunk_shape" in cfg else None
        raw_codecs = doc.get("codecs")
        if isinstance(raw_codecs, list):
            for c in raw_codecs[:32]:
                cname = c.get("name") if isinstance(c, dict) else c
                if not isinstance(cname, str):
                    continue
                codecs.append(cname[:64])
                if cname == "sharding_indexed" and isinstance(c, dict):
                    conf = c.get("configuration") or {}
                    if isinstance(conf, dict):
                        inner = conf.get("chunk_shape")
                        if inner is not None:
                            shards, chunks = chunks, parse_int_list(inner, f"{name}: sharding chunk_shape")
                        for ic in (conf.get("codecs") or [])[:32] if isinstance(conf.get("codecs"), list) else []:
                            if isinstance(ic, dict) and isinstance(ic.get("name"), str):
                                codecs.append(ic["name"][:64])
    else:
        dtype, itemsize = parse_dtype(doc.get("dtype"))
        chunks = parse_int_list(doc["chunks"], f"{name}: chunks") if "chunks" in doc else None
        filters = doc.get("filters")
        if isinstance(filters, list):
            codecs += [f["id"][:64] for f in filters[:32] if isinstance(f, dict) and isinstance(f.get("id"), str)]
        comp = doc.get("compressor")
        if isinstance(comp, dict) and isinstance(comp.get("id"), str):
            codecs.append(comp["id"][:64])
    if chunks is not None and len(chunks) != len(shape):
        raise HarvestProblem(f"{name}: chunks {list(chunks)} do not match shape {list(shape)}")
    return Level(path=path, shape=shape, dtype=dtype, chunks=chunks, shards=shards, codecs=tuple(codecs), scale=scale, metadata=_kept_array_document(doc)), itemsize


def infer_shape(shape0: tuple[int, ...], scale0: tuple[float, ...] | None, scale: tuple[float, ...] | None) -> tuple[int, ...] | None:
    if scale0 is None or scale is None or len(scale0) != len(shape0) or len(scale) != len(shape0):
        return None
    out = []
    for n, s0, s in zip(shape0, scale0, scale):
        if s0 <= 0 or s <= 0:
            return None
        out.append(max(1, math.ceil(n * s0 / s - 1e-9)))
    return tuple(out)


def parse_channels(ome: Mapping[str, Any]) -> tuple[tuple[Channel, ...], Findings]:
    """The ``omero`` channels (colour, window, label), and a warning when some were dropped."""
    omero = ome.get("omero")
    if not isinstance(omero, dict) or not isinstance(omero.get("channels"), list):
        return (), Findings()
    raw = omero["channels"]
    found = Findings()
    if len(raw) > MAX_CHANNELS:
        found = Findings.warning(f"omero: {len(raw)} channels; only the first {MAX_CHANNELS} are kept")
    out = []
    for c in raw[:MAX_CHANNELS]:
        if not isinstance(c, dict):
            continue
        color = c.get("color")
        color = color.upper() if isinstance(color, str) and re.fullmatch(r"[0-9A-Fa-f]{6}", color) else None
        window = c.get("window") if isinstance(c.get("window"), dict) else {}
        out.append(
            Channel(
                label=(_text(c.get("label")) or "")[:MAX_CHANNEL_LABEL] or None,
                color=color,
                window_start=_number(window.get("start")),
                window_end=_number(window.get("end")),
                active=c.get("active") is not False,
            )
        )
    return tuple(out), found


def _json_size(value: Any) -> int:
    """Characters of compact JSON (bytes for ASCII text)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str))


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n >= 100_000 else f"{n / 1024:.0f} KiB"


def parse_kept_attributes(attrs: Mapping[str, Any], where: str = "attributes") -> tuple[dict[str, Any] | None, Findings]:
    """The attributes a record keeps, within MAX_KEPT_ATTRIBUTES; an error names what was dropped.

    The largest keys other than the structural ones go first; if those alone
    are too large, nothing is kept (and nothing validated).
    """
    sizes = {k: _json_size(v) for k, v in attrs.items()}
    total = sum(sizes.values())
    if total <= MAX_KEPT_ATTRIBUTES:
        return dict(attrs), Findings()
    kept = dict(attrs)
    dropped = []
    for key in sorted((k for k in sizes if k not in STRUCTURAL_KEYS), key=sizes.__getitem__, reverse=True):
        del kept[key]
        dropped.append(f"{key!r} ({_mb(sizes[key])})")
        total -= sizes[key]
        if total <= MAX_KEPT_ATTRIBUTES:
            break
    said = f"{where}: {_mb(sum(sizes.values()))} of OME metadata is more than the {_mb(MAX_KEPT_ATTRIBUTES)} a record keeps"
    if total > MAX_KEPT_ATTRIBUTES:
        return None, Findings.error(f"{said}; none kept, not validated")
    return kept, Findings.error(f"{said}; {', '.join(dropped)} not kept, not validated")


def _kept_array_document(doc: dict[str, Any]) -> dict[str, Any]:
    """An array document as a Level keeps it: bulky user attributes dropped (only the challenge stats are read)."""
    attrs = doc.get("attributes")
    if not isinstance(attrs, dict) or _json_size(attrs) <= MAX_KEPT_ATTRIBUTES:
        return doc
    stats = {k: attrs[k] for k in ("_ome2024_ngff_challenge_stats",) if k in attrs and _json_size(attrs[k]) <= MAX_STRING}
    return {**doc, "attributes": stats}


def _number(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def _level_written(doc: Any) -> int | None:
    if not isinstance(doc, dict):
        return None
    attrs = doc.get("attributes") if "attributes" in doc else None
    stats = attrs.get("_ome2024_ngff_challenge_stats") if isinstance(attrs, dict) else None
    return _written_of(stats)


def _written_of(stats: Any) -> int | None:
    if isinstance(stats, dict):
        w = stats.get("written")
        if isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) and w >= 0:
            return int(round(w))
    return None


def _detect_version(group: GroupDoc) -> str | None:
    ome = group.ome
    if group.zarr_format == 3 and isinstance(ome.get("version"), str):
        return ome["version"][:32]
    for key in ("multiscales", "plate", "well", "image-label"):
        v = ome.get(key)
        if isinstance(v, list) and v and isinstance(v[0], dict):
            v = v[0]
        if isinstance(v, dict) and isinstance(v.get("version"), str):
            return v["version"][:32]
    if isinstance(ome.get("version"), str):
        return ome["version"][:32]
    return None


def _kind(ome: Mapping[str, Any]) -> str:
    if "plate" in ome:
        return "plate"
    if "bioformats2raw.layout" in ome:
        return "bioformats2raw"
    if "well" in ome:
        return "well"
    if "image-label" in ome:
        return "labels"
    if "scene" in ome and "multiscales" not in ome:
        return "scene"
    if "multiscales" in ome:
        return "image"
    if "labels" in ome:
        return "labels"
    return "unknown"


def _series_list(ome: Mapping[str, Any]) -> tuple[str, ...] | None:
    s = ome.get("series")
    if isinstance(s, list) and s and all(isinstance(x, str) for x in s[:MAX_SERIES]):
        return tuple(s[:MAX_SERIES])
    return None
