"""The sharded search index (generator/site/search_shards.py, assets/shards.js):
what the writer puts in each list, and what a visitor's queries fetch and show,
in headless Chromium against the real local server."""

from __future__ import annotations

import json
import random
from pathlib import Path
from urllib.parse import unquote

import pytest

from generator.dev.server import BackgroundServer, RequestLog, make_app
from generator.records import Catalog, Term
from generator.site.pages import write_site
from generator.site.search_rows import get_words
from generator.site.search_shards import write_search_shards
from tests.site_fixtures import HOSTILE, make_catalog, make_dataset, make_hostile_catalog, shown_text

PREFIX = "/s/"
WORDS = "zebrafish kidney organoid mitotic chromosome cortex lightsheet tubulin actin nuclei".split()
SMALL = {"leaf_postings": 40, "list_rows": 25, "card_rows": 4, "prefetch_bytes": 0}


def many_datasets(count: int) -> list:
    rng = random.Random(3)
    out = []
    for i in range(count):
        words = rng.sample(WORDS, 2)
        out.append(make_dataset(
            100 + i, source=["IDR", "JAX", "SSBD"][i % 3], collection=f"c{i % 7}", name=f"{words[0].title()} {i:04d}",
            description=f"about {words[1]}", organism=Term("NCBI:txid7955", ["Danio rerio", "Mus musculus"][i % 2]),
            sharded=i % 4 == 0, written_bytes=1000 + rng.randint(0, 10**9)))
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The demo catalog and 240 more rows, with small lists and no prefetch, so
    that even this small catalog splits its term nodes and cuts its lists."""
    out = tmp_path_factory.mktemp("shards")
    base = make_catalog(out)
    catalog = Catalog(generated_at=base.generated_at, datasets=base.datasets + tuple(many_datasets(240)))
    write_site(catalog, out)
    meta = write_search_shards(iter(catalog.datasets), out, **SMALL)
    return out, catalog, meta


@pytest.fixture(scope="module")
def served(site):
    log = RequestLog()
    server = BackgroundServer(make_app(site[0], prefix=PREFIX, log=log, cors=False)).start()
    try:
        yield server.url + PREFIX, log
    finally:
        server.stop()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    yield pg
    ctx.close()


def type_query(page, q: str) -> None:
    """Types ``q`` and waits until the page shows its answer (results' data-query)."""
    page.fill("input[type=search]", q)
    page.wait_for_selector(f"#results[data-query='{q}']", state="attached")


def shown(page) -> list[str]:
    return page.eval_on_selector_all("#results .card", "cards => cards.map(c => c.dataset.url)")


def matches(d, words: list[str]) -> bool:
    text = set(get_words(" ".join(filter(None, (
        d.name, d.url.replace("/", " "), d.description, d.source, d.collection,
        d.organism and d.organism.label, d.modality and d.modality.label, d.license)))))
    return all(any(t.startswith(w) for t in text) for w in words)


# ------------------------------------------------------------------ the writer


def test_lists_carry_exact_sizes_and_counts_where_they_are_cut(site):
    out, catalog, meta = site
    node = json.loads((out / "search" / "t" / f"{'ze'.encode().hex()}.json").read_text())
    lists = node["terms"] if "terms" in node and "zebrafish" in node["terms"] else None
    if lists is None:  # split further: the head of "ze" covers the same rows
        lists = {"zebrafish": node["head"]}
    df, deltas, weights, codes, counts = lists["zebrafish"]
    expected = [d for d in catalog.datasets if "zebrafish" in get_words(f"{d.name} {d.description}")]
    assert df == len(expected) > SMALL["list_rows"] == len(deltas)
    assert len(codes) == len(deltas) * sum(meta["widths"])
    # Exact facet counts over every row of the term, not just those kept.
    source = dict(zip(counts[0][::2], counts[0][1::2]))
    by_source = {meta["t"]["source"][k]: v for k, v in source.items()}
    assert by_source == {s: sum(d.source == s for d in expected) for s in {d.source for d in expected}}
    # The kept rows are the best: every name match (weight 20+) before description-only ones.
    kept = {sum(deltas[: i + 1]) for i in range(len(deltas))}
    name_rows = [i for i, d in enumerate(catalog.datasets) if "zebrafish" in get_words(d.name)]
    assert kept >= set(name_rows[: SMALL["list_rows"]])


def test_the_writer_reads_its_records_once_as_an_iterable(tmp_path):
    catalog = make_catalog(tmp_path)
    seen = []

    def once():
        for d in catalog.datasets:
            seen.append(d.url)
            yield d

    meta = write_search_shards(once(), tmp_path)
    assert seen == [d.url for d in catalog.datasets] and meta["n"] == len(seen)
    cards = [c for k in range(-(-meta["n"] // meta["card_rows"]))
             for c in json.loads((tmp_path / "search" / "r" / f"{k}.json").read_text())]
    assert [c[2] for c in cards] == seen


# ------------------------------------------------------------------ in the browser


def open_index(page, base: str, query: str = "") -> None:
    page.goto(base + "index.html" + query)
    page.wait_for_selector("html[data-search-ready=true]")


@pytest.mark.browser
def test_a_query_fetches_only_the_shards_it_needs(page, site, served):
    out, catalog, meta = site
    base, log = served
    open_index(page, base)
    log.clear()
    type_query(page, "zebrafish")
    paths = [unquote(p)[len(PREFIX):] for p in log.paths()]
    terms = sorted(p for p in paths if p.startswith("search/t/"))
    # One node per level walked down from "z", no other term node, no list of facets or sorts.
    walked = [bytes.fromhex(Path(p).stem).decode() for p in terms]
    assert walked and all("zebrafish".startswith(w) for w in walked) and len(set(walked)) == len(walked)
    assert not [p for p in paths if p.startswith(("search/f/", "search/o/", "index.json"))]
    cards = [p for p in paths if p.startswith("search/r/")]
    assert 0 < len(cards) <= len(shown(page))
    # Typing on (a longer prefix, a fuzzy variant) fetches no more nodes once walked to a leaf.
    log.clear()
    type_query(page, "zebrafis")
    assert not [p for p in log.paths() if "/search/t/" in p]
    assert page.errors == []


@pytest.mark.browser
def test_results_ranked_prefix_and_typo(page, site, served):
    out, catalog, meta = site
    base, _ = served
    by_url = {d.url: d for d in catalog.datasets}
    open_index(page, base)
    type_query(page, "chromosome")
    urls = shown(page)
    names = [("chromosome" in by_url[u].name.lower()) for u in urls]
    # Name matches (weight 2) come before description matches (0.6).
    assert names[0] and names == sorted(names, reverse=True)
    type_query(page, "organo")  # prefix
    assert urls != shown(page) and all(matches(by_url[u], ["organo"]) for u in shown(page))
    assert shown_text(page.locator("#results .card mark").first).lower() == "organoid"
    type_query(page, "tubulni")  # typo: two letters swapped, distance 2 > 0.2 * 7: no match
    assert shown(page) == []
    type_query(page, "tubuln")  # one letter missing
    assert shown(page) and all("tubulin" in f"{by_url[u].name} {by_url[u].description}".lower() for u in shown(page))


@pytest.mark.browser
def test_facet_counts_match_the_records(page, site, served):
    out, catalog, meta = site
    base, _ = served
    open_index(page, base, "?q=brain&source=JAX")
    page.wait_for_selector("#results[data-query='brain']", state="attached")
    hits = [d for d in catalog.datasets if matches(d, ["brain"])]
    assert len(hits) <= SMALL["list_rows"]  # nothing cut: every count is exact

    def count(facet: str, value: str) -> int:
        box = page.locator(f'#facets input[data-facet="{facet}"][data-value="{value}"]')
        return int(box.locator("xpath=../span[@class='count']").inner_text().replace(",", ""))

    # The source facet counts the query's hits of every source; the others only JAX's.
    for s in ("IDR", "JAX", "SSBD"):
        assert count("source", s) == sum(d.source == s for d in hits)
    jax = [d for d in hits if d.source == "JAX"]
    for label in ("Homo sapiens", "Mus musculus"):
        assert count("organism", label) == sum(d.organism.label == label for d in jax)
    assert count("sharded", "yes") == sum(bool(d.level0 and d.level0.shards) for d in jax)
    assert sorted(shown(page)) == sorted(d.url for d in jax)
    # A lone filter on a cut list: exact counts from the list, status exact too.
    open_index(page, base, "?organism=Danio+rerio")
    page.wait_for_selector("#results[data-query='']", state="attached")
    zebra = [d for d in catalog.datasets if d.organism and d.organism.label == "Danio rerio"]
    assert count("source", "IDR") == sum(d.source == "IDR" for d in zebra)
    assert count("organism", "Mus musculus") == sum(d.organism and d.organism.label == "Mus musculus"
                                                      for d in catalog.datasets)
    assert f"of {len(zebra)} datasets" in page.inner_text("#result-status")
    # A query on a cut list, filtered: the part held is counted, and the status says so.
    open_index(page, base, "?q=kidney&source=JAX")
    page.wait_for_selector("#results[data-query='kidney']", state="attached")
    hits = [d for d in catalog.datasets if matches(d, ["kidney"])]
    assert len(hits) > SMALL["list_rows"]
    assert 0 < count("source", "IDR") <= sum(d.source == "IDR" for d in hits)
    assert "+ datasets" in page.inner_text("#result-status")


@pytest.mark.browser
def test_sorted_query_results(page, site, served):
    out, catalog, meta = site
    base, _ = served
    by_url = {d.url: d for d in catalog.datasets}
    open_index(page, base, "?q=actin&sort=bytes")
    page.wait_for_selector("#results[data-query='actin']", state="attached")
    sizes = [by_url[u].written_bytes for u in shown(page)]
    assert sizes and sizes == sorted(sizes, reverse=True)


@pytest.mark.browser
def test_hostile_strings_are_searched_and_escaped(browser, tmp_path):
    catalog = make_hostile_catalog(tmp_path)
    write_site(catalog, tmp_path)
    write_search_shards(iter(catalog.datasets), tmp_path, **SMALL)
    server = BackgroundServer(make_app(tmp_path, prefix=PREFIX, cors=False)).start()
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        open_index(page, server.url + PREFIX)
        for q in ("script", "onerror", "img", "name"):
            type_query(page, q)
            assert page.evaluate("window.__pwned") is None
            assert page.locator("#results script, #results img[src=x], #results [onerror]").count() == 0
        type_query(page, "name")
        title = shown_text(page.locator("#results .card h3").first)
        assert title == f"Name {HOSTILE}"
    finally:
        ctx.close()
        server.stop()
