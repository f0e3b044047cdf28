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
import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import quote, urlsplit

import numpy as np

from .fetch import FetchError, Fetcher, Response
from .records import Axis, Channel, Dataset, Entry, Level, Plate, Term
from .terms import TermKind, get_term

# Bounds on what hostile or broken metadata may make us hold or loop over.
MAX_NDIM = 32
MAX_LEVELS = 64
MAX_CHANNELS = 1024
MAX_WELLS = 100_000
MAX_SERIES = 100_000
MAX_DIM = 2**62
MAX_STRING = 4096
MAX_XML_BYTES = 16 * 1024 * 1024
NOT_FOUND = frozenset({404, 403, 410})  # S3 answers 403 for a missing key without list rights
# Most datasets have no RO-Crate: with a build state, a "not found" is believed
# for a week instead of asked again every night (a third of a warm rebuild's
# requests). A crate added later shows up within a week, or at once with a fresh cache.
RECHECK_ABSENT_ROCRATE = 7 * 24 * 3600.0

OME_KEYS = ("multiscales", "plate", "well", "bioformats2raw.layout", "labels", "image-label")


class HarvestProblem(Exception):
    """A dataset problem, worded for the report. ``unreachable`` for host trouble."""

    def __init__(self, message: str, *, unreachable: bool = False):
        super().__init__(message)
        self.message = message
        self.unreachable = unreachable


# ---------------------------------------------------------------- format memory


@dataclass
class FormatMemory:
    """Which Zarr format worked under each host + path prefix (one per harvest run)."""

    formats: dict[str, int] = field(default_factory=dict)
    # The first dataset under a prefix probes; the others wait for its answer
    # instead of all paying for the wrong guess at once.
    pending: dict[str, asyncio.Event] = field(default_factory=dict)

    @staticmethod
    def key(url: str) -> str:
        parts = urlsplit(url)
        path = parts.path.rstrip("/")
        return f"{parts.scheme}://{parts.netloc}{path.rsplit('/', 1)[0]}"

    def order(self, url: str) -> tuple[int, int]:
        return (2, 3) if self.formats.get(self.key(url)) == 2 else (3, 2)

    def remember(self, url: str, zarr_format: int) -> None:
        self.formats[self.key(url)] = zarr_format

    async def wait_or_lead(self, url: str) -> asyncio.Event | None:
        """Wait for a probe already under way for this prefix, or lead one (returns its Event)."""
        key = self.key(url)
        if key in self.formats:
            return None
        event = self.pending.get(key)
        if event is None:
            event = self.pending[key] = asyncio.Event()
            return event
        try:
            await asyncio.wait_for(event.wait(), timeout=5.0)
        except asyncio.TimeoutError:
            pass
        return None


# ---------------------------------------------------------------- small parsers


def parse_json(body: bytes, name: str) -> Any:
    """JSON from a body, or a HarvestProblem naming the document and position."""
    try:
        return json.loads(body)
    except json.JSONDecodeError as e:
        raise HarvestProblem(f"{name}: invalid JSON at line {e.lineno} column {e.colno} ({e.msg})") from None
    except UnicodeDecodeError:
        raise HarvestProblem(f"{name}: invalid JSON (not UTF-8 text)") from None
    except RecursionError:
        raise HarvestProblem(f"{name}: invalid JSON (nested too deeply)") from None


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


def parse_csv_ints(text: str | None) -> tuple[int, ...] | None:
    """ "1,2,3" -> (1, 2, 3); None when empty or not integers."""
    if not text or not text.strip():
        return None
    try:
        vals = tuple([int(x) if x.isdigit() else int(float(x)) for x in text.replace(" ", "").split(",") if x])
    except ValueError:
        return None
    if not vals or len(vals) > MAX_NDIM or any(v < 0 or v > MAX_DIM for v in vals):
        return None
    return vals


def parse_csv_number(text: str | None) -> int | None:
    """ "417816396.00000006" -> 417816396; None when empty or not a number."""
    if not text or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return int(round(value))


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


def _text(v: Any) -> str | None:
    if isinstance(v, str) and v.strip():
        return v.strip()[:MAX_STRING]
    return None


def is_safe_path(path: str) -> bool:
    """A relative member path: no scheme, no leading slash, no '.'/'..' segments."""
    if not path or len(path) > 1024 or "\\" in path or ":" in path.split("/")[0]:
        return False
    return all(seg not in ("", ".", "..") for seg in path.split("/"))


