"""The search at 2,000, 100,000 and 1,000,000 rows, in headless Chromium.

    /tmp/venv/bin/python benchmarks/bench_site.py --search-rows 2000,100000,1000000 --work /tmp/bench-search

To get a large site without the full build, the site is written straight from
synthetic records (the rows bench_site.write_csv_tree writes, made as
``Dataset`` records one at a time): ``search/`` through
``write_search_shards`` from a generator of all rows, and ``index.html`` with
the assets from a catalog of the first page's rows (its summary line counts
those; nothing the search reads depends on it). No dataset pages are written.
"""

from __future__ import annotations

import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Iterator

from generator.dev.server import BackgroundServer, make_app
from generator.records import Axis, Catalog, Dataset, Level, Listing, Term
from generator.site.pages import SiteWriter
from generator.site.search_shards import write_search_shards

SOURCES = ["IDR", "BioImage Archive", "JAX", "Webknossos", "Crick", "SSBD", "LIN Magdeburg", "Jülich", "Göttingen", "Muenster"]
ORGANISMS = [("NCBI:txid9606", "Homo sapiens"), ("NCBI:txid10090", "Mus musculus"), ("NCBI:txid4932", "Saccharomyces cerevisiae"),
             ("NCBI:txid7955", "Danio rerio"), ("NCBI:txid3702", "Arabidopsis thaliana"), ("NCBI:txid7227", "Drosophila melanogaster")]
MODALITIES = [("obo:FBbi_00000246", "fluorescence microscopy"), ("obo:FBbi_00000369", "light sheet fluorescence microscopy"),
              ("obo:FBbi_00000258", "electron microscopy"), ("obo:FBbi_00000243", "bright-field microscopy")]
WORDS = ("mitotic chromosome condensation yeast rad52 foci zebrafish embryo lightsheet mouse brain cortex "
         "electron tomography nuclei membrane actin tubulin kidney liver organoid tissue section plate screen").split()
QUERIES = ["brain", "zebrfish", "mitotic chrom", "set042", "organoid kidney"]


def synthetic_datasets(rows: int) -> Iterator[Dataset]:
    """The rows of bench_site.write_csv_tree, as the offline build makes them (roughly), one at a time."""
    rng = random.Random(1)
    per = rows // len(SOURCES)
    for si, s in enumerate(SOURCES):
        count = per if si < len(SOURCES) - 1 else rows - per * si
        for i in range(count):
            coll = f"set{i // 500:03d}"
            dims = rng.choice(["c,z,y,x", "t,c,z,y,x", "z,y,x", "y,x", "c,y,x"]).split(",")
            shape = tuple(rng.choice([1, 2, 3, 4]) if a in "tc" else rng.randint(16, 4096) for a in dims)
            chunks = tuple(1 if a in "tcz" else min(v, 256) for a, v in zip(dims, shape))
            sharded = rng.random() < 0.4
            words = " ".join(rng.sample(WORDS, 3))
            plate = rng.random() < 0.1
            organism, modality = rng.choice(ORGANISMS), rng.choice(MODALITIES)
            yield Dataset(
                url=f"https://data{si}.example.org/{coll}/{words.replace(' ', '_')}_{i:06d}.ome.zarr",
                source=s, collection=coll, listings=(Listing(f"{s}.csv", i + 2),),
                kind="plate" if plate else "image", status="ok", zarr_format=None,
                name=f"{words.title()} {i:06d}", description=f"{s} {coll}: {words} ({i % 50})",
                license=rng.choice(["https://creativecommons.org/licenses/by/4.0/", "CC0-1.0", None]),
                origin=f"https://portal{si}.example.org/show/{i}",
                organism=Term(*organism), modality=Term(*modality),
                axes=tuple(Axis(a, "space") for a in dims),
                resolutions=(Level("0", shape, "uint16", chunks, shape if sharded else None),),
                written_bytes=rng.randint(10**6, 10**12),
            )


