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
PASS_POSTINGS = 1 << 21  # postings sorted at a time (~45 bytes each of transient memory)


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


def _cuts(counts_by_rank: np.ndarray, per_pass: int) -> list[int]:
    """Rank ranges [cuts[k], cuts[k + 1]) of about ``per_pass`` postings each (a term is never split)."""
    cum = np.cumsum(counts_by_rank)
    inner = np.searchsorted(cum, np.arange(per_pass, int(cum[-1]), per_pass), side="left") + 1
    return sorted({0, len(counts_by_rank), *inner.tolist()} - {len(counts_by_rank) + 1})


def _blocks(length: int) -> range:
    return range(0, length, PASS_POSTINGS)


def _one_pass(sel: np.ndarray, term: np.ndarray, code: np.ndarray, ends: np.ndarray, rank: np.ndarray,
              low: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The (rank - low) * n + row pairs of postings ``sel``, sorted, once each; and their summed weights."""
    key = rank[term[sel]] - low
    key *= n
    key += np.searchsorted(ends, sel, side="right")  # the row a posting belongs to
    key <<= 8
    key |= code[sel]
    key.sort()
    keep = np.empty(len(key), dtype=bool)
    keep[:1] = True
    np.not_equal(key[1:], key[:-1], out=keep[1:])
    key = key[keep]
    pair = key >> 8
    first = np.flatnonzero(np.concatenate(([True], pair[1:] != pair[:-1])))
    return pair[first], np.minimum(np.add.reduceat(key & WEIGHT, first), 255).astype(np.uint8)


def get_postings(ids: Ids, post_term: array, post_code: array, post_end: array, n: int) -> Postings:
    """The postings, sorted by term and row, a few million at a time (memory stays near the input's)."""
    words, rank = _ranks(ids)
    if not words or not len(post_term):
        empty = np.zeros(0, dtype=np.uint32)
        return Postings(words, np.zeros(len(words) + 1, dtype=np.int64), empty, empty.astype(np.uint8))
    term, code = np.frombuffer(post_term, dtype=np.uint32), np.frombuffer(post_code, dtype=np.uint8)
    ends = np.frombuffer(post_end, dtype=np.int64)
    by_id = sum(np.bincount(term[s:s + PASS_POSTINGS], minlength=len(words)) for s in _blocks(len(term)))
    by_rank = np.empty_like(by_id)
    by_rank[rank] = by_id
    rows, weights = np.empty(len(term), dtype=np.uint32), np.empty(len(term), dtype=np.uint8)
    per_rank, at = np.zeros(len(words), dtype=np.int64), 0
    cuts = _cuts(by_rank, PASS_POSTINGS)
    for low, high in zip(cuts, cuts[1:]):
        wanted = (rank >= low) & (rank < high)
        sel = np.concatenate([np.flatnonzero(wanted[term[s:s + PASS_POSTINGS]]) + s for s in _blocks(len(term))])
        pairs, summed = _one_pass(sel, term, code, ends, rank, low, n)
        rows[at:at + len(pairs)] = pairs % n
        weights[at:at + len(pairs)] = summed
        per_rank[low:high] = np.bincount(pairs // n, minlength=high - low)
        at += len(pairs)
    offsets = np.concatenate(([0], np.cumsum(per_rank)))
    return Postings(words, offsets, rows[:at], weights[:at])
