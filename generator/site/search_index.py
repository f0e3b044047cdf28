"""``index.json``: the compact, column-wise index that assets/catalog.js searches,
filters, sorts and draws cards from.

This file is the contract between Python and the JS; the JS decides nothing
that is decided here (badges, facets, sorts, which URLs may become links).

Document (``v`` 2)::

    v           2
    n           number of rows (datasets), in catalog order
    page_size   cards per page
    t           tables of distinct values; a column holds an index into its
                table, -1 when the value is absent
    c           columns, each a list of n values (below)
    facets      [{key, label, col, keys, labels, groups?, order}]: a facet's
                row code is c[col][row], an index into keys/labels; a
                negative code means the last entry ("not stated"). key is
                the query-string name (?source=IDR), keys its values.
                groups (collection only) names each value's source. order:
                "count" (most rows first) or "value" (as listed).
    sorts       [{key, label, dir?, text? | cols? | axis?}]: the sort menu.
                Without dir a sort is not a column order ("" = catalog
                order, "relevance" = search rank). text: sort by that text
                column. cols: the first of these columns that is >= 0 is the
                key. axis: the size of the shape along that axis name. Rows
                without a key (< 0) come last in either direction.
    nolink      rows whose URL is not an absolute http(s) URL: no validator link

Columns (``c``):

    id      dataset id (page path datasets/<id>/)
    name    display name
    up, ub  URL = t.prefix[up] + ub (up -1: ub is the whole URL)
    src     t.source            col     t.collection ([source index, name])
    kind    index into KINDS    st      index into STATUSES
    ver     t.version           lic     t.license
    org     t.organism (label)  mod     t.modality (label)
    desc    t.desc (search only)
    ax      t.axes (a list of axis names)       shape   [int] or 0
    nd      ndim facet code     zf      Zarr format facet code
    sh      sharding facet code
    wb      written bytes, -1 unknown
    ubytes  uncompressed bytes, -1 unknown
    cpx     pixels per chunk, -1 unknown        spx     pixels per shard, -1 unsharded
    bd      t.badges: the card's [[css class suffix, text], ...]
    thumb   t.thumb (site-relative card thumbnail), tw/th its size (0: none)
    origin  the origin URL if it may be a link, else 0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Sequence

from generator.records import KINDS, STATUSES, Dataset
from generator.site.cards import get_badges
from generator.site.format import (
    PAGE_SIZE,
    axis_names,
    display_name,
    safe_url,
    term_label,
)

NOT_STATED = "not stated"

# The facets, in the order the filter panel shows them: query-string key -> heading.
# index.html names the keys too, so a shared link's filters are known before index.json.
FACET_LABELS = MappingProxyType({
    "source": "Source",
    "collection": "Collection",
    "organism": "Organism",
    "modality": "Imaging modality",
    "ndim": "Dimensions",
    "version": "NGFF version",
    "zarr": "Zarr format",
    "sharded": "Sharding",
    "license": "License",
    "kind": "Kind",
    "status": "Status",
})


@dataclass(frozen=True)
class Sort:
    """One entry of the sort menu (see ``sorts`` in the module docstring)."""

    key: str
    label: str
    dir: str | None = None
    text: str | None = None
    cols: tuple[str, ...] = ()
    axis: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"key": self.key, "label": self.label}
        if self.dir:
            d["dir"] = self.dir
        if self.text:
            d["text"] = self.text
        if self.cols:
            d["cols"] = list(self.cols)
        if self.axis:
            d["axis"] = self.axis
        return d


SORTS = (
    Sort("", "Default order"),
    Sort("relevance", "Relevance"),
    Sort("name", "Name", "asc", text="name"),
    Sort("bytes", "Bytes", "desc", cols=("wb", "ubytes")),
    Sort("x", "Size x", "desc", axis="x"),
    Sort("y", "Size y", "desc", axis="y"),
    Sort("z", "Size z", "desc", axis="z"),
    Sort("c", "Channels (c)", "desc", axis="c"),
    Sort("t", "Time points (t)", "desc", axis="t"),
    Sort("chunk", "Chunk pixels", "desc", cols=("cpx",)),
    Sort("shard", "Shard pixels", "desc", cols=("spx",)),
)

ZARR_KEYS = ("2", "3", "unknown")


class Interned:
    """Interns repeated values so columns store small integers instead."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._ids: dict[Any, int] = {}

    def __call__(self, value: Any) -> int:
        if value is None or value == "":
            return -1
        i = self._ids.get(value)
        if i is None:
            i = self._ids[value] = len(self.values)
            self.values.append(value)
        return i


def get_pixels(values: Sequence[int] | None) -> int:
    """Pixels per chunk or shard; -1 when unknown (or empty)."""
    return (math.prod(int(v) for v in values) or -1) if values else -1


# A row's facet codes, as the JS reads them (the index's and the shards' alike).
def get_kind_code(d: Dataset) -> int:
    return KINDS.index(d.kind) if d.kind in KINDS else KINDS.index("unknown")


def get_status_code(d: Dataset) -> int:
    return STATUSES.index(d.status) if d.status in STATUSES else 0


def get_zarr_code(d: Dataset) -> int:
    """An index into ``ZARR_KEYS``."""
    return {2: 0, 3: 1}.get(d.zarr_format or 0, 2)


def get_sharded_code(d: Dataset) -> int:
    """0: sharded, 1: not (the order of the facet's keys)."""
    l0 = d.level0
    return 0 if get_pixels(l0.shards if l0 else None) > 0 else 1


