"""The postings of the sharded search index: one (term, row, weight) per term
a row holds, sorted by term and row, with numpy.

The rows stage (search_rows.py) appends, per row, a term id and a code per
word of each field: a per-row field's code is its weight, so a word twice in
one field counts once (the duplicates are equal); the shared fields'
postings come already summed per group of fields, coded 128 or 192 + weight
(weights stay under 64). Here the duplicates go,
a row's weights for one term add up, and the terms are ranked by their text.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np


WEIGHT = 63  # the bits of a posting code that are its weight


class Ids(dict):
    """Term -> id; a term not seen before gets the next id (``ids[term]`` never misses)."""

    __slots__ = ()

    def __missing__(self, term: str) -> int:
        i = self[term] = len(self)
        return i


@dataclass(frozen=True)
class Postings:
    words: list[str]  # every term, sorted
    offsets: np.ndarray  # words[i]'s postings are rows/weights[offsets[i]:offsets[i + 1]]
    rows: np.ndarray  # uint32, ascending within a term
    weights: np.ndarray  # uint8 (x10)


def _ranks(ids: Ids) -> tuple[list[str], np.ndarray]:
    terms = list(ids)
    order = sorted(range(len(terms)), key=terms.__getitem__)
    rank = np.empty(len(terms), dtype=np.int64)
    rank[order] = np.arange(len(terms))
    return [terms[i] for i in order], rank


def _sorted_keys(rank: np.ndarray, post_term: array, post_code: array, post_end: array, n: int) -> np.ndarray:
    """(rank * n + row) << 8 | code per posting, sorted, duplicates dropped."""
    counts = np.diff(np.frombuffer(post_end, dtype=np.int64), prepend=0)
    key = rank[np.frombuffer(post_term, dtype=np.uint32)]
    key *= n
    key += np.repeat(np.arange(n, dtype=np.uint32), counts)
    key <<= 8
    key |= np.frombuffer(post_code, dtype=np.uint8)
    key.sort()
    keep = np.empty(len(key), dtype=bool)
    keep[:1] = True
    np.not_equal(key[1:], key[:-1], out=keep[1:])
    return key[keep]


def get_postings(ids: Ids, post_term: array, post_code: array, post_end: array, n: int) -> Postings:
    words, rank = _ranks(ids)
    if not words or not len(post_term):
        empty = np.zeros(0, dtype=np.uint32)
        return Postings(words, np.zeros(len(words) + 1, dtype=np.int64), empty, empty.astype(np.uint8))
    if len(words) * n >= 2**54:  # the key would not fit 63 bits
        raise ValueError(f"{len(words)} terms in {n} rows: too many for the search index")
    key = _sorted_keys(rank, post_term, post_code, post_end, n)
    pair = key >> 8
    first = np.flatnonzero(np.concatenate(([True], pair[1:] != pair[:-1])))
    weights = np.minimum(np.add.reduceat(key & WEIGHT, first), 255).astype(np.uint8)
    del key
    pair = pair[first]
    offsets = np.searchsorted(pair, np.arange(len(words) + 1, dtype=np.int64) * n)
    return Postings(words, offsets, (pair % n).astype(np.uint32), weights)