def join_url(base: str, rel: str) -> str:
    return base.rstrip("/") + "/" + quote(rel, safe="/%")


def _join_path(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


# ---------------------------------------------------------------- documents


@dataclass(frozen=True)
class GroupDoc:
    """A group's attributes as served: ``ome`` is the OME object (v3 "ome", v2 the attrs)."""

    path: str  # relative to the dataset URL
    zarr_format: int
    attrs: Mapping[str, Any]
    ome: Mapping[str, Any]
    response: Response | None
    consolidated: Mapping[str, Any] | None = None  # v3 inline: relative path -> document


class Reader:
    """Reads the documents of one dataset, from consolidated metadata when it has them."""

    def __init__(self, url: str, fetcher: Fetcher, memory: FormatMemory):
        self.url = url
        self.fetcher = fetcher
        self.memory = memory
        self.zarr_format: int | None = None
        self.consolidated: Mapping[str, Any] = {}

    async def fetch(
        self, rel: str, *, allow_missing: bool = False, recheck_absent_after: float | None = None
    ) -> tuple[Any, Response] | None:
        url = join_url(self.url, rel)
        try:
            resp = await self.fetcher.get(url, allow_status=NOT_FOUND, recheck_absent_after=recheck_absent_after)
        except FetchError as e:
            raise HarvestProblem(_fetch_message(rel, e), unreachable=e.transient or rel in ("zarr.json", ".zattrs")) from None
        if resp.status in NOT_FOUND:
            if allow_missing:
                return None
            raise HarvestProblem(f"{rel}: not found (HTTP {resp.status})")
        return parse_json(resp.body, rel), resp

    async def fetch_raw(self, rel: str) -> bytes | None:
        """A non-JSON document (OME-XML); None when missing."""
        url = join_url(self.url, rel)
        try:
            resp = await self.fetcher.get(url, allow_status=NOT_FOUND)
        except FetchError as e:
            raise HarvestProblem(_fetch_message(rel, e), unreachable=e.transient) from None
        return None if resp.status in NOT_FOUND else resp.body

    async def root(self) -> GroupDoc:
        last = self._last_format()
        if last is not None:
            # What this dataset was at the last build beats its neighbours'
            # guess, and needs no probe to wait for.
            return await self._root((3, 2) if last == 3 else (2, 3))
        lead = await self.memory.wait_or_lead(self.url)
        try:
            return await self._root(self.memory.order(self.url))
        finally:
            if lead is not None:
                lead.set()

    def _last_format(self) -> int | None:
        """The Zarr format whose root document the build state kept for this dataset, if any."""
        store = self.fetcher.validators
        if store is not None:
            for fmt, name in ((3, "zarr.json"), (2, ".zattrs")):
                if store.get_validators(join_url(self.url, name)) is not None:
                    return fmt
        return None

    async def _root(self, formats: tuple[int, int]) -> GroupDoc:
        tried = []
        for fmt in formats:
            name = "zarr.json" if fmt == 3 else ".zattrs"
            url = join_url(self.url, name)
            try:
                resp = await self.fetcher.get(url, allow_status=NOT_FOUND)
            except FetchError as e:
                raise HarvestProblem(_fetch_message(name, e), unreachable=True) from None
            if resp.status in NOT_FOUND:
                tried.append(f"{name} (HTTP {resp.status})")
                continue
            self.zarr_format = fmt
            self.memory.remember(self.url, fmt)
            doc = parse_json(resp.body, name)
            group = self._group("", fmt, doc, resp)
            if group.consolidated:
                self.consolidated = group.consolidated
            return group
        raise HarvestProblem("not found: no Zarr group at this URL (tried " + ", ".join(tried) + ")", unreachable=True)

    def _group(self, rel: str, fmt: int, doc: Any, resp: Response | None) -> GroupDoc:
        name = _join_path(rel, "zarr.json" if fmt == 3 else ".zattrs")
        if not isinstance(doc, dict):
            raise HarvestProblem(f"{name}: expected a JSON object, got {_type_name(doc)}")
        consolidated = None
        if fmt == 3:
            node_type = doc.get("node_type")
            if node_type == "array":
                raise HarvestProblem(f"{name}: is a Zarr array, not a group: not an OME-Zarr dataset")
            attrs = doc.get("attributes") or {}
            if not isinstance(attrs, dict):
                raise HarvestProblem(f"{name}: 'attributes' is {_type_name(attrs)}, expected an object")
            ome = attrs.get("ome")
            if ome is not None and not isinstance(ome, dict):
                raise HarvestProblem(f"{name}: 'ome' attribute is {_type_name(ome)}, expected an object")
            cm = doc.get("consolidated_metadata")
            if isinstance(cm, dict) and isinstance(cm.get("metadata"), dict):
                consolidated = cm["metadata"]
        else:
            attrs = doc
            ome = attrs
        return GroupDoc(rel, fmt, attrs, ome or {}, resp, consolidated)

    async def group(self, rel: str) -> GroupDoc:
        assert self.zarr_format is not None
        if rel in self.consolidated:
            doc = self.consolidated[rel]
            if self.zarr_format == 3 and isinstance(doc, dict):
                return self._group(rel, 3, doc, None)
        got = await self.fetch(_join_path(rel, "zarr.json" if self.zarr_format == 3 else ".zattrs"))
        assert got is not None
        return self._group(rel, self.zarr_format, got[0], got[1])

    async def array(self, rel: str) -> Any:
        assert self.zarr_format is not None
        if rel in self.consolidated:
            return self.consolidated[rel]
        got = await self.fetch(_join_path(rel, "zarr.json" if self.zarr_format == 3 else ".zarray"))
        assert got is not None
        return got[0]


def _fetch_message(name: str, e: FetchError) -> str:
    kind = "temporary failure (host trouble, will retry next build)" if e.transient else "failed"
    return f"{name}: {kind}: {e.message}"


# ---------------------------------------------------------------- array documents


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
    return Level(path=path, shape=shape, dtype=dtype, chunks=chunks, shards=shards, codecs=tuple(codecs), scale=scale, metadata=doc), itemsize


# ---------------------------------------------------------------- multiscales


@dataclass(frozen=True)
class Multiscale:
    axes: tuple[Axis, ...]
    paths: tuple[str, ...]
    scales: tuple[tuple[float, ...] | None, ...]
    global_scale: tuple[float, ...] | None
    name: str | None
    version: str | None
    errors: tuple[str, ...]


def _scale_of(transforms: Any, where: str, errors: list[str]) -> tuple[float, ...] | None:
    if not isinstance(transforms, list):
        return None
    for t in transforms[:16]:
        if isinstance(t, dict) and t.get("type") == "scale":
            s = t.get("scale")
            if isinstance(s, list) and len(s) <= MAX_NDIM and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in s):
                return tuple(float(v) for v in s)
            if s is not None:
                errors.append(f"{where}: scale must be a list of numbers")
    return None