def _facet(key: str, col: str, keys: Sequence[str], labels: Sequence[str] | None = None, *,
           none: bool = True, order: str = "count", groups: Sequence[str] | None = None) -> dict[str, Any]:
    labels = list(labels if labels is not None else keys)
    facet: dict[str, Any] = {
        "key": key, "label": FACET_LABELS[key], "col": col,
        "keys": [*keys, NOT_STATED] if none else list(keys),
        "labels": [*labels, NOT_STATED] if none else labels,
        "order": order,
    }
    if groups is not None:
        facet["groups"] = [*groups, ""] if none else list(groups)
    return facet


def get_facets(t: dict[str, list[Any]], ndims: Sequence[int]) -> list[dict[str, Any]]:
    """The facets of FACET_LABELS, in its order."""
    sources = t["source"]
    group = [sources[s] if s >= 0 else "(no source)" for s, _ in t["collection"]]
    return [
        _facet("source", "src", sources),
        _facet("collection", "col", [f"{sources[s] if s >= 0 else ''}|{name}" for s, name in t["collection"]],
               [name for _, name in t["collection"]], groups=group),
        _facet("organism", "org", t["organism"]),
        _facet("modality", "mod", t["modality"]),
        _facet("ndim", "nd", [str(n) for n in ndims], [f"{n}D" if n else "unknown" for n in ndims],
               none=False, order="value"),
        _facet("version", "ver", t["version"], [f"v{v}" for v in t["version"]]),
        _facet("zarr", "zf", ZARR_KEYS, ["Zarr v2", "Zarr v3", "unknown"], none=False),
        _facet("sharded", "sh", ["yes", "no"], ["sharded", "not sharded"], none=False),
        _facet("license", "lic", t["license"]),
        _facet("kind", "kind", KINDS, none=False),
        _facet("status", "st", STATUSES, none=False),
    ]


def get_search_index(datasets: Sequence[Dataset]) -> dict[str, Any]:
    """The ``index.json`` document (see the module docstring).

    Repeated strings (sources, collections, licenses, descriptions, URL
    prefixes ...) are interned in tables, so 100,000 datasets stay a few
    megabytes.
    """
    sources, collections, licenses, organisms, modalities = Interned(), Interned(), Interned(), Interned(), Interned()
    versions, descriptions, prefixes, axes_t, thumbs, badges = Interned(), Interned(), Interned(), Interned(), Interned(), Interned()
    cols: dict[str, list[Any]] = {k: [] for k in (
        "id", "name", "up", "ub", "src", "col", "kind", "st", "ver", "zf", "lic", "org", "mod", "desc",
        "ax", "shape", "nd", "sh", "wb", "ubytes", "cpx", "spx", "bd", "thumb", "tw", "th", "origin",
    )}
    ndims = sorted({len(d.shape) if d.shape else 0 for d in datasets})
    ndim_code = {n: i for i, n in enumerate(ndims)}
    nolink = []
    for row, d in enumerate(datasets):
        l0 = d.level0
        prefix, _, base = d.url.rpartition("/")
        cols["id"].append(d.id)
        cols["name"].append(display_name(d))
        cols["up"].append(prefixes(prefix + "/") if prefix else -1)
        cols["ub"].append(base if prefix else d.url)
        s = sources(d.source)
        cols["src"].append(s)
        cols["col"].append(collections((s, d.collection)) if d.collection else -1)
        cols["kind"].append(get_kind_code(d))
        cols["st"].append(get_status_code(d))
        cols["ver"].append(versions(d.ngff_version))
        cols["zf"].append(get_zarr_code(d))
        cols["lic"].append(licenses(d.license))
        cols["org"].append(organisms(term_label(d.organism)))
        cols["mod"].append(modalities(term_label(d.modality)))
        cols["desc"].append(descriptions(d.description.strip() if d.description else None))
        cols["ax"].append(axes_t(tuple(axis_names(d))) if d.shape else -1)
        cols["shape"].append(list(d.shape) if d.shape else 0)
        cols["nd"].append(ndim_code[len(d.shape) if d.shape else 0])
        cols["sh"].append(get_sharded_code(d))
        cols["wb"].append(d.written_bytes if d.written_bytes is not None else -1)
        cols["ubytes"].append(d.uncompressed_bytes if d.uncompressed_bytes is not None else -1)
        cols["cpx"].append(get_pixels(l0.chunks if l0 else None))
        cols["spx"].append(get_pixels(l0.shards if l0 else None))
        cols["bd"].append(badges(get_badges(d)))
        t = d.thumbnail
        cols["thumb"].append(thumbs(t.card) if t else -1)
        cols["tw"].append(t.width if t else 0)
        cols["th"].append(t.height if t else 0)
        cols["origin"].append(safe_url(d.origin) or 0)
        if not safe_url(d.url):
            nolink.append(row)
    tables = {
        "source": sources.values,
        "collection": [list(v) for v in collections.values],
        "license": licenses.values,
        "organism": organisms.values,
        "modality": modalities.values,
        "version": versions.values,
        "desc": descriptions.values,
        "prefix": prefixes.values,
        "axes": [list(v) for v in axes_t.values],
        "thumb": thumbs.values,
        "badges": [[list(b) for b in v] for v in badges.values],
    }
    return {
        "v": 2,
        "n": len(datasets),
        "page_size": PAGE_SIZE,
        "t": tables,
        "c": cols,
        "facets": get_facets(tables, ndims),
        "sorts": [s.to_dict() for s in SORTS],
        "nolink": nolink,
    }
