"""One pass over the records for the sharded search index (search_shards.py).

``RowCollector.add`` keeps, per row, only compact values in typed arrays: an
index into the distinct facet combinations seen (source, collection, licence,
... repeat a lot, so their codes and badges are worked out once per
combination), the shape and sort keys, and the row's terms as flat posting
arrays (the words of the fields many rows share are split once per distinct
combination too). The card is serialised at once into the card chunk being
filled. No record is held after ``add`` returns, so the records may stream
from disk; ``finish`` turns the arrays into a frozen ``Rows``.
"""

from __future__ import annotations

import json
import re
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from generator.records import Dataset
from generator.records.listing import get_dataset_id
from generator.site.cards import get_badges
from generator.site.format import safe_url
from generator.site.folder import Folder
from generator.site.search_index import (
    Interned,
    get_kind_code,
    get_pixels,
    get_status_code,
    get_zarr_code,
)
from generator.site.search_postings import Ids, Postings, get_postings
from generator.sources.columns import url_name

# Words are runs of letters and digits, lower-cased; assets/shards.js splits alike.
WORD = re.compile(r"[^\W_]+")
_findall = WORD.findall

# Texts many rows share (source, collection, organism, ...) are split once: the caches' bound.
SHARED_WORDS_MAX = 100_000  # distinct combinations remembered (of shared texts, of facet values)

# Field -> weight (x10) of a term found there; a term in several fields adds up.
WEIGHTS = (("name", 20), ("base", 10), ("desc", 6), ("source", 10), ("collection", 10),
           ("organism", 10), ("modality", 10), ("prefix", 8), ("license", 5))
_W = dict(WEIGHTS)

# The facet columns, in FACET_LABELS order (search_index.get_facets makes their keys).
FACET_COLS = ("src", "col", "org", "mod", "nd", "ver", "zf", "sh", "lic", "kind", "st")
# Column sorts of search_index.SORTS, by key.
SORT_KEYS = ("name", "bytes", "x", "y", "z", "c", "t", "chunk", "shard")
AXES = ("x", "y", "z", "c", "t")
# The facet codes a combination stores; "nd" and "sh" come from the shape arrays.
_COMBO_COLS = ("org", "mod", "ver", "zf", "lic", "kind", "st")
_TABLES = ("source", "collection", "license", "organism", "modality", "version", "axes", "badges")

# Posting codes of the per-row fields: their weight. The shared fields come in
# two groups of texts that repeat together; a group's postings are already one
# per term, coded base + their summed weight (< 64: search_postings.WEIGHT).
_GROUPS = ((("source", "collection", "prefix"), 128), (("organism", "modality", "license"), 192))
_NAME, _BASE, _DESC = bytes([_W["name"]]), bytes([_W["base"]]), bytes([_W["desc"]])
_CARDS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


# format.safe_url's fast path (a plain, printable ASCII http(s) URL with a
# host) in fewer calls; anything else goes to safe_url itself.
_HOST = re.compile(r"[^/?#\[\]]+(?:[/?#]|\Z)")


def _safe_url(value: Any) -> str | None:
    if value.__class__ is str:
        v = value.strip()
        if v.isascii() and v.isprintable():
            head = v[:8].lower()
            start = 8 if head == "https://" else 7 if head.startswith("http://") else 0
            if start and _HOST.match(v, start):
                return v
    return safe_url(value)


# On ASCII text the words are what is left of letters and digits: translate and split beat the regex.
# (Every ASCII character is in the table: one that is not takes translate's slow path.)
_NOT_ALNUM = {i: c if c.isalnum() else " " for i, c in enumerate(map(chr, range(128)))}


def get_words(text: str | None) -> list[str]:
    return _split(text.lower()) if text else []


def _split(lowered: str) -> list[str]:
    """The words of lower-cased text, as ``WORD`` finds them."""
    return lowered.translate(_NOT_ALNUM).split() if lowered.isascii() else _findall(lowered)


@dataclass(frozen=True)
class Rows:
    """All rows, column-wise: what search_shards encodes and writes."""

    n: int
    tables: dict[str, list[Any]]
    codes: dict[str, np.ndarray]  # FACET_COLS -> int32 per row (-1: none; "nd": the ndim itself)
    sort_values: dict[str, np.ndarray]  # SORT_KEYS but "name" -> float64 per row (-1: none)
    names: list[str]  # lower-cased display names, for the name sort
    postings: Postings


def _label(term: Any) -> str | None:
    return (term.label or term.id) if term is not None else None