def parse_multiscales(ome: Mapping[str, Any]) -> Multiscale:
    """The first multiscale, leniently: problems become messages, not exceptions."""
    ms = ome.get("multiscales")
    if not isinstance(ms, list) or not ms:
        raise HarvestProblem("multiscales: expected a non-empty list, got " + _type_name(ms))
    m = ms[0]
    if not isinstance(m, dict):
        raise HarvestProblem(f"multiscales[0]: expected an object, got {_type_name(m)}")
    errors: list[str] = []
    axes: list[Axis] = []
    raw_axes = m.get("axes")
    if raw_axes is None and isinstance(m.get("coordinateSystems"), list):
        # OME-NGFF 0.6 moved the axes into named coordinate systems.
        systems = [cs for cs in m["coordinateSystems"][:16] if isinstance(cs, dict) and isinstance(cs.get("axes"), list)]
        raw_axes = systems[0]["axes"] if systems else None
    if raw_axes is None:
        errors.append("multiscales[0]: missing 'axes'")
    elif not isinstance(raw_axes, list):
        errors.append(f"multiscales[0].axes: expected a list, got {_type_name(raw_axes)}")
    elif len(raw_axes) > MAX_NDIM:
        errors.append(f"multiscales[0].axes: {len(raw_axes)} axes is more than the {MAX_NDIM} supported")
    else:
        for i, a in enumerate(raw_axes):
            if isinstance(a, str):  # OME-NGFF 0.3 listed axis names only
                axes.append(Axis(name=a[:64]))
            elif isinstance(a, dict) and isinstance(a.get("name"), str):
                axes.append(Axis(name=a["name"][:64], type=_text(a.get("type")), unit=_text(a.get("unit"))))
            else:
                errors.append(f"multiscales[0].axes[{i}]: missing 'name'")
    paths: list[str] = []
    scales: list[tuple[float, ...] | None] = []
    datasets = m.get("datasets")
    if datasets is None:
        errors.append("multiscales[0]: missing 'datasets'")
    elif not isinstance(datasets, list) or not datasets:
        errors.append("multiscales[0].datasets: expected a non-empty list")
    else:
        if len(datasets) > MAX_LEVELS:
            errors.append(f"multiscales[0].datasets: {len(datasets)} levels; only the first {MAX_LEVELS} are read")
        for i, d in enumerate(datasets[:MAX_LEVELS]):
            path = d.get("path") if isinstance(d, dict) else None
            if not isinstance(path, str):
                errors.append(f"multiscales[0].datasets[{i}]: missing 'path'")
                continue
            if not is_safe_path(path):
                errors.append(f"multiscales[0].datasets[{i}].path: unsafe path {_short(path)}")
                continue
            paths.append(path)
            scales.append(_scale_of(d.get("coordinateTransformations"), f"multiscales[0].datasets[{i}]", errors))
    version = m.get("version") if isinstance(m.get("version"), str) else None
    return Multiscale(
        axes=tuple(axes),
        paths=tuple(paths),
        scales=tuple(scales),
        global_scale=_scale_of(m.get("coordinateTransformations"), "multiscales[0]", errors),
        name=_text(m.get("name")),
        version=version,
        errors=tuple(errors),
    )


