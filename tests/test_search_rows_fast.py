"""The search-shard writer's fast paths (generator/site/search_rows.py,
search_postings.py) against the plain code they stand in for: the word regex,
format.safe_url, and a per-row dict of summed weights. The writer's output
must not change, so each is compared on hostile and random input."""

from __future__ import annotations

import random
import string
from array import array

import numpy as np
import pytest

from generator.site.format import safe_url
from generator.site import search_postings
from generator.site.search_postings import Ids, get_postings
from generator.site.search_rows import WORD, _safe_url, _split
from tests.site_fixtures import PAYLOADS

ODD = ["", " ", "_", "a_b", "İstanbul", "ǅemal", "ß", "Σίσυφος", "x\u0301y", "٣٤٥", "ⅷ", "①②", "\x00a\tb\r\nc",
       "\ud800x", "K", "ﬁle", "abc\u200bdef", "日本語のテキスト", "émigré café", "A-B.C/D?E#F", "zarr_v3.ome.zarr"]


def random_texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = string.printable + "éßİǅΣσς٣ⅷ①_\u0301\u200b日本\x00\x7f"
    return [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        for _ in range(count)
    ]


def test_words_split_as_the_regex_finds_them():
    texts = [*PAYLOADS, *ODD, *random_texts(3000, 1), *(t.upper() for t in random_texts(500, 2))]
    for text in texts:
        lowered = text.lower()
        assert _split(lowered) == WORD.findall(lowered), text


def test_urls_are_judged_as_safe_url_judges_them():
    hosts = ["example.org", "EXAMPLE.org:8080", "[::1]", "ex ample.org", "exämple.org", "", "user@host", "h]st"]
    schemes = ["http://", "https://", "HTTPS://", "HtTp://", "ftp://", "http:/", "https:", "javascript:", ""]
    tails = ["", "/", "/a/b.zarr", "?q=1", "#f", "/a\tb", "/a\nb", "/\x00", "/é", " ", "/a b", "\x7f"]
    urls = [f"{pad}{s}{h}{t}{pad}" for s in schemes for h in hosts for t in tails for pad in ("", " ")]
    urls += ["https://" + t for t in random_texts(2000, 4)] + random_texts(500, 5) + list(PAYLOADS)
    urls += [None, 0, 1.5, b"https://example.org/", ["https://example.org/"]]
    for url in urls:
        assert _safe_url(url) == safe_url(url), repr(url)


def expected_postings(rows: list[list[tuple[str, int]]]) -> dict[tuple[str, int], int]:
    """Per (term, row): the sum over codes of the code's weight, each (term, code) once per row."""
    out: dict[tuple[str, int], int] = {}
    for row, postings in enumerate(rows):
        for term, code in set(postings):
            out[term, row] = out.get((term, row), 0) + (code & 63)
    return out


@pytest.mark.parametrize("per_pass", [search_postings.PASS_POSTINGS, 7])
def test_postings_drop_repeats_within_a_field_and_sum_across_fields(per_pass, monkeypatch):
    monkeypatch.setattr(search_postings, "PASS_POSTINGS", per_pass)  # 7: many passes, a few postings each
    rng = random.Random(6)
    vocabulary = ["zebrafish", "z", "zeb", "kidney", "k", "00012", "émigré", "日本"]
    codes = [20, 10, 6, 128 + 28, 128 + 10, 192 + 25, 192 + 10]
    rows = [[(rng.choice(vocabulary), rng.choice(codes)) for _ in range(rng.randint(0, 12))] for _ in range(300)]
    ids, post_term, post_code, post_end = Ids(), array("I"), array("B"), array("q")
    for postings in rows:
        post_term.extend(ids[t] for t, _ in postings)
        post_code.extend(c for _, c in postings)
        post_end.append(len(post_term))
    got = get_postings(ids, post_term, post_code, post_end, len(rows))
    assert got.words == sorted(ids)
    found = {}
    for i, word in enumerate(got.words):
        rows_of = got.rows[got.offsets[i]:got.offsets[i + 1]]
        assert np.all(np.diff(rows_of.astype(np.int64)) > 0), "rows ascend within a term, once each"
        for row, weight in zip(rows_of.tolist(), got.weights[got.offsets[i]:got.offsets[i + 1]].tolist()):
            found[word, row] = weight
    assert found == expected_postings(rows)
