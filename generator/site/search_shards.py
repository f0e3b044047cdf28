"""The sharded search index under ``search/``, which assets/shards.js reads.

A query fetches only the files its terms lead to, so the bytes and the work of
a query depend on the bounds below, not on the catalog's size. Every list is
cut to its best ``list_rows`` rows; a cut list carries its exact size and its
exact facet counts, so a one-term query or a one-value filter still shows
exact totals at any size (several cut lists combined give lower bounds, which
the page says).

Pagefind (PyPI ``pagefind[bin]`` 1.5.2 installs here and builds this kind of
chunked index, with filters and sorts) was the first thing tried; it is not
used because it has no typo tolerance (Pagefind issue #756), and its search
runs in WebAssembly, which the site's CSP (``script-src 'self'``, no
``'wasm-unsafe-eval'``) does not allow; it also indexes HTML pages, where
the catalog's rows are records.

Layout (``v`` 3)::

    search/meta.json        loaded with the page (below)
    search/t/<hex>.json     the term node of prefix p (hex: p's UTF-8 bytes)
    search/f/<facet>-<code>.json   one list: the rows of one facet value
    search/o/<sort>-<dir>.json     one list: the first rows of a sort order
                                   ("-.json": catalog order)
    search/r/<k>.json       cards of rows k*card_rows ... (k+1)*card_rows-1

meta.json::

    v, n, page_size, list_rows, card_rows
    alphabet    the 64 digits of the codes strings
    widths      digits per facet code (facets order), then per sort key
    sort_cols   the column sorts whose keys the codes carry, in that order
    t           tables the cards index into: source, collection [[source,
                name]], license, organism, modality, version, axes, badges
    facets      search_index.get_facets (its docstring), plus total: the
                whole catalog's count per value; a code indexes keys
    sorts       search_index.SORTS (Sort.to_dict)
    kids        the first characters of all terms (the root's children)
    prefetch    files (paths under the site) the page loads before it says
                it is ready, at most PREFETCH_BYTES: the root's term nodes
                first, then catalog order, facet and sort lists, then cards.
                A small catalog is then answered without a further request.

A term node covers the terms that start with its prefix p. A leaf is
``{"terms": {term: list}}`` for all of them. A node with more than
``leaf_postings`` postings splits: ``{"head": list, "terms": {p: list}?,
"kids": [c, ...]}``: its head is the best rows of any term under p (weight: the
best of theirs), and the terms under p + c are in node p + c. Terms are words
of name, URL, description, source, collection, organism, modality and
license (``search_rows.WEIGHTS``).

A list is ``[df, rows, weights, codes, counts]``: df its full size; rows
ascending, delta-coded; weights per row (x10; 0: all equal); codes one
fixed-width string per row (its facet codes, then its sort keys: the dense
rank of the row's key, scaled into 0..4094 where there are more distinct
keys, 4095 when the row has none); counts 0 when nothing was cut, else per
facet a flat [code, count, ...] over all df rows.

A card is ``[id, name, url, source, collection, axes, shape, badges, thumb,
tw, th, origin, link]``: source/collection/axes/badges index ``t`` (-1: none),
shape [int] or 0, thumb a site-relative path or 0 (tw, th its size), origin
an http(s) URL or 0, link 1 when the URL may become a validator link.
"""

from __future__ import annotations

import bisect
import itertools
import json
import shutil
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from generator.records import Dataset
from generator.site.format import PAGE_SIZE
from generator.site.search_index import SORTS, get_facets
from generator.site.folder import Folder
from generator.site.search_rows import FACET_COLS, SORT_KEYS, RowCollector, Rows

LIST_ROWS = 600
LEAF_POSTINGS = 1200
CARD_ROWS = 4
PREFETCH_BYTES = 96 * 1024
MAX_DEPTH = 24  # a longer shared prefix makes a leaf whatever its size
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
SORT_LEVELS = 4095  # 2 digits; the top value means "no key"


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _dump(path: Path, doc: Any) -> None:
    path.write_text(_JSON.encode(doc), encoding="utf-8")