def yx_indices(axes: Sequence[Axis], ndim: int) -> tuple[int, int]:
    names = [a.name.lower() for a in axes] if len(axes) == ndim else []
    if "y" in names and "x" in names:
        return names.index("y"), names.index("x")
    return max(ndim - 2, 0), ndim - 1


def infer_shape(shape0: tuple[int, ...], scale0: tuple[float, ...] | None, scale: tuple[float, ...] | None) -> tuple[int, ...] | None:
    if scale0 is None or scale is None or len(scale0) != len(shape0) or len(scale) != len(shape0):
        return None
    out = []
    for n, s0, s in zip(shape0, scale0, scale):
        if s0 <= 0 or s <= 0:
            return None
        out.append(max(1, math.ceil(n * s0 / s - 1e-9)))
    return tuple(out)


def pick_thumbnail_level(shapes: Sequence[tuple[int, ...] | None], axes: Sequence[Axis], thumb_size: int) -> int:
    """The smallest level whose longest Y/X side is at least ``thumb_size`` (else the lowest)."""
    best = len(shapes) - 1
    for i in range(len(shapes) - 1, -1, -1):
        shape = shapes[i]
        if shape is None or len(shape) < 2:
            continue
        y, x = yx_indices(axes, len(shape))
        if max(shape[y], shape[x]) >= thumb_size:
            return i
    return best


def parse_channels(ome: Mapping[str, Any], warnings: list[str]) -> tuple[Channel, ...]:
    omero = ome.get("omero")
    if not isinstance(omero, dict) or not isinstance(omero.get("channels"), list):
        return ()
    raw = omero["channels"]
    if len(raw) > MAX_CHANNELS:
        warnings.append(f"omero: {len(raw)} channels; only the first {MAX_CHANNELS} are kept")
    out = []
    for c in raw[:MAX_CHANNELS]:
        if not isinstance(c, dict):
            continue
        color = c.get("color")
        color = color.upper() if isinstance(color, str) and re.fullmatch(r"[0-9A-Fa-f]{6}", color) else None
        window = c.get("window") if isinstance(c.get("window"), dict) else {}
        out.append(
            Channel(
                label=_text(c.get("label")),
                color=color,
                window_start=_number(window.get("start")),
                window_end=_number(window.get("end")),
                active=c.get("active") is not False,
            )
        )
    return tuple(out)


