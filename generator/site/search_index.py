"""What the search shows, decided once for the sharded index (search_shards.py)
and the page (views.py): the facets and their labels, the sort menu, and the
facet codes a row carries. The JS decides nothing decided here (badges,
facets, sorts, which URLs may become links).

A facet (``get_facets``) is ``{key, label, col, keys, labels, groups?,
order}``: a row's code indexes keys/labels, a negative code meaning the last
entry ("not stated"); key is the query-string name (?source=IDR), keys its
values; groups (collection only) names each value's source; order is
"count" (most rows first) or "value" (as listed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Sequence

from generator.records import KINDS, STATUSES, Dataset

NOT_STATED = "not stated"

# The facets, in the order the filter panel shows them: query-string key -> heading.
# index.html names the keys too, so a shared link's filters are known before the index loads.
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
    """One entry of the sort menu.

    Without ``dir`` a sort is not a column order ("" = catalog order,
    "relevance" = search rank). ``text``: sort by that text column. ``cols``:
    the first of these columns that is >= 0 is the key. ``axis``: the size of
    the shape along that axis name. Rows without a key come last in either
    direction.
    """

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
