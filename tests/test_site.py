"""The site stage: exports checked in Python, pages driven in headless Chromium.

The site is written by ``write_site`` from Dataset records built in
tests/site_fixtures.py (real WebP thumbnails), served by the project's aiohttp
static server under a sub-path, and browsed with Playwright.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
from dataclasses import replace
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from generator.dev.server import BackgroundServer, RequestLog, make_app
from generator.records import Dataset, Level
from generator.site.assets import SiteAssets, get_inline_css, read_site_assets
from generator.site.cards import get_badges
from generator.site.dataset_view import get_dataset_page
from generator.site.exports import CSV_COLUMNS
from generator.site.format import display_name, format_time, json_for_script, safe_url
from generator.site.pages import SiteWriter, get_chrome, make_environment, write_site
from generator.site.report import get_report_page
from generator.site.search_index import FACET_LABELS, SORTS
from generator.site.search_shards import write_search_shards
from generator.site.views import get_about_page, get_byte_total, get_index_page
from tests.site_fixtures import PAYLOADS, make_catalog, make_hostile_catalog, shown_text

HERE = Path(__file__).parent
REPO = HERE.parent
AXE = HERE / "vendor" / "axe-core-4.14.1.min.js"
PREFIX = "/sub/path/"


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    catalog = make_catalog(out)
    write_site(catalog, out)
    return out, catalog


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile")
    catalog = make_hostile_catalog(out)
    write_site(catalog, out)
    return out, catalog


@pytest.fixture(scope="module")
def servers(built, hostile):
    log = RequestLog()
    good = BackgroundServer(make_app(built[0], prefix=PREFIX, log=log, cors=False)).start()
    bad = BackgroundServer(make_app(hostile[0], prefix=PREFIX, cors=False)).start()
    try:
        yield {"good": good.url + PREFIX, "hostile": bad.url + PREFIX, "log": log, "host": f"127.0.0.1:{good.port}"}
    finally:
        good.stop()
        bad.stop()


class Watch:
    """Console errors, page errors and request hosts of one page."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.hosts: set[str] = set()
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.hosts.add(urlsplit(r.url).netloc or urlsplit(r.url).scheme))


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.watch = Watch(pg)
    yield pg
    ctx.close()


def open_index(page, base: str, query: str = "") -> None:
    page.goto(base + "index.html" + query)
    page.wait_for_selector("html[data-search-ready=true]")


def card_urls(page) -> list[str]:
    return page.eval_on_selector_all("#results .card", "cards => cards.map(c => c.dataset.url)")


def by_url(catalog) -> dict[str, Dataset]:
    return {d.url: d for d in catalog.datasets}


# ------------------------------------------------------------------ exports (no browser)


def test_catalog_json_contract(built):
    out, catalog = built
    doc = json.loads((out / "catalog.json").read_text())
    assert doc["schema_version"] == 1
    assert doc["generated_at"] == catalog.generated_at
    assert doc["totals"]["datasets"] == len(catalog.datasets)
    assert doc["totals"]["plates"] == sum(d.kind == "plate" for d in catalog.datasets)
    assert {s["name"]: s["datasets"] for s in doc["sources"]} == {"IDR": 4, "BioImage Archive": 3, "JAX": 3}
    assert doc["datasets"] == [d.to_dict() for d in catalog.datasets]
    for key in ("id", "url", "kind", "status", "errors", "ngff_version", "zarr_format", "axes", "shape", "thumbnail"):
        assert key in doc["datasets"][0]