def _number(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


# ---------------------------------------------------------------- RO-Crate


def parse_rocrate(doc: Any) -> dict[str, Any]:
    """Facts from an RO-Crate in the shape the NGFF challenge wrote (see samples.write_rocrate)."""
    graph = doc.get("@graph") if isinstance(doc, dict) else None
    if not isinstance(graph, list):
        return {}
    items = [x for x in graph[:10_000] if isinstance(x, dict)]
    by_id = {x.get("@id"): x for x in items if isinstance(x.get("@id"), str)}
    root = by_id.get("./") or next((x for x in items if x.get("@type") == "Dataset"), {})
    facts: dict[str, Any] = {}
    for key in ("name", "description"):
        text = _text(root.get(key))
        if text and not is_placeholder(text):
            facts[key] = text
    lic = root.get("license")
    if isinstance(lic, dict):
        lic = lic.get("@id")
    if _text(lic):
        facts["license"] = _text(lic)

    def term(ref: Any) -> dict[str, str] | None:
        if isinstance(ref, list) and ref:
            ref = ref[0]
        rid = ref.get("@id") if isinstance(ref, dict) else ref
        if not _text(rid):
            return None
        label = _text((by_id.get(rid) or {}).get("name"))
        return {"id": _text(rid), "label": label}

    for x in items:
        types = x.get("@type") if isinstance(x.get("@type"), list) else [x.get("@type")]
        if "biosample" in types and "organism" not in facts:
            t = term(x.get("organism_classification"))
            if t:
                facts["organism"] = t
        if "image_acquisition" in types and "modality" not in facts:
            t = term(x.get("fbbi_id"))
            if t:
                facts["modality"] = t
    for x in items:  # taxa listed without a biosample pointing at them
        types = x.get("@type") if isinstance(x.get("@type"), list) else [x.get("@type")]
        if "taxonomic_classification" in types and "organism" not in facts and _text(x.get("@id")):
            facts["organism"] = {"id": _text(x["@id"]), "label": _text(x.get("name"))}
    return facts


def _term(d: Any, kind: TermKind) -> Term | None:
    if isinstance(d, dict) and d.get("id"):
        label = d.get("label")
        return get_term(str(d["id"]), label if isinstance(label, str) else None, kind)
    return None


# ---------------------------------------------------------------- OME-XML


def parse_ome_xml_series(body: bytes) -> tuple[str, ...]:
    """Series paths "0".."n-1" from the Image count of a bioformats2raw METADATA.ome.xml."""
    if len(body) > MAX_XML_BYTES:
        raise HarvestProblem("OME/METADATA.ome.xml: too large")
    head = body[:1_000_000]
    if b"<!DOCTYPE" in head.upper() or b"<!ENTITY" in head.upper():
        # Entity expansion is how XML bombs work; OME-XML never needs a DTD.
        raise HarvestProblem("OME/METADATA.ome.xml: refusing a document with a DTD or entities")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise HarvestProblem(f"OME/METADATA.ome.xml: invalid XML ({e})") from None
    count = sum(1 for el in root if el.tag.rsplit("}", 1)[-1] == "Image")
    return tuple(str(i) for i in range(min(count, MAX_SERIES)))


# ---------------------------------------------------------------- the harvest


@dataclass
class ImageFacts:
    path: str
    ome: Mapping[str, Any]
    multiscale: Multiscale
    levels: tuple[Level, ...]
    itemsize: int | None
    stats_written: int | None  # sum of _ome2024_ngff_challenge_stats over all levels, when all were read


async def _read_image(reader: Reader, group: GroupDoc, *, thumb_size: int, csv_shape: tuple[int, ...] | None, errors: list[str], need_written: bool) -> ImageFacts:
    ms = parse_multiscales(group.ome)
    errors.extend(ms.errors)
    if not ms.paths:
        raise HarvestProblem(errors.pop() if errors else "multiscales[0]: no usable datasets")
    base = group.path

    def apath(p: str) -> str:
        return _join_path(base, p)

    # Level 0 and - when the CSV tells us level 0's shape - the thumbnail level, together.
    guess_shapes = [infer_shape(csv_shape, ms.scales[0], s) if csv_shape else None for s in ms.scales] if csv_shape else []
    wanted = [0]
    if csv_shape and guess_shapes and guess_shapes[0] is not None:
        guess_shapes[0] = csv_shape
        t = pick_thumbnail_level(guess_shapes, ms.axes, thumb_size)
        if t != 0:
            wanted.append(t)
    docs: dict[int, Any] = {}
    results = await asyncio.gather(*(reader.array(apath(ms.paths[i])) for i in wanted), return_exceptions=True)
    for i, r in zip(wanted, results):
        if isinstance(r, BaseException):
            if isinstance(r, HarvestProblem) and not r.unreachable:
                # Keep what the group said (kind, version, attributes) for the report and validation.
                errors.append(r.message)
                return ImageFacts(base, group.ome, ms, (), None, None)
            raise r
        docs[i] = r
    try:
        level0, itemsize = parse_level(ms.paths[0], docs[0], reader.zarr_format or 3, ms.scales[0])
    except HarvestProblem as p:
        errors.append(p.message)
        return ImageFacts(base, group.ome, ms, (), None, None)
    shapes: list[tuple[int, ...] | None] = [infer_shape(level0.shape, ms.scales[0], s) for s in ms.scales]
    shapes[0] = level0.shape
    t = pick_thumbnail_level(shapes, ms.axes, thumb_size)
    if t not in docs:
        try:
            docs[t] = await reader.array(apath(ms.paths[t]))
        except HarvestProblem as p:
            if p.unreachable:
                raise
            errors.append(p.message)
    levels: list[Level] = []
    for i, path in enumerate(ms.paths):
        doc = docs.get(i, reader.consolidated.get(apath(path)))
        if i == 0:
            lv = level0
        elif doc is not None:
            try:
                lv = parse_level(path, doc, reader.zarr_format or 3, ms.scales[i])[0]
            except HarvestProblem as p:
                errors.append(p.message)
                continue
        else:
            shape = shapes[i]
            if shape is None:
                errors.append(f"multiscales[0].datasets[{i}]: cannot infer the shape of level {path!r} (no usable scale)")
                continue
            lv = Level(path=path, shape=shape, dtype=level0.dtype, scale=ms.scales[i], inferred=True)
        levels.append(lv)
    stats_written = None
    stats = [_level_written(lv.metadata) for lv in levels if lv.metadata is not None]
    if any(s is not None for s in stats):
        missing = [i for i, lv in enumerate(levels) if lv.inferred]
        if missing and need_written:
            # Only challenge-converted data carries these stats; read the rest to sum them honestly.
            more = await asyncio.gather(*(reader.array(apath(levels[i].path)) for i in missing), return_exceptions=True)
            for i, doc in zip(missing, more):
                if isinstance(doc, BaseException):
                    continue  # a sum over some levels would understate what was written
                try:
                    levels[i] = parse_level(levels[i].path, doc, reader.zarr_format or 3, levels[i].scale)[0]
                except HarvestProblem as p:
                    errors.append(p.message)
            stats = [_level_written(lv.metadata) for lv in levels]
            missing = [i for i, lv in enumerate(levels) if lv.inferred]
        if not missing:
            stats_written = sum(s or 0 for s in stats)
    return ImageFacts(base, group.ome, ms, tuple(levels), itemsize, stats_written)


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
    if "multiscales" in ome:
        return "image"
    if "labels" in ome:
        return "labels"
    return "unknown"


def _first_well_image(well_ome: Mapping[str, Any], where: str) -> tuple[str, list[str]]:
    well = well_ome.get("well")
    if not isinstance(well, dict):
        raise HarvestProblem(f"{where}: no 'well' metadata")
    images = well.get("images")
    if not isinstance(images, list) or not images:
        raise HarvestProblem(f"{where}: well.images: expected a non-empty list")
    paths = [im.get("path") for im in images[:MAX_SERIES] if isinstance(im, dict)]
    if not paths or not isinstance(paths[0], str) or not is_safe_path(paths[0]):
        raise HarvestProblem(f"{where}: well.images[0]: missing or unsafe 'path'")
    return paths[0], [p for p in paths if isinstance(p, str)]


def parse_plate(ome: Mapping[str, Any]) -> tuple[Plate, list[str]]:
    plate = ome.get("plate")
    if not isinstance(plate, dict):
        raise HarvestProblem(f"plate: expected an object, got {_type_name(plate)}")

    def names(key: str) -> tuple[str, ...]:
        v = plate.get(key)
        if not isinstance(v, list):
            return ()
        return tuple(str(x.get("name"))[:64] for x in v[:MAX_WELLS] if isinstance(x, dict) and x.get("name") is not None)

    rows, columns = names("rows"), names("columns")
    wells = plate.get("wells")
    if not isinstance(wells, list) or not wells:
        raise HarvestProblem("plate.wells: expected a non-empty list")
    if len(wells) > MAX_WELLS:
        raise HarvestProblem(f"plate.wells: {len(wells)} wells is more than the {MAX_WELLS} supported")
    well_paths = tuple(w["path"] for w in wells if isinstance(w, dict) and isinstance(w.get("path"), str) and is_safe_path(w["path"]))
    if not well_paths:
        raise HarvestProblem("plate.wells[0]: missing or unsafe 'path'")
    fc = plate.get("field_count")
    fields = fc if isinstance(fc, int) and not isinstance(fc, bool) and 0 < fc <= MAX_SERIES else 0
    return Plate(rows=len(rows), columns=len(columns), wells=len(wells), fields=fields, row_names=rows, column_names=columns, well_paths=well_paths), []


def _series_list(ome: Mapping[str, Any]) -> tuple[str, ...] | None:
    s = ome.get("series")
    if isinstance(s, list) and s and all(isinstance(x, str) for x in s[:MAX_SERIES]):
        return tuple(s[:MAX_SERIES])
    return None


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
        attributes=dict(image.ome),
    )
    if kind in ("plate", "well", "bioformats2raw") or (kind == "labels" and image_group is not root):
        # Validate the container's own attributes too: keep them next to the image's.
        out = replace(out, attributes={**dict(image.ome), "_container": dict(root.ome), "_container_kind": kind})
    if out.ngff_version is None and ms.version:
        out = replace(out, ngff_version=ms.version)
    return out