def _floats(shape: tuple[int, ...]) -> list[float]:
    try:
        return [float(v) for v in shape]
    except OverflowError:  # a size past float's range sorts as the largest
        return [float(v) if abs(v) < 2**1023 else float("inf") for v in shape]


class RowCollector:
    """Collects rows; ``card_dir`` receives the card chunks as they fill."""

    def __init__(self, card_dir: Path, chunk_rows: int, fs_lock: Any = None) -> None:
        self.cards = Folder(card_dir, fs_lock)
        self.chunk_rows = chunk_rows
        self.n = 0
        self.tables = {k: Interned() for k in _TABLES}
        self._where: dict[tuple[str, str], tuple[int, int]] = {}  # (source, collection) -> their codes
        self.src, self.col = array("i"), array("i")
        self._combos: dict[tuple, tuple[int, int]] = {}  # the other facet values -> (combination, badges)
        self._combo_codes = array("i")  # len(_COMBO_COLS) codes per combination
        self.combo = array("i")  # per row: its combination
        self.axes = array("i")  # per row: t.axes code (-1: no shape)
        self.ndim = array("I")
        self.shape = array("d")  # the shapes, flat
        self.bytes, self.chunk, self.shard = array("d"), array("d"), array("d")  # sort keys (-1: none)
        self._pixels: dict[Any, float] = {}
        self._axes: dict[tuple[str, ...], int] = {}
        self.names: list[str] = []
        self.term_ids = Ids()
        self._shared: tuple[dict[tuple, tuple[array, bytes]], ...] = ({}, {})  # per group of _GROUPS
        self.post_term, self.post_code, self.post_end = array("I"), array("B"), array("q")
        self._chunk: list[list[Any]] = []

    def add(self, d: Dataset) -> None:
        url = d.url
        self.n += 1
        prefix, _, base = url.rpartition("/")
        organism, modality = _label(d.organism), _label(d.modality)
        where = self._where.get((d.source, d.collection)) or self._new_where(d)
        self.src.append(where[0])
        self.col.append(where[1])
        key = (organism, modality, d.ngff_version, d.license, d.kind, d.status, d.zarr_format, d.cors is False)
        combo = self._combos.get(key) or self._new_combo(key, d, organism, modality)
        self.combo.append(combo[0])
        name = d.name.strip() if d.name else ""
        if not name:
            name = url_name(url)
        lower = name.lower()
        self.names.append(lower)
        resolutions = d.resolutions
        l0 = resolutions[0] if resolutions else None
        shape = l0.shape if l0 is not None else None
        axes = self._add_shape(d, shape) if shape else self._no_shape()
        size = d.written_bytes
        if size is None:
            size = d.uncompressed_bytes
        self.bytes.append(float(size) if size is not None else -1.0)
        if l0 is not None:
            self.chunk.append(self._pixels.get(l0.chunks) or self._pixel_count(l0.chunks))
            self.shard.append(self._pixels.get(l0.shards) or self._pixel_count(l0.shards))
        else:
            self.chunk.append(-1.0)
            self.shard.append(-1.0)
        words, base_words = _split(lower), _split((base if prefix else url).lower())
        text = d.description
        desc_words = _split(text.lower()) if text else []
        pt, pc = self.post_term, self.post_code
        pt.extend(map(self.term_ids.__getitem__, words + base_words + desc_words))
        pc.frombytes(_NAME * len(words) + _BASE * len(base_words) + _DESC * len(desc_words))
        texts = (d.source, d.collection, prefix)
        shared = self._shared[0].get(texts) or self._shared_terms(0, texts)
        pt.extend(shared[0])
        pc.frombytes(shared[1])
        texts = (organism, modality, d.license)
        shared = self._shared[1].get(texts) or self._shared_terms(1, texts)
        pt.extend(shared[0])
        pc.frombytes(shared[1])
        self.post_end.append(len(pt))
        thumb = d.thumbnail
        self._chunk.append([
            get_dataset_id(url), name, url, where[0], where[1], axes, shape or 0, combo[1],
            thumb.card if thumb else 0, thumb.width if thumb else 0, thumb.height if thumb else 0,
            _safe_url(d.origin) or 0, 1 if _safe_url(url) else 0,
        ])
        if len(self._chunk) == self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        if self._chunk:
            self.cards.write(f"{(self.n - 1) // self.chunk_rows}.json", _CARDS.encode(self._chunk))
            self._chunk = []

    def _new_where(self, d: Dataset) -> tuple[int, int]:
        source = self.tables["source"](d.source)
        where = (source, self.tables["collection"]((source, d.collection)) if d.collection else -1)
        if len(self._where) < SHARED_WORDS_MAX:
            self._where[d.source, d.collection] = where
        return where

    def _new_combo(self, key: tuple, d: Dataset, organism: str | None, modality: str | None) -> tuple[int, int]:
        """A combination of the other facet values not seen before: (its index, its badges' code)."""
        t = self.tables
        badges = t["badges"](get_badges(d))
        self._combo_codes.extend((
            t["organism"](organism), t["modality"](modality), t["version"](d.ngff_version),
            get_zarr_code(d), t["license"](d.license), get_kind_code(d), get_status_code(d),
        ))
        combo = (len(self._combo_codes) // len(_COMBO_COLS) - 1, badges)
        if len(self._combos) < SHARED_WORDS_MAX:
            self._combos[key] = combo
        return combo

    def _no_shape(self) -> int:
        self.axes.append(-1)
        self.ndim.append(0)
        return -1

    def _add_shape(self, d: Dataset, shape: tuple[int, ...]) -> int:
        names = tuple([a.name for a in d.axes])
        if len(names) != len(shape):
            names = tuple(f"d{i}" for i in range(len(shape)))
        code = self._axes.get(names)
        if code is None:
            code = self._axes[names] = self.tables["axes"](names)
        self.axes.append(code)
        self.ndim.append(len(shape))
        try:
            self.shape.fromlist(list(shape))  # all or nothing
        except OverflowError:
            self.shape.fromlist(_floats(shape))
        return code

    def _pixel_count(self, values: Any) -> float:
        px = float(get_pixels(values))
        if len(self._pixels) < SHARED_WORDS_MAX:
            self._pixels[values] = px
        return px

    def _shared_terms(self, group: int, texts: tuple) -> tuple[array, bytes]:
        """The term ids and posting codes of one group's texts (one posting per term)."""
        fields, code, cache = _GROUPS[group][0], _GROUPS[group][1], self._shared[group]
        weights: dict[str, int] = {}
        for field, text in zip(fields, texts):
            for word in frozenset(get_words(text)):
                weights[word] = weights.get(word, 0) + _W[field]
        got = (array("I", map(self.term_ids.__getitem__, weights)), bytes(code + w for w in weights.values()))
        if len(cache) < SHARED_WORDS_MAX:
            cache[texts] = got
        return got

    def finish(self) -> Rows:
        """The rows as arrays; the collector is spent."""
        self.flush()
        self.cards.close()
        combos = np.frombuffer(self._combo_codes, dtype=np.int32).reshape(-1, len(_COMBO_COLS))
        row_combo = np.frombuffer(self.combo, dtype=np.int32)
        codes = {col: combos[row_combo, j] for j, col in enumerate(_COMBO_COLS)}
        codes["src"], codes["col"] = np.frombuffer(self.src, dtype=np.int32), np.frombuffer(self.col, dtype=np.int32)
        ndim = np.frombuffer(self.ndim, dtype=np.uint32).astype(np.int32)
        sort_values = {k: np.frombuffer(getattr(self, k), dtype=np.float64) for k in ("bytes", "chunk", "shard")}
        shard = sort_values["shard"]
        codes["nd"] = ndim
        codes["sh"] = np.where(shard > 0, 0, 1).astype(np.int32)
        sort_values.update(self._axis_sizes(ndim))
        postings = get_postings(self.term_ids, self.post_term, self.post_code, self.post_end, self.n)
        self.post_term = self.post_code = self.post_end = None  # type: ignore[assignment]
        tables = {k: list(v.values) for k, v in self.tables.items()}
        return Rows(self.n, tables, {c: codes[c] for c in FACET_COLS},
                    {k: sort_values[k] for k in SORT_KEYS if k != "name"}, self.names, postings)

    def _axis_sizes(self, ndim: np.ndarray) -> dict[str, np.ndarray]:
        """Per axis of AXES, each row's size along it (-1: none), from the flat shapes."""
        shape = np.frombuffer(self.shape, dtype=np.float64)
        start = np.concatenate(([0], np.cumsum(ndim, dtype=np.int64)[:-1])) if self.n else np.zeros(0, np.int64)
        row_axes = np.frombuffer(self.axes, dtype=np.int32)
        out = {}
        for axis in AXES:
            # Where the axis is in each axes table entry (-1: absent), and -1 for rows without a shape (code -1).
            at = np.array([names.index(axis) if axis in names else -1 for names in self.tables["axes"].values] + [-1],
                          dtype=np.int64)[row_axes]
            sizes = np.full(self.n, -1.0)
            has = at >= 0
            sizes[has] = shape[start[has] + at[has]]
            out[axis] = sizes
        return out