def test_catalog_csv_uses_challenge_columns(built):
    out, catalog = built
    with open(out / "catalog.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert [r["url"] for r in rows] == [d.url for d in catalog.datasets]
    plate = rows[0]
    assert plate["shape"] == ",".join(str(v) for v in catalog.datasets[0].shape)
    assert plate["dimension_names"] == "c,z,y,x"
    assert plate["organismId"] == "NCBI:txid4932"
    assert plate["wells"] == "3"
    sharded = rows[2]
    assert sharded["shards"] and sharded["chunks"]


def test_report_json_and_sitemap(built):
    out, catalog = built
    report = json.loads((out / "report.json").read_text())
    failing = {d.url for d in catalog.datasets if d.status != "ok"}
    assert {d["url"] for d in report["datasets"]} == failing
    unreachable = next(d for d in report["datasets"] if d["status"] == "unreachable")
    assert unreachable["errors"] and unreachable["listings"] == ["jax.csv:10"]
    assert report["row_errors"][0]["line"] == 7
    sitemap = (out / "sitemap.xml").read_text()
    assert sitemap.count("<url>") == len(catalog.datasets) + 3
    assert f"datasets/{catalog.datasets[0].id}/" in sitemap


def read_search_rows(out: Path) -> tuple[dict, list[list], list[dict[str, str]]]:
    """The sharded index's meta, every card row, and each row's facet values
    (decoded from the catalog-order list, which a small catalog does not cut)."""
    meta = json.loads((out / "search" / "meta.json").read_text())
    chunks = -(-meta["n"] // meta["card_rows"])
    cards = [c for k in range(chunks) for c in json.loads((out / "search" / "r" / f"{k}.json").read_text())]
    df, _, _, codes, counts = json.loads((out / "search" / "o" / "-.json").read_text())
    assert df == meta["n"] and counts == 0
    width, digit = sum(meta["widths"]), {ch: i for i, ch in enumerate(meta["alphabet"])}
    values = []
    for row in range(meta["n"]):
        text, at, facets = codes[row * width:(row + 1) * width], 0, {}
        for facet, w in zip(meta["facets"], meta["widths"]):
            code = 0
            for ch in text[at:at + w]:
                code = code * 64 + digit[ch]
            facets[facet["key"]], at = facet["keys"][code], at + w
        values.append(facets)
    return meta, cards, values


def test_search_index_covers_every_row(built):
    out, catalog = built
    meta, cards, values = read_search_rows(out)
    assert meta["n"] == len(catalog.datasets) == len(cards) == len(values)
    assert [c[0] for c in cards] == [d.id for d in catalog.datasets]
    assert [c[2] for c in cards] == [d.url for d in catalog.datasets]
    # Repeated strings are interned once.
    assert sorted(meta["t"]["source"]) == ["BioImage Archive", "IDR", "JAX"]
    assert all(sum(f["total"]) == meta["n"] for f in meta["facets"])
    assert not (out / "index.json").exists()  # nothing reads a whole-catalog index any more


def test_byte_totals_say_what_they_cover():
    # An offline build knows no uncompressed size: the summary must not claim "0 B".
    assert get_byte_total([None, None]).text == ""
    partial = get_byte_total([2048, None, 1024])
    assert (partial.text, partial.known, partial.of, partial.partial) == ("3.0 KiB", 2, 3, True)
    assert not get_byte_total([0, 1]).partial


def test_times_read_in_utc():
    assert format_time("2026-11-22T03:42:29+02:00") == "2026-11-22 01:42 UTC"
    assert format_time("2026-11-22T01:42:29Z") == "2026-11-22 01:42 UTC"
    assert format_time("yesterday-ish") == "yesterday-ish"  # a value the state did not write stays readable


def test_summary_line_of_an_offline_catalog(tmp_path):
    out = tmp_path / "site"
    catalog = make_catalog(out)
    bare = replace(catalog, datasets=(replace(catalog.datasets[0], uncompressed_bytes=None), *catalog.datasets[1:]))
    write_site(bare, out)
    summary = re.search(r'<p class="summary">(.*?)</p>', (out / "index.html").read_text(), re.S).group(1)
    text = re.sub(r"<[^>]+>", "", unescape(summary))
    known = sum(1 for d in bare.datasets if d.uncompressed_bytes is not None)
    assert f"uncompressed (in {known} of {len(bare.datasets)} datasets)" in text
    assert "0 B" not in text


def test_safe_url_and_script_json():
    assert safe_url("https://a.org/x.zarr") == "https://a.org/x.zarr"
    for bad in ("javascript:alert(1)", "JAVASCRIPT:x", " javascript:x", "data:text/html,x", "file:///etc/passwd", "//a.org", "http:/x", None, ""):
        assert safe_url(bad) is None
    text = json_for_script({"name": "</script><script>x</script>"})
    assert "<" not in text and json.loads(text)["name"] == "</script><script>x</script>"


def test_templates_carry_csp_and_no_inline_code(built):
    out, catalog = built
    pages = [out / "index.html", out / "report.html", out / "about.html", out / "datasets" / catalog.datasets[0].id / "index.html"]
    for p in pages:
        raw = p.read_text()
        html = unescape(raw)
        policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', raw)
        directives = dict(d.strip().split(" ", 1) for d in unescape(policy.group(1)).split(";"))
        assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
        assert directives["img-src"] == "'self' data:" and directives["object-src"] == "'none'"
        # Styles: our own files, plus exactly the inline <style> blocks whose hashes are listed.
        style_src = directives["style-src"].split()
        assert style_src[0] == "'self'" and "'unsafe-inline'" not in style_src
        inline = re.findall(r"<style>(.*?)</style>", raw, re.S)
        hashes = {"'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'" for css in inline}
        assert set(style_src[1:]) == hashes, p
        if p.name == "index.html" and p.parent == out:
            assert len(inline) == 1 and ".card" in inline[0]  # site.css inlined: first paint needs one round trip
        assert not re.search(r"\sstyle\s*=", html), p
        assert not re.search(r"\son[a-z]+\s*=", html), p
        for script in re.findall(r"<script([^>]*)>", html):
            assert "src=" in script or 'type="application/ld+json"' in script, script


# ------------------------------------------------------------------ page contexts (no browser, no files)


def visible_text(html: str) -> str:
    """What a reader sees: the text outside tags, scripts, styles and templates, whitespace collapsed."""
    html = re.sub(r"<(script|style|template)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def bare_assets(**kw) -> SiteAssets:
    css, css_hash = get_inline_css(".card { color: red }")
    return SiteAssets(css, css_hash, **kw)


def test_index_page_context_renders_summary_sources_cards_and_card_template(tmp_path):
    catalog = make_catalog(tmp_path)
    first = catalog.datasets[0]
    assets = bare_assets(logos={"JAX": "assets/logos/jax.svg"}, inline={first.thumbnail.card: "data:image/webp;base64,AAAA"}, eager=1)
    html = make_environment().get_template("index.html").render(page=get_index_page(catalog, assets))
    text = visible_text(html)
    assert "10 datasets · 8 images · 2 plates" in text
    assert "3 failing" in text and "IDR 4 datasets" in text and "JAX 3 datasets" in text
    assert '<img class="source-logo" src="assets/logos/jax.svg"' in html  # the logo the assets record found
    for d in catalog.datasets:
        assert display_name(d) in text
    # The first card's thumbnail is the inlined one, fetched first; the others load lazily from files.
    cards = re.findall(r"<article class=\"card\".*?</article>", html.split("<template")[0], re.S)
    assert len(cards) == len(catalog.datasets)
    assert 'src="data:image/webp;base64,AAAA"' in cards[0] and 'fetchpriority="high"' in cards[0]
    assert f'src="{catalog.datasets[1].thumbnail.card}"' in cards[1] and 'loading="lazy"' in cards[1]
    assert 'data-url="https://data.jax.example.org/brains/ds009.ome.zarr"' in cards[9] and "No thumbnail for Brain without thumbnail" in cards[9]
    # The card <template> the JS clones: every optional part present, every value empty.
    template = re.search(r'<template id="card-template">(.*?)</template>', html, re.S).group(1)
    assert template.count("<article") == 1 and 'data-url=""' in template
    for part in ("<img ", "thumb-placeholder", 'class="sep"', 'class="col"', 'class="badge badge-"', "ext-validate", "ext-origin"):
        assert part in template, part
    # Sorts and filter keys come from the definitions the search index carries.
    assert re.findall(r'<option value="([^"]*)">', html) == [s.key for s in SORTS]
    assert f'data-keys="{" ".join(FACET_LABELS)}"' in html
    assert "sha256-" + assets.css_hash in html and "<style>.card { color: red }</style>" in html


def test_dataset_page_context_renders_facts_levels_and_the_recorded_thumbnail_size(tmp_path):
    catalog = make_catalog(tmp_path)
    d = catalog.datasets[0]
    sized = replace(d, thumbnail=replace(d.thumbnail, detail_width=1024, detail_height=768))
    env = make_environment()
    chrome = get_chrome(env, root="../../", title=catalog.title, generated_at=catalog.generated_at)
    html = env.get_template("dataset.html").render(page=get_dataset_page(sized, catalog), chrome=chrome)
    text = visible_text(html)
    assert f"{d.name} · {catalog.title}" in html and "Saccharomyces cerevisiae" in text
    assert "Shape 2 × 10 × 512 × 640 (c × z × y × x)" in text and "Image path A/1/0" in text
    assert "v0.4" in text and "plate" in text and "idr.csv:2" in text
    assert f'src="../../{d.thumbnail.detail}" width="1024" height="768"' in html
    # A record from before the detail sizes were kept: the card's size, same aspect ratio.
    html = env.get_template("dataset.html").render(page=get_dataset_page(d, catalog), chrome=chrome)
    assert f'src="../../{d.thumbnail.detail}" width="256" height="256"' in html
    # A level the CSV listed is not a guess; one inferred from the scales is.
    listed = replace(d, resolutions=(Level("0", (5, 6), inferred=True, listed=True), Level("1", (3, 3), inferred=True)))
    rows = get_dataset_page(listed, catalog).levels
    assert [r.shape for r in rows] == ["5 × 6", "3 × 3 (inferred)"]
    no_thumb = catalog.datasets[9]
    html = env.get_template("dataset.html").render(page=get_dataset_page(no_thumb, catalog), chrome=chrome)
    assert 'aria-label="No thumbnail for Brain without thumbnail"' in html and "<img" not in html.split("detail-thumb")[1][:200]


def test_report_page_context_renders_failures_by_source(tmp_path):
    catalog = make_catalog(tmp_path)
    text = visible_text(make_environment().get_template("report.html").render(page=get_report_page(catalog)))
    assert "3 failing datasets and 1 CSV files with row errors" in text
    assert "jax.csv:7 not an http(s) URL: ftp://x" in text
    assert "Unreachable brain unreachable" in text and "HTTP 404: zarr.json not found" in text and "Listed at jax.csv:10" in text
    assert "Zebrafish embryo lightsheet invalid" in text and "Arabidopsis root tip stale" in text


def test_about_page_context_renders_totals_and_files_read(tmp_path):
    catalog = make_catalog(tmp_path)
    text = visible_text(make_environment().get_template("about.html").render(page=get_about_page(catalog)))
    assert "It currently lists 10 datasets (8 images, 2 plates) from 3 sources" in text
    for f in catalog.csv_files:
        assert f in text


def test_site_assets_are_read_once_into_a_record(tmp_path):
    out = tmp_path / "site"
    catalog = make_catalog(out)
    assets_dir = tmp_path / "assets"
    (assets_dir / "logos").mkdir(parents=True)
    (assets_dir / "site.css").write_text(".a {}\r\n.b {}", encoding="utf-8")
    (assets_dir / "logos" / "bioimage-archive.png").write_bytes(b"png")
    big = catalog.datasets[1].thumbnail.card
    (out / big).write_bytes(b"x" * (25 * 1024))  # past the inlining limit: stays a file
    assets = read_site_assets(catalog, out, assets_dir, inline_thumbnails=3)
    assert assets.css == ".a {}\n.b {}"  # as the browser hashes it
    assert assets.css_hash == base64.b64encode(hashlib.sha256(b".a {}\n.b {}").digest()).decode()
    assert dict(assets.logos) == {"BioImage Archive": "assets/logos/bioimage-archive.png"}
    first, third = catalog.datasets[0].thumbnail.card, catalog.datasets[2].thumbnail.card
    assert set(assets.inline) == {first, third} and assets.eager == 3
    assert assets.inline[first] == "data:image/webp;base64," + base64.b64encode((out / first).read_bytes()).decode()
    with pytest.raises(TypeError):
        assets.logos["x"] = "y"  # read-only


def test_search_index_carries_badges_facets_and_sorts(built, tmp_path):
    out, catalog = built
    meta, cards, values = read_search_rows(out)
    badges = meta["t"]["badges"]
    for card, d in zip(cards, catalog.datasets):
        assert [tuple(b) for b in badges[card[7]]] == list(get_badges(d))
    assert [f["key"] for f in meta["facets"]] == list(FACET_LABELS)
    assert [v["status"] for v in values] == [d.status for d in catalog.datasets]
    organism = next(f for f in meta["facets"] if f["key"] == "organism")
    unstated = [d for d in catalog.datasets if d.organism is None]
    assert organism["keys"][-1] == "not stated" and sum(v["organism"] == "not stated" for v in values) == len(unstated)
    assert [v["sharded"] for v in values] == ["yes" if d.level0 and d.level0.shards else "no" for d in catalog.datasets]
    assert meta["sorts"] == [s.to_dict() for s in SORTS] and all(c[12] == 1 for c in cards)
    write_search_shards([Dataset(url="not a url", name="x")], tmp_path)
    assert read_search_rows(tmp_path)[1][0][12] == 0  # no validator link for it


def test_display_name_is_the_sources_name_for_an_unnamed_listing():
    assert display_name(Dataset(url="https://h.org/a/My%20cells.ome.zarr/")) == "My cells.ome.zarr"
    assert display_name(Dataset(url="https://h.org/a/b.zarr", name="  Named  ")) == "Named"


def test_forked_page_writers_write_what_one_process_writes(tmp_path):
    catalog = make_catalog(tmp_path / "one")
    SiteWriter(catalog, tmp_path / "one", workers=1).write()
    make_catalog(tmp_path / "forked")
    SiteWriter(catalog, tmp_path / "forked", workers=2, parallel_min=1).write()
    for d in catalog.datasets:
        page = f"datasets/{d.id}/index.html"
        assert (tmp_path / "forked" / page).read_bytes() == (tmp_path / "one" / page).read_bytes()


# ------------------------------------------------------------------ browser


@pytest.mark.browser
def test_first_page_is_prerendered_without_javascript(browser, built, servers):
    out, catalog = built
    ctx = browser.new_context(java_script_enabled=False)
    page = ctx.new_page()
    page.goto(servers["good"] + "index.html")
    assert card_urls(page) == [d.url for d in catalog.datasets]
    assert page.locator("input[type=search]").count() == 1
    first = page.locator(".card").first
    assert first.locator("a").first.get_attribute("href") == f"datasets/{catalog.datasets[0].id}/"
    img = first.locator("img")
    assert img.get_attribute("width") == "256" and img.get_attribute("height") == "256"
    assert page.locator(".card .thumb-placeholder").count() == 2
    assert "3 datasets" in page.locator(".source-panel[data-source=JAX]").inner_text()
    ctx.close()


@pytest.mark.browser
def test_browsing_makes_no_foreign_request_and_no_console_error(page, built, servers):
    out, catalog = built
    base = servers["good"]
    open_index(page, base)
    page.fill("input[type=search]", "brain")
    page.wait_for_function("document.querySelectorAll('#results .card').length === 4")
    page.click("#results .card >> nth=0 >> h3 a")
    page.wait_for_selector("h1")
    page.goto(base + "report.html")
    page.goto(base + "about.html")
    assert page.watch.errors == []
    assert page.watch.hosts == {servers["host"]}, page.watch.hosts


@pytest.mark.browser
def test_search_is_ranked_prefix_and_typo_tolerant(page, built, servers):
    out, catalog = built
    open_index(page, servers["good"])
    search = page.locator("input[type=search]")
    urls = by_url(catalog)

    search.fill("zebra")  # prefix
    page.wait_for_function("document.querySelectorAll('#results .card').length === 1")
    assert urls[card_urls(page)[0]].name == "Zebrafish embryo lightsheet"
    # The matched word is highlighted, as marked-up text nodes.
    assert shown_text(page.locator("#results .card mark").first).lower() == "zebrafish"

    search.fill("chromosme")  # typo
    page.wait_for_function("document.querySelectorAll('#results .card').length >= 1")
    assert urls[card_urls(page)[0]].name == "Mitotic chromosome condensation HeLa"

    search.fill("mus musculus")  # organism label, every term must match
    page.wait_for_function("document.querySelector('#result-status').textContent.includes('of 2 datasets')")
    assert {urls[u].organism.label for u in card_urls(page)} == {"Mus musculus"}

    search.fill("yeast plate p171")  # ranking: the exact name first
    page.wait_for_timeout(50)
    assert urls[card_urls(page)[0]].name == "Yeast Rad52 foci plate P171"
    # While typing, the address records the query once typing pauses.
    page.wait_for_url(lambda url: parse_qs(urlsplit(url).query).get("q") == ["yeast plate p171"], timeout=2000)


# Records every text the status line shows, from the first render on.
STATUS_LOG = """
window.__statuses = [];
document.addEventListener('DOMContentLoaded', () => {
  const line = document.querySelector('#result-status');
  new MutationObserver(() => window.__statuses.push([line.textContent,
      [...document.querySelectorAll('#results .card')].map(c => c.dataset.url)]))
    .observe(line, { childList: true, characterData: true, subtree: true });
});
"""


@pytest.mark.browser
def test_a_query_link_is_answered_ranked_at_once(page, built, servers):
    """A shared ?q= link fetches only the shards its words need (nothing is
    built in the browser): its first render already shows the ranked,
    typo-tolerant results, every name and URL match among them, with no
    interim state."""
    out, catalog = built
    page.add_init_script(STATUS_LOG)
    open_index(page, servers["good"], "?q=lightsheet")
    (first_text, first_urls), (last_text, last_urls) = page.evaluate("[window.__statuses[0], window.__statuses.at(-1)]")
    expected = {d.url for d in catalog.datasets if "lightsheet" in f"{d.name} {d.url}".lower()}
    assert expected and set(first_urls) >= expected and first_urls == last_urls
    assert "while the search index loads" not in first_text and first_text == last_text


FACETS = {
    "source": ("JAX", lambda d: d.source == "JAX"),
    "collection": ("IDR|idr0010", lambda d: d.collection == "idr0010"),
    "organism": ("Mus musculus", lambda d: d.organism and d.organism.label == "Mus musculus"),
    "modality": ("electron microscopy", lambda d: d.modality and d.modality.label == "electron microscopy"),
    "ndim": ("3", lambda d: d.shape is not None and len(d.shape) == 3),
    "version": ("0.4", lambda d: d.ngff_version == "0.4"),
    "zarr": ("3", lambda d: d.zarr_format == 3),
    "sharded": ("yes", lambda d: bool(d.level0 and d.level0.shards)),
    "license": ("CC0-1.0", lambda d: d.license == "CC0-1.0"),
    "kind": ("plate", lambda d: d.kind == "plate"),
    "status": ("invalid", lambda d: d.status == "invalid"),
}


@pytest.mark.browser
def test_each_facet_counts_and_filters(page, built, servers):
    out, catalog = built
    open_index(page, servers["good"])
    for key, (value, pred) in FACETS.items():
        expected = [d.url for d in catalog.datasets if pred(d)]
        assert expected, key
        box = page.locator(f'#facets input[data-facet="{key}"][data-value="{value}"]')
        count = box.locator("xpath=../span[@class='count']").inner_text()
        assert int(count) == len(expected), key
        box.check()
        page.wait_for_function(f"document.querySelectorAll('#results .card').length === {len(expected)}")
        assert sorted(card_urls(page)) == sorted(expected), key
        assert parse_qs(urlsplit(page.url).query)[key] == [value]
        box.uncheck()
        page.wait_for_function(f"document.querySelectorAll('#results .card').length === {len(catalog.datasets)}")

    # Live counts: with source=IDR chosen, the status facet counts only IDR datasets.
    page.locator('#facets input[data-facet="source"][data-value="IDR"]').check()
    ok = page.locator('#facets input[data-facet="status"][data-value="ok"]').locator("xpath=../span[@class='count']")
    assert int(ok.inner_text()) == sum(1 for d in catalog.datasets if d.source == "IDR" and d.status == "ok")
    # Clicking a source panel filters by that source alone.
    page.click(".source-panel[data-source='BioImage Archive']")
    page.wait_for_function("document.querySelectorAll('#results .card').length === 3")
    assert {by_url(catalog)[u].source for u in card_urls(page)} == {"BioImage Archive"}


def _size(d: Dataset, axis: str) -> int:
    names = [a.name for a in d.axes]
    return d.shape[names.index(axis)] if d.shape and axis in names else -1


@pytest.mark.browser
def test_sorting(page, built, servers):
    out, catalog = built
    open_index(page, servers["good"])
    page.select_option("#sort", "x")
    with_x = sorted((d for d in catalog.datasets if _size(d, "x") >= 0), key=lambda d: -_size(d, "x"))
    got = card_urls(page)
    assert [by_url(catalog)[u] for u in got[: len(with_x)]] and [_size(by_url(catalog)[u], "x") for u in got[: len(with_x)]] == [_size(d, "x") for d in with_x]
    page.click("#dir")
    got = card_urls(page)
    assert [_size(by_url(catalog)[u], "x") for u in got[: len(with_x)]] == sorted(_size(d, "x") for d in with_x)
    assert "dir=asc" in page.url

    page.select_option("#sort", "name")
    assert [by_url(catalog)[u].name for u in card_urls(page)] == sorted((d.name for d in catalog.datasets), key=str.lower)

    page.select_option("#sort", "bytes")
    sizes = [by_url(catalog)[u].written_bytes for u in card_urls(page)]
    known = [s for s in sizes if s is not None]
    assert known == sorted(known, reverse=True) and sizes[len(known):] == [None] * (len(sizes) - len(known))

    page.select_option("#sort", "shard")
    shard_px = [by_url(catalog)[u].level0.shards if by_url(catalog)[u].level0 else None for u in card_urls(page)]
    assert all(shard_px[:4]) and not any(shard_px[4:])


@pytest.mark.browser
def test_url_state_round_trip_and_history(page, built, servers):
    out, catalog = built
    base = servers["good"]
    open_index(page, base)
    page.fill("input[type=search]", "brain")
    page.locator('#facets input[data-facet="source"][data-value="JAX"]').check()
    page.select_option("#sort", "name")
    page.click("[data-view=list]")
    shared = page.url
    results = card_urls(page)
    assert len(results) == 3

    # A fresh visit of the shared link shows the same view.
    other = page.context.new_page()
    open_index(other, base, "?" + urlsplit(shared).query)
    assert card_urls(other) == results
    assert other.input_value("input[type=search]") == "brain"
    assert other.input_value("#sort") == "name"
    assert other.locator('#facets input[data-facet="source"][data-value="JAX"]').is_checked()
    assert "list" in other.get_attribute("#results", "class")
    other.close()

    # Back undoes the view toggle, then the sort, then the facet; forward redoes.
    page.go_back()
    page.wait_for_function("document.getElementById('results').classList.contains('grid')")
    page.go_back()
    assert page.input_value("#sort") == ""
    page.go_back()
    page.wait_for_function("document.querySelectorAll('#results .card').length === 4")
    assert not page.locator('#facets input[data-facet="source"][data-value="JAX"]').is_checked()
    page.go_forward()
    page.wait_for_function("document.querySelectorAll('#results .card').length === 3")
    assert "source=JAX" in page.url


@pytest.mark.browser
def test_keyboard(page, built, servers):
    out, catalog = built
    open_index(page, servers["good"])
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.type") == "search"
    # Cards are reachable with Tab: from a card's title link on to its copy button.
    page.focus(".card-title a >> nth=0")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('copy')")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


@pytest.mark.browser
def test_copy_button(browser, built, servers):
    out, catalog = built
    origin = servers["good"].split(PREFIX)[0]
    ctx = browser.new_context()
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
    page = ctx.new_page()
    open_index(page, servers["good"])
    button = page.locator(".card >> nth=2 >> button.copy")
    button.click()
    page.wait_for_selector(".card >> nth=2 >> button.copy[data-copied=true]")
    assert page.evaluate("navigator.clipboard.readText()") == catalog.datasets[2].url
    page.goto(servers["good"] + f"datasets/{catalog.datasets[2].id}/")
    page.click("button[data-copy-from=code-zarr-python]")
    page.wait_for_selector("button[data-copy-from=code-zarr-python][data-copied=true]")
    assert repr(catalog.datasets[2].url) in page.evaluate("navigator.clipboard.readText()")
    ctx.close()


@pytest.mark.browser
def test_detail_page(page, built, servers):
    out, catalog = built
    d = catalog.datasets[0]  # the plate
    page.goto(servers["good"] + f"datasets/{d.id}/")
    assert page.inner_text("h1") == d.name
    assert page.locator(".detail-thumb img").get_attribute("src") == f"../../{d.thumbnail.detail}"
    assert page.locator("table >> nth=1").locator("tbody tr").count() == len(d.resolutions)
    assert page.locator(".plate-map td.well.present").count() == len(d.plate.well_paths)
    assert page.locator(".plate-map td.well").count() == d.plate.rows * d.plate.columns
    fills = page.eval_on_selector_all(".swatch rect", "rs => rs.map(r => r.getAttribute('fill'))")
    assert fills == ["#" + c.color for c in d.channels]
    links = {a.inner_text(): a.get_attribute("href") for a in page.locator(".open-with a").all()}
    assert links["OME-NGFF validator"] == "https://ome.github.io/ome-ngff-validator/?source=" + quote(d.url, safe="")
    assert links["vizarr"] == "https://hms-dbmi.github.io/vizarr/?source=" + quote(d.url, safe="")
    ng = json.loads(__import__("urllib.parse").parse.unquote(links["Neuroglancer"].split("#!", 1)[1]))
    assert ng["layers"][0]["source"] == "zarr://" + d.url
    facts = page.inner_text(".facts")
    assert "Saccharomyces cerevisiae" in facts and "0.4" in facts
    assert "idr.csv:2" in page.inner_text("body")
    ld = json.loads(page.inner_text("script[type='application/ld+json']"))
    assert ld["@type"] == "Dataset" and ld["distribution"][0]["contentUrl"] == d.url
    assert ld["license"] == d.license and ld["creator"]["name"] == "IDR"
    # Relative links: back to the index under the sub-path.
    page.click(".breadcrumb a")
    assert page.url.endswith(PREFIX + "index.html")
    assert page.watch.errors == []


# For each table cell: its words, and the line boxes its text is laid out in.
_CELL_LINES = """cells => cells.map(c => {
  const range = document.createRange(); range.selectNodeContents(c);
  const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
  return [c.innerText.trim(), c.innerText.trim().split(/\\s+/).length, tops.size];
})"""


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_detail_tables_never_break_a_word(browser, built, servers, width):
    """A table in a half-width panel is narrow: its columns wrap between words, or it scrolls,
    but "AXIS" never reads "AXI / S"."""
    out, catalog = built
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto(servers["good"] + f"datasets/{catalog.datasets[0].id}/")
        cells = page.eval_on_selector_all(
            ".table-scroll table:not(.plate-map) th, .table-scroll table:not(.plate-map) td", _CELL_LINES
        )
        assert any(text.lower() == "physical pixel size" for text, _, _ in cells)  # the axes table was read
        broken = [(text, words, lines) for text, words, lines in cells if text and lines > words]
        assert broken == []
    finally:
        page.close()


@pytest.mark.browser
def test_report_page_groups_failures(page, built, servers):
    out, catalog = built
    page.goto(servers["good"] + "report.html")
    text = page.inner_text("main")
    for d in catalog.datasets:
        if d.status != "ok":
            assert d.url in text
    assert "jax.csv:7" in text and "jax.csv:10" in text
    assert page.locator("section h2", has_text="JAX").count() == 1


@pytest.mark.browser
def test_hostile_metadata_never_executes(page, hostile, servers):
    out, catalog = hostile
    base = servers["hostile"]
    d = catalog.datasets[0]

    def check():
        assert page.evaluate("window.__pwned") is None
        hrefs = page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)")
        assert not [h for h in hrefs if not h.lower().startswith(("http://", "https://"))], hrefs
        # Only our own scripts (and JSON-LD data) exist.
        srcs = page.eval_on_selector_all("script", "ss => ss.map(s => s.src || s.type)")
        assert all(s.endswith(".js") or s == "application/ld+json" for s in srcs), srcs
        assert page.locator("img[src=x], svg[onload]").count() == 0

    open_index(page, base)
    page.wait_for_timeout(200)
    check()
    assert PAYLOADS[0] in shown_text(page.locator("#results"))  # shown as text
    for term in ("onerror", "script", "__pwned", "javascript"):
        page.fill("input[type=search]", term)
        page.wait_for_timeout(100)
        check()
    for box in page.locator("#facets input").all()[:6]:
        box.check()
        check()
    page.goto(base + f"datasets/{d.id}/")
    check()
    assert "Name " + PAYLOADS[0] in page.inner_text("h1")
    ld = json.loads(page.inner_text("script[type='application/ld+json']"))
    assert ld["name"] == d.name
    page.goto(base + "report.html")
    check()
    page.goto(base + "about.html")
    check()
    assert page.watch.errors == [] or all("Failed to load resource" not in e for e in page.watch.errors)


@pytest.mark.browser
def test_accessibility_axe(page, built, servers):
    out, catalog = built
    source = AXE.read_text(encoding="utf-8")

    def serious() -> list[str]:
        page.evaluate(source)  # evaluated through the devtools protocol, so the page's CSP still applies to the page itself
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        return [f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in result["violations"] if v["impact"] in ("serious", "critical")]

    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        open_index(page, servers["good"])
        assert serious() == [], scheme
    page.goto(servers["good"] + f"datasets/{catalog.datasets[0].id}/")
    assert serious() == []
    page.goto(servers["good"] + "report.html")
    assert serious() == []


# Sums the page's layout shifts (CLS without session windows), from the first frame on.
LAYOUT_SHIFTS = """
window.__shift = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (!e.hadRecentInput) window.__shift += e.value;
}).observe({ type: 'layout-shift', buffered: true });
"""


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width,height", [(1280, 900), (390, 844)])
def test_index_holds_still_while_it_loads_and_is_screenshotted(browser, built, servers, scheme, width, height):
    """Pre-rendered cards, thumbnails with their sizes, the script taking over
    and the facets arriving must not move what the visitor already sees.
    Screenshots go to test-output/ for a look by eye."""
    out, catalog = built
    ctx = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
    try:
        page = ctx.new_page()
        page.add_init_script(LAYOUT_SHIFTS)
        open_index(page, servers["good"])
        page.wait_for_function("() => [...document.images].every((img) => img.complete)")
        page.wait_for_timeout(200)  # a frame or two after the last change
        assert page.evaluate("window.__shift") < 0.01
        shots = REPO / "test-output"
        shots.mkdir(exist_ok=True)
        page.screenshot(path=shots / f"site-index-{width}x{height}-{scheme}.png")
        if width > 1000 and scheme == "light":
            plate = next(d for d in catalog.datasets if d.kind == "plate")
            page.goto(servers["good"] + f"datasets/{plate.id}/")
            page.screenshot(path=shots / "site-dataset-plate.png", full_page=True)
    finally:
        ctx.close()


# The cards in #results: markup, and for each image whether it was inlined and eager.
CARDS_MARKUP = """() => [...document.querySelectorAll('#results .card')].map((card) => {
  const copy = card.cloneNode(true);
  const img = copy.querySelector('img');
  const hints = img ? ['src', 'loading', 'decoding', 'fetchpriority'].map((a) => [a, img.getAttribute(a)]) : null;
  if (img) for (const a of ['loading', 'decoding', 'fetchpriority']) img.removeAttribute(a);
  return [copy.outerHTML, hints];
})"""


@pytest.mark.browser
def test_prerendered_and_script_rendered_cards_are_the_same_markup(page, built, servers):
    """One card: the first page as index.html carries it, and the same rows as
    the script clones them from the card <template> (selecting every source
    keeps the catalog order), are the same markup; only an inlined image's
    src (a data: URI of the same file) and its loading hints differ."""
    out, catalog = built
    open_index(page, servers["good"])
    before = page.evaluate(CARDS_MARKUP)
    sources = "&".join(f"source={quote(s)}" for s in dict.fromkeys(d.source for d in catalog.datasets))
    open_index(page, servers["good"], "?" + sources)
    page.wait_for_function(f"document.querySelectorAll('#results .card').length === {len(catalog.datasets)}")
    after = page.evaluate(CARDS_MARKUP)
    assert len(before) == len(after) == len(catalog.datasets)
    inlined = 0
    for (html_a, hints_a), (html_b, hints_b) in zip(before, after):
        if hints_a is None:
            assert hints_b is None and html_a == html_b
            continue
        src_a, src_b = dict(hints_a)["src"], dict(hints_b)["src"]
        if src_a.startswith("data:image/webp;base64,"):
            inlined += 1
            assert base64.b64decode(src_a.split(",", 1)[1]) == (out / src_b).read_bytes()
            assert dict(hints_a)["fetchpriority"] == "high"
            html_a = html_a.replace(src_a, src_b)
        assert dict(hints_b)["loading"] == "lazy" and dict(hints_b)["decoding"] == "async"
        assert html_a == html_b
    assert inlined > 0
