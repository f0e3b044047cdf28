"""One pass over the records for the sharded search index (search_shards.py).

``RowCollector.add`` keeps, per row, only compact values: the facet codes and
sort keys in typed arrays, the row's terms as flat posting arrays, and its
card, which is serialised at once into the card chunk being filled. No record
is held after ``add`` returns, so the records may stream from disk.
"""

from __future__ import annotations

import json
import re
from array import array
from pathlib import Path
from typing import Any

from generator.records import Dataset
from generator.site.cards import get_badges
from generator.site.format import axis_names, display_name, safe_url, term_label
from generator.site.search_index import (
    Interned,
    get_kind_code,
    get_pixels,
    get_sharded_code,
    get_status_code,
    get_zarr_code,
)

# Words are runs of letters and digits, lower-cased; assets/shards.js splits alike.
WORD = re.compile(r"[^\W_]+")

# Fields whose text many rows share: their words are looked up, not split again.
SHARED_FIELDS = frozenset({"source", "collection", "organism", "modality", "prefix", "license"})
SHARED_WORDS_MAX = 100_000  # distinct texts remembered

# Field -> weight (x10) of a term found there; a term in several fields adds up.
WEIGHTS = (("name", 20), ("base", 10), ("desc", 6), ("source", 10), ("collection", 10),
           ("organism", 10), ("modality", 10), ("prefix", 8), ("license", 5))

# The facet columns, in FACET_LABELS order (search_index.get_facets makes their keys).
FACET_COLS = ("src", "col", "org", "mod", "nd", "ver", "zf", "sh", "lic", "kind", "st")
# Column sorts of search_index.SORTS, by key.
SORT_KEYS = ("name", "bytes", "x", "y", "z", "c", "t", "chunk", "shard")


def get_words(text: str | None) -> list[str]:
    return WORD.findall(text.lower()) if text else []


class RowCollector:
    """Collects rows; ``card_dir`` receives the card chunks as they fill."""

    def __init__(self, card_dir: Path, chunk_rows: int) -> None:
        self.card_dir = card_dir
        self.chunk_rows = chunk_rows
        self.n = 0
        self.tables = {k: Interned() for k in
                       ("source", "collection", "license", "organism", "modality", "version", "axes", "badges")}
        self.codes = {k: array("i") for k in FACET_COLS}
        self.sort_values: dict[str, array] = {k: array("d") for k in SORT_KEYS if k != "name"}
        self.names: list[str] = []
        self.term_ids: dict[str, int] = {}
        self.post_term, self.post_row, self.post_weight = array("I"), array("I"), array("B")
        self._chunk: list[list[Any]] = []
        self._shared_words: dict[str, frozenset[str]] = {}

    def add(self, d: Dataset) -> None:
        row, t = self.n, self.tables
        self.n += 1
        prefix, _, base = d.url.rpartition("/")
        source = t["source"](d.source)
        collection = t["collection"]((source, d.collection)) if d.collection else -1
        organism, modality = term_label(d.organism), term_label(d.modality)
        description = d.description.strip() if d.description else None
        name = display_name(d)
        self._add_codes(d, source, collection, organism, modality)
        self._add_sort_keys(d, name)
        self._add_terms(row, {
            "name": name, "base": base if prefix else d.url, "desc": description, "source": d.source,
            "collection": d.collection, "organism": organism, "modality": modality,
            "prefix": prefix, "license": d.license,
        })
        thumb = d.thumbnail
        self._chunk.append([
            d.id, name, d.url, source, collection, t["axes"](tuple(axis_names(d))) if d.shape else -1,
            list(d.shape) if d.shape else 0, t["badges"](get_badges(d)),
            thumb.card if thumb else 0, thumb.width if thumb else 0, thumb.height if thumb else 0,
            safe_url(d.origin) or 0, 1 if safe_url(d.url) else 0,
        ])
        if len(self._chunk) == self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        if self._chunk:
            chunk = (self.n - 1) // self.chunk_rows
            text = json.dumps(self._chunk, ensure_ascii=False, separators=(",", ":"))
            (self.card_dir / f"{chunk}.json").write_text(text, encoding="utf-8")
            self._chunk = []

    def _add_codes(self, d: Dataset, source: int, collection: int, organism: str | None,
                   modality: str | None) -> None:
        t, c = self.tables, self.codes
        c["src"].append(source)
        c["col"].append(collection)
        c["org"].append(t["organism"](organism))
        c["mod"].append(t["modality"](modality))
        c["nd"].append(len(d.shape) if d.shape else 0)  # the ndim itself; made a code at the end
        c["ver"].append(t["version"](d.ngff_version))
        c["zf"].append(get_zarr_code(d))
        c["sh"].append(get_sharded_code(d))
        c["lic"].append(t["license"](d.license))
        c["kind"].append(get_kind_code(d))
        c["st"].append(get_status_code(d))

    def _add_sort_keys(self, d: Dataset, name: str) -> None:
        v, l0 = self.sort_values, d.level0
        self.names.append(name.lower())
        size = d.written_bytes if d.written_bytes is not None else d.uncompressed_bytes
        v["bytes"].append(float(size) if size is not None else -1.0)
        axes = axis_names(d) if d.shape else []
        for axis in ("x", "y", "z", "c", "t"):
            v[axis].append(float(d.shape[axes.index(axis)]) if axis in axes else -1.0)
        v["chunk"].append(float(get_pixels(l0.chunks if l0 else None)))
        v["shard"].append(float(get_pixels(l0.shards if l0 else None)))

    def _words(self, field: str, text: str | None) -> frozenset[str]:
        if not text:
            return frozenset()
        if field not in SHARED_FIELDS:
            return frozenset(get_words(text))
        words = self._shared_words.get(text)
        if words is None:
            words = frozenset(get_words(text))
            if len(self._shared_words) < SHARED_WORDS_MAX:
                self._shared_words[text] = words
        return words

    def _add_terms(self, row: int, fields: dict[str, str | None]) -> None:
        weights: dict[str, int] = {}
        for field, weight in WEIGHTS:
            for word in self._words(field, fields[field]):
                weights[word] = weights.get(word, 0) + weight
        ids = self.term_ids
        terms = []
        for word in weights:
            i = ids.get(word)
            if i is None:
                i = ids[word] = len(ids)
            terms.append(i)
        self.post_term.extend(terms)
        self.post_row.extend([row] * len(terms))
        self.post_weight.extend([w if w < 255 else 255 for w in weights.values()])