# ---------------------------------------------------------------- offline records


def _csv(columns: Mapping[str, str], key: str) -> str | None:
    v = columns.get(key)
    return v.strip() if isinstance(v, str) and v.strip() else None


# Values a converter's template left in place of a real one: rows of the
# challenge's CSVs are named "dataset name". As a title that says nothing and
# reads like a bug; treated as absent, the URL names the dataset instead.
PLACEHOLDERS = frozenset({
    "dataset name", "dataset description", "name", "description", "title", "untitled",
    "todo", "tbd", "n/a", "na", "none", "null", "-",
})


def is_placeholder(text: str) -> bool:
    return text.strip().lower() in PLACEHOLDERS


def _csv_text(columns: Mapping[str, str], key: str) -> str | None:
    v = _csv(columns, key)
    return None if v is None or is_placeholder(v) else v


def _csv_written(columns: Mapping[str, str]) -> int | None:
    # Zero bytes written is no measurement (rows of the challenge's other_samples.csv
    # say "0, 0.00 B"): every dataset has bytes.
    return parse_csv_number(columns.get("written")) or None


def dataset_from_entry(entry: Entry) -> Dataset:
    """A record from the CSV columns alone (``--offline``, and the base of every harvest)."""
    c = entry.columns
    shape = parse_csv_ints(c.get("shape"))
    chunks = parse_csv_ints(c.get("chunks"))
    shards = parse_csv_ints(c.get("shards"))
    levels: tuple[Level, ...] = ()
    if shape is not None:
        levels = (
            Level(
                path="0",
                shape=shape,
                chunks=chunks if chunks and len(chunks) == len(shape) else None,
                shards=shards if shards and len(shards) == len(shape) else None,
                inferred=True,
            ),
        )
    dims = _csv(c, "dimension_names")
    axes = tuple(Axis(name=n.strip()[:64]) for n in dims.split(",")[:MAX_NDIM]) if dims else ()
    wells = parse_csv_number(c.get("wells"))
    images = parse_csv_number(c.get("images"))
    plate = None
    kind = "unknown"
    if wells:
        fields = images // wells if images and images % wells == 0 else 0
        plate = Plate(rows=0, columns=0, wells=wells, fields=fields)
        kind = "plate"
    series0 = _csv(c, "series0")
    if series0 and kind == "unknown":
        kind = "bioformats2raw"
    organism = _csv(c, "organismId")
    modality = _csv(c, "fbbiId")
    name = _csv_text(c, "name") or _url_name(entry.url)
    return Dataset(
        url=entry.url,
        source=entry.source,
        collection=entry.collection,
        listings=entry.listings,
        kind=kind,  # type: ignore[arg-type]
        status="ok",
        name=name,
        description=_csv_text(c, "description"),
        license=_csv(c, "license"),
        origin=_csv(c, "origin"),
        organism=get_term(organism, None, "organism") if organism else None,
        modality=get_term(modality, None, "modality") if modality else None,
        axes=axes,
        resolutions=levels,
        written_bytes=_csv_written(c),
        plate=plate,
        series=(series0,) if series0 else (),
    )


def _url_name(url: str) -> str:
    path = urlsplit(url).path.rstrip("/")
    from urllib.parse import unquote

    return unquote(path.rsplit("/", 1)[-1]) or url


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