def write_search_site(out: Path, rows: int) -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    first = []
    for d in synthetic_datasets(rows):
        first.append(d)
        if len(first) == 60:
            break
    writer = SiteWriter(Catalog(generated_at="2025-01-01T00:00:00Z", datasets=tuple(first)), out)
    writer.out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(writer.assets_dir, out / "assets", dirs_exist_ok=True)
    from generator.site.assets import read_site_assets
    from generator.site.views import get_index_page

    assets = read_site_assets(writer.catalog, out, writer.assets_dir, inline_thumbnails=writer.inline_thumbnails)
    (out / "index.html").write_text(writer.render("index.html", get_index_page(writer.catalog, assets)), encoding="utf-8")
    t0 = time.perf_counter()
    write_search_shards(synthetic_datasets(rows), out)
    seconds = time.perf_counter() - t0
    files = list((out / "search").rglob("*.json"))
    return {"index_write_seconds": round(seconds, 1), "search_files": len(files),
            "search_mib": round(sum(f.stat().st_size for f in files) / 2**20, 1)}


# Per keystroke: time from the input event until the page shows that input's
# final results (#results[data-query] is set after the cards are drawn), and
# the bytes of the requests started meanwhile.
TYPE_QUERIES = """async (queries) => {
  const input = document.querySelector('input[type=search]');
  const results = document.querySelector('#results');
  const frame = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  const bytesSince = (t) => performance.getEntriesByType('resource').filter(r => r.startTime >= t)
    .reduce((a, r) => a + r.transferSize, 0);
  const out = [];
  for (const q of queries) {
    input.value = '';
    input.dispatchEvent(new Event('input', {bubbles: true}));
    while (results.dataset.query !== '') await frame();
    await frame();
    const start = performance.now();
    const keys = [];
    for (let i = 1; i <= q.length; i++) {
      const value = q.slice(0, i);
      const t0 = performance.now();
      input.value = value;
      input.dispatchEvent(new Event('input', {bubbles: true}));
      while (results.dataset.query !== value) await new Promise(r => setTimeout(r, 1));
      keys.push(performance.now() - t0);
      await frame();
    }
    out.push({ q, keys, bytes: bytesSince(start), cards: results.querySelectorAll('.card').length });
  }
  return out;
}"""


def browse_search(base: str, browser, queries: list[str] = QUERIES) -> dict[str, object]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    hosts: set[str] = set()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
    page.goto(base + "index.html", wait_until="commit")
    page.wait_for_selector("#results .card")
    page.wait_for_function("performance.getEntriesByName('first-contentful-paint').length > 0")
    fcp = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
    page.wait_for_selector("html[data-search-ready=true]", timeout=120_000)
    ready = page.evaluate("performance.now()")
    load = page.evaluate("""fcp => { const nav = performance.getEntriesByType('navigation')[0];
        const res = performance.getEntriesByType('resource');
        const sum = (list) => list.reduce((a, r) => a + r.transferSize, 0);
        return [nav.transferSize + sum(res.filter(r => r.responseEnd <= fcp)), nav.transferSize + sum(res)]; }""", fcp)
    typed = page.evaluate(TYPE_QUERIES, queries)
    total = page.evaluate("""() => performance.getEntriesByType('navigation')[0].transferSize +
        performance.getEntriesByType('resource').reduce((a, r) => a + r.transferSize, 0)""")
    # A shared ?q= link: navigation to its ranked results.
    link = queries[2]
    page.goto(base + "index.html?q=" + link.replace(" ", "+"), wait_until="commit")
    page.wait_for_selector("html[data-search-ready=true]", timeout=120_000)
    ranked = page.evaluate("performance.now()")
    ctx.close()
    keys = [k for t in typed for k in t["keys"]]
    return {
        "first_results_ms": round(fcp),
        "bytes_before_first_results": load[0],
        "search_ready_ms": round(ready),
        "bytes_until_ready": load[1],
        "keystroke_to_final_results_median_ms": round(statistics.median(keys), 1),
        "keystroke_p90_ms": round(sorted(keys)[int(0.9 * len(keys))], 1),
        "bytes_per_query": {t["q"]: t["bytes"] for t in typed},
        "bytes_per_query_max": max(t["bytes"] for t in typed),
        "bytes_visit_load_plus_queries": total,
        "query_link_ranked_results_ms": round(ranked),
        "keystrokes": len(keys),
        "console_errors": len(errors),
        "hosts": sorted(hosts),
    }


def search_bench(work: Path, browser, sizes: list[int]) -> dict[str, object]:
    out: dict[str, object] = {}
    for rows in sizes:
        site = work / f"search-{rows}"
        written = write_search_site(site, rows)
        server = BackgroundServer(make_app(site, prefix="/site/")).start()
        try:
            out[f"search_{rows}"] = {**written, **browse_search(server.url + "/site/", browser)}
        finally:
            server.stop()
        print(out[f"search_{rows}"], flush=True)
    return out