def _width(size: int) -> int:
    w = 1
    while 64**w < size:
        w += 1
    return w


def _dense_rank(keys: np.ndarray, present: np.ndarray) -> np.ndarray:
    out = np.full(len(keys), SORT_LEVELS, dtype=np.int64)
    if present.any():
        uniq, inverse = np.unique(keys[present], return_inverse=True)
        ranks = inverse.astype(np.int64)
        if len(uniq) > SORT_LEVELS:
            ranks = ranks * SORT_LEVELS // len(uniq)
        out[present] = ranks
    return out


def _name_order(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The rows in name order (stable), and each row's dense name rank (as _dense_rank): one sort of the names."""
    keys = np.array(names, dtype=object)
    order = np.argsort(keys, kind="stable")
    ranks = np.empty(len(keys), dtype=np.int64)
    if len(keys):
        in_order = keys[order]
        step = np.concatenate(([0], np.cumsum(in_order[1:] != in_order[:-1], dtype=np.int64)))
        distinct = int(step[-1]) + 1
        ranks[order] = step * SORT_LEVELS // distinct if distinct > SORT_LEVELS else step
    return order, ranks


class Encoder:
    """The finished rows as numpy arrays, and lists encoded from them."""

    def __init__(self, rows: Rows, list_rows: int) -> None:
        self.n, self.list_rows = rows.n, list_rows
        self.tables = dict(rows.tables)
        self.tables["collection"] = [list(v) for v in self.tables["collection"]]
        self.tables["axes"] = [list(v) for v in self.tables["axes"]]
        self.tables["badges"] = [[list(b) for b in v] for v in self.tables["badges"]]
        nd = rows.codes["nd"]
        ndims = sorted(set(nd.tolist()))
        self.facets = get_facets(self.tables, ndims)
        lookup = np.zeros(max(ndims, default=0) + 1, dtype=np.int32)
        lookup[ndims] = np.arange(len(ndims), dtype=np.int32)
        self.codes = []
        for col, facet in zip(FACET_COLS, self.facets):
            c = lookup[nd] if col == "nd" else rows.codes[col].copy()
            c[c < 0] = len(facet["keys"]) - 1
            self.codes.append(c)
            facet["total"] = np.bincount(c, minlength=len(facet["keys"])).tolist()
        self.sort_keys = rows.sort_values
        self.name_order, name_ranks = _name_order(rows.names)
        self.sort_ranks = [name_ranks if k == "name"
                           else _dense_rank(self.sort_keys[k], self.sort_keys[k] >= 0) for k in SORT_KEYS]
        self.widths = [_width(len(f["keys"])) for f in self.facets] + [2] * len(SORT_KEYS)
        self.chars = self._chars()

    def _chars(self) -> np.ndarray:
        digits = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)
        columns = []
        for values, w in zip([*self.codes, *self.sort_ranks], self.widths):
            for place in range(w - 1, -1, -1):
                columns.append(digits[(values // 64**place) % 64])
        return np.stack(columns, axis=1) if columns else np.zeros((self.n, 0), np.uint8)

    def counts(self, rows: np.ndarray) -> list[list[int]]:
        out = []
        for codes, facet in zip(self.codes, self.facets):
            c = np.bincount(codes[rows], minlength=len(facet["keys"]))
            nz = np.flatnonzero(c)
            out.append(np.stack([nz, c[nz]], axis=1).ravel().tolist())
        return out

    def encode(self, rows: np.ndarray, weights: np.ndarray | None) -> list[Any]:
        """A list of ``rows`` (best first when cut: highest weight, then catalog order)."""
        rows = rows.astype(np.int64, copy=False)
        df, counts = len(rows), 0
        if df > self.list_rows:
            counts = self.counts(rows)
            keep = _best(rows, weights, self.list_rows) if weights is not None else np.arange(self.list_rows)
            rows = rows[keep]
            weights = weights[keep] if weights is not None else None
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        deltas = np.diff(rows, prepend=0).tolist()
        w = weights[order].tolist() if weights is not None else 0
        return [df, deltas, w, self.chars[rows].tobytes().decode("ascii"), counts]


def _best(rows: np.ndarray, weights: np.ndarray, count: int) -> np.ndarray:
    """Where the ``count`` best of ``rows`` (each once) are: highest weight, then first in catalog order."""
    key = (255 - weights.astype(np.int64)) * (int(rows.max()) + 1) + rows
    return np.argpartition(key, count - 1)[:count]


def _best_per_row(rows: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row once, ascending, with its highest weight (the terms' row runs are each ascending: a stable sort merges them)."""
    key = rows.astype(np.int64) << 8 | (255 - weights.astype(np.int64))
    key.sort(kind="stable")
    row = key >> 8
    first = np.concatenate(([True], row[1:] != row[:-1]))
    return row[first], (255 - (key[first] & 255)).astype(np.uint8)


def _hex(prefix: str) -> str:
    return prefix.encode("utf-8").hex()


def write_terms(rows: Rows, enc: Encoder, out: Path, leaf_postings: int, fs_lock: Any = None) -> list[str]:
    """The term nodes under ``out``; returns the root's children."""
    postings = rows.postings
    words, off, pr, pw = postings.words, postings.offsets, postings.rows, postings.weights
    if not words:
        return []
    folder = Folder(out, fs_lock)
    try:
        return _write_nodes(folder, enc, words, off, pr, pw, leaf_postings)
    finally:
        folder.close()


def _write_nodes(folder: Folder, enc: Encoder, words: list[str], off: np.ndarray, pr: np.ndarray,
                 pw: np.ndarray, leaf_postings: int) -> list[str]:

    def one(i: int) -> list[Any]:
        return enc.encode(pr[off[i]:off[i + 1]], pw[off[i]:off[i + 1]])

    def kids(p: str, lo: int, hi: int) -> list[tuple[str, int, int]]:
        out, i = [], lo + (1 if words[lo] == p else 0)
        while i < hi:
            q = p + words[i][len(p)]
            j = bisect.bisect_left(words, q + "\U0010ffff", i, hi)
            out.append((q, i, j))
            i = j
        return out

    stack = kids("", 0, len(words))
    root = [q for q, _, _ in stack]
    while stack:
        p, lo, hi = stack.pop()
        if hi - lo == 1 or off[hi] - off[lo] <= leaf_postings or len(p) >= MAX_DEPTH:
            folder.write(f"{_hex(p)}.json", _JSON.encode({"terms": {words[i]: one(i) for i in range(lo, hi)}}))
            continue
        r, w = _best_per_row(pr[off[lo]:off[hi]], pw[off[lo]:off[hi]])
        children = kids(p, lo, hi)
        node: dict[str, Any] = {"head": enc.encode(r, w), "kids": [q[-1] for q, _, _ in children]}
        if words[lo] == p:
            node["terms"] = {p: one(lo)}
        folder.write(f"{_hex(p)}.json", _JSON.encode(node))
        stack.extend(children)
    return root


def write_lists(enc: Encoder, out: Path) -> None:
    """The facet value lists (search/f) and the sort order lists (search/o)."""
    (out / "f").mkdir()
    (out / "o").mkdir()
    for fi, codes in enumerate(enc.codes):
        by_value = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[by_value], np.arange(len(enc.facets[fi]["keys"]) + 1))
        for v in range(len(bounds) - 1):
            if bounds[v + 1] > bounds[v]:
                _dump(out / "f" / f"{fi}-{v}.json", enc.encode(by_value[bounds[v]:bounds[v + 1]], None))
    rows = np.arange(enc.n)
    _dump(out / "o" / "-.json", enc.encode(rows, None))
    for key in SORT_KEYS:
        keys = enc.sort_keys.get(key)
        if keys is None:  # names: ranks may be scaled, the names themselves are exact
            present, asc = np.ones(enc.n, bool), enc.name_order
        else:
            present = keys >= 0
            asc = rows[present][np.lexsort((rows[present], keys[present]))]
        missing = rows[~present]
        _dump(out / "o" / f"{key}-asc.json", enc.encode(np.concatenate((asc, missing))[: enc.list_rows], None))
        _dump(out / "o" / f"{key}-desc.json", enc.encode(np.concatenate((asc[::-1], missing))[: enc.list_rows], None))


def get_prefetch(root: Path, kids: list[str], chunks: int, budget: int = PREFETCH_BYTES) -> list[str]:
    """The files meta.json's ``prefetch`` names (see the module docstring)."""
    first = [root / "t" / f"{_hex(k)}.json" for k in kids] + [root / "o" / "-.json"]
    lists = [*sorted((root / "f").iterdir()), *sorted((root / "o").iterdir())]
    cards = (root / "r" / f"{k}.json" for k in range(chunks))
    out, spent, misses = [], 0, 0
    for path in itertools.chain(dict.fromkeys(first + lists), cards):  # cards: another folder, no repeats
        size = path.stat().st_size
        if spent + size <= budget:
            out.append(path.relative_to(root.parent).as_posix())
            spent += size
        elif (misses := misses + 1) > 64:  # the budget is spent
            break
    return out


class SearchShards:
    """``site/search``, written as the records pass: cards as their chunks fill,
    the rest by ``close`` from the compact rows (``search_rows.RowCollector``).
    ``fs_lock``: the lock the processes writing the site share (see ``Folder``)."""

    def __init__(self, site: Path, *, list_rows: int = LIST_ROWS, leaf_postings: int = LEAF_POSTINGS,
                 card_rows: int = CARD_ROWS, prefetch_bytes: int = PREFETCH_BYTES, fs_lock: Any = None) -> None:
        self.root = site / "search"
        self.list_rows, self.leaf_postings, self.card_rows = list_rows, leaf_postings, card_rows
        self.prefetch_bytes, self.fs_lock = prefetch_bytes, fs_lock
        shutil.rmtree(self.root, ignore_errors=True)
        for sub in ("t", "r"):
            (self.root / sub).mkdir(parents=True)
        self.collector: RowCollector | None = RowCollector(self.root / "r", card_rows, fs_lock)

    def add(self, records: Iterable[Dataset]) -> None:
        add = self.collector.add  # type: ignore[union-attr]
        for d in records:
            add(d)

    def close(self) -> dict[str, Any]:
        """Writes the term nodes, lists and meta.json; returns meta.json's document."""
        rows = self.collector.finish()  # type: ignore[union-attr]
        self.collector = None
        root, card_rows = self.root, self.card_rows
        enc = Encoder(rows, self.list_rows)
        kids = write_terms(rows, enc, root / "t", self.leaf_postings, self.fs_lock)
        write_lists(enc, root)
        meta = {
            "v": 3, "n": rows.n, "page_size": PAGE_SIZE, "list_rows": self.list_rows, "card_rows": card_rows,
            "alphabet": ALPHABET, "widths": enc.widths, "sort_cols": list(SORT_KEYS), "t": enc.tables,
            "facets": enc.facets, "sorts": [s.to_dict() for s in SORTS], "kids": kids,
            "prefetch": get_prefetch(root, kids, -(-rows.n // card_rows), self.prefetch_bytes),
        }
        _dump(root / "meta.json", meta)
        return meta


def write_search_shards(datasets: Iterable[Dataset], site: Path, *, list_rows: int = LIST_ROWS,
                        leaf_postings: int = LEAF_POSTINGS, card_rows: int = CARD_ROWS,
                        prefetch_bytes: int = PREFETCH_BYTES, fs_lock: Any = None) -> dict[str, Any]:
    """Writes ``site/search`` from ``datasets``, read once; returns meta.json's document."""
    shards = SearchShards(site, list_rows=list_rows, leaf_postings=leaf_postings, card_rows=card_rows,
                          prefetch_bytes=prefetch_bytes, fs_lock=fs_lock)
    shards.add(datasets)
    return shards.close()
