"""Benchmark the site: a 100,000-row offline build, then the pages in headless Chromium.

    /tmp/venv/bin/python benchmarks/bench_site.py [--rows 100000] [--work DIR]

1. Generates a 100,000-row submission tree (a root CSV naming 10 source CSVs)
   with the challenge's columns, and runs ``ngff-catalog build ROOT --out DIR
   --offline`` in a subprocess: wall time and peak memory (the RSS of the whole
   process tree, sampled every 20 ms, so forked page writers count).
2. Serves that site on 127.0.0.1 and measures in Chromium: first results
   (first contentful paint, the pre-rendered cards) after navigation, bytes
   transferred before them, time until search is ready, and the search
   keystroke -> updated results latency (median over typed queries).
3. A 60-dataset catalog with real WebP thumbnails, served with 50 ms added to
   every request: time from navigation to 10 visible, decoded thumbnails, and
   the requests made.
4. Search repaint, 60 datasets: time from a keystroke's input event to the
   first new result card painted (Element Timing on each inserted card's
   title), median over typed queries.
5. The real challenge catalog (../shared/corpus/challenge-samples, offline,
   via --map-url): build time and the same browser figures.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generator.dev.server import BackgroundServer, make_app
from generator.records import Axis, Catalog, Channel, Dataset, Level, Listing, Term
from generator.site.pages import SiteWriter, write_site
from tests.site_fixtures import write_thumbnail  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "challenge-samples"
CHALLENGE_PREFIX = "https://raw.githubusercontent.com/ome/ome2024-ngff-challenge/main/samples/"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
COLUMNS = ["url", "written", "written_human_readable", "origin", "shape", "shards", "chunks", "dimension_names",
           "license", "name", "description", "organismId", "fbbiId", "wells", "images"]
SOURCES = ["IDR", "BioImage Archive", "JAX", "Webknossos", "Crick", "SSBD", "LIN Magdeburg", "Jülich", "Göttingen", "Muenster"]
ORGANISMS = ["NCBI:txid9606", "NCBI:txid10090", "NCBI:txid4932", "NCBI:txid7955", "NCBI:txid3702", "NCBI:txid7227"]
MODALITIES = ["obo:FBbi_00000246", "obo:FBbi_00000369", "obo:FBbi_00000258", "obo:FBbi_00000243"]
WORDS = ("mitotic chromosome condensation yeast rad52 foci zebrafish embryo lightsheet mouse brain cortex "
         "electron tomography nuclei membrane actin tubulin kidney liver organoid tissue section plate screen").split()


# ------------------------------------------------------------------ input


def write_csv_tree(root: Path, rows: int, per_csv: int | None = None) -> Path:
    """Ten sources' CSVs listed by ``submissions.csv``; with ``per_csv``, each source's rows
    are split into CSVs of that many rows (the same rows, in the same order)."""
    rng = random.Random(1)
    root.mkdir(parents=True, exist_ok=True)
    per = rows // len(SOURCES)
    counts = [per if si < len(SOURCES) - 1 else rows - per * (len(SOURCES) - 1) for si in range(len(SOURCES))]
    files: list[tuple[str, list[tuple[str, int]]]] = []  # source -> (file name, rows)
    for s, count in zip(SOURCES, counts):
        stem = s.lower().replace(" ", "_")
        if per_csv is None or count <= per_csv:
            files.append((s, [(f"{stem}.csv", count)]))
        else:
            files.append((s, [(f"{stem}_{k:03d}.csv", min(per_csv, count - start))
                              for k, start in enumerate(range(0, count, per_csv))]))
    with open(root / "submissions.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["source", "url"])
        for s, parts in files:
            for name, _ in parts:
                w.writerow([s, name])
    for si, (s, parts) in enumerate(files):
        i = 0
        for name, count in parts:
            with open(root / name, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(COLUMNS)
                for _ in range(count):
                    w.writerow(_bench_row(rng, s, si, i))
                    i += 1
    return root / "submissions.csv"


def _bench_row(rng: random.Random, s: str, si: int, i: int) -> list[object]:
    coll = f"set{i // 500:03d}"
    dims = rng.choice(["c,z,y,x", "t,c,z,y,x", "z,y,x", "y,x", "c,y,x"])
    shape = [rng.choice([1, 2, 3, 4]) if a in "tc" else rng.randint(16, 4096) for a in dims.split(",")]
    chunks = [1 if a in "tcz" else min(v, 256) for a, v in zip(dims.split(","), shape)]
    sharded = rng.random() < 0.4
    words = " ".join(rng.sample(WORDS, 3))
    plate = rng.random() < 0.1
    written = rng.randint(10**6, 10**12)
    return [
        f"https://data{si}.example.org/{coll}/{words.replace(' ', '_')}_{i:06d}.ome.zarr",
        written, "", f"https://portal{si}.example.org/show/{i}",
        ",".join(map(str, shape)), ",".join(map(str, shape)) if sharded else "", ",".join(map(str, chunks)),
        dims, rng.choice(["https://creativecommons.org/licenses/by/4.0/", "CC0-1.0", ""]),
        f"{words.title()} {i:06d}", f"{s} {coll}: {words} ({i % 50})",
        rng.choice(ORGANISMS), rng.choice(MODALITIES), rng.randint(1, 384) if plate else "", "",
    ]


def run_build(args: list[str]) -> dict[str, float]:
    """Runs the CLI twice: once timed alone, once sampled for memory.

    Sampling PSS reads every process's page map (/proc/PID/smaps), which costs
    CPU on a 2-core machine and slowed the build it measured by ~15 s at 100k:
    the wall time comes from a run with nothing else going on. Forked page
    writers share the parent's pages copy-on-write, so summing RSS would count
    those pages once per child: the tree's figure is the sum of PSS (each
    shared page split between its sharers); the parent's own peak RSS is
    reported too.
    """
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "generator", *args], capture_output=True)
    seconds = time.perf_counter() - t0
    output = (proc.stdout + proc.stderr).decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"build failed ({proc.returncode}):\n{output}")

    proc = psutil.Popen([sys.executable, "-m", "generator", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = peak_parent = 0
    while proc.poll() is None:
        try:
            peak_parent = max(peak_parent, proc.memory_info().rss)
            procs = [proc] + proc.children(recursive=True)
            peak = max(peak, sum(p.memory_full_info().pss for p in procs if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    sampled_seconds = time.perf_counter() - t0 - seconds
    proc.stdout.read()
    return {
        "seconds": seconds,
        "seconds_while_sampling_memory": sampled_seconds,
        "peak_pss_tree_mib": peak / 2**20,
        "peak_rss_parent_mib": peak_parent / 2**20,
        "tail": (output.strip().splitlines() or [""])[-1],
    }


# ------------------------------------------------------------------ browser

# Installed before any page script. "Visible" means painted: the Element Timing
# API gives each <img elementtiming> the time of the frame that first showed it
# (renderTime, from navigation start). An image that is merely loaded or decoded
# (img.complete) may still wait for style, layout and raster of the page.
THUMB_WATCH = """
(() => {
  const painted = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.identifier !== 'thumbnail' || !e.element) continue;
      const r = e.element.getBoundingClientRect();
      if (r.bottom > 0 && r.top < innerHeight) painted.push(e.renderTime);
    }
    if (painted.length >= 10 && window.__tenThumbs === undefined) {
      window.__tenThumbs = painted.sort((a, b) => a - b)[9];
    }
  }).observe({ type: 'element', buffered: true });
})();
"""


# When the status line first shows results answered before the search index was built.
INTERIM_WATCH = """
document.addEventListener('DOMContentLoaded', () => {
  const line = document.querySelector('#result-status');
  new MutationObserver((_, obs) => {
    if (line.textContent.includes('while the search index loads')) { window.__interim = performance.now(); obs.disconnect(); }
  }).observe(line, { childList: true, characterData: true, subtree: true });
});
"""


def browse(base: str, browser, *, queries: list[str]) -> dict[str, float]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(base + "index.html", wait_until="commit")
    page.wait_for_selector("#results .card")
    page.wait_for_function("performance.getEntriesByName('first-contentful-paint').length > 0")
    fcp = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
    before = page.evaluate(
        """fcp => { const nav = performance.getEntriesByType('navigation')[0];
        const res = performance.getEntriesByType('resource').filter(r => r.responseEnd <= fcp);
        return nav.transferSize + res.reduce((a, r) => a + r.transferSize, 0); }""",
        fcp,
    )
    page.wait_for_selector("html[data-search-ready=true]", timeout=120_000)
    ready = page.evaluate("performance.now()")
    index_bytes = page.evaluate(
        "performance.getEntriesByType('resource').filter(r => r.name.includes('/search/')).reduce((a, r) => a + r.transferSize, 0)"
    )
    # Keystrokes: set the value and fire 'input' as typing does; time the handler
    # (search + facets + cards, synchronous) and the following frame.
    timings = page.evaluate(
        """async (queries) => {
        const input = document.querySelector('input[type=search]');
        const out = [];
        for (const q of queries) {
          input.value = '';
          input.dispatchEvent(new Event('input', {bubbles: true}));
          await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
          for (let i = 1; i <= q.length; i++) {
            const t0 = performance.now();
            input.value = q.slice(0, i);
            input.dispatchEvent(new Event('input', {bubbles: true}));
            const handled = performance.now() - t0;
            await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
            out.push([handled, performance.now() - t0, document.querySelectorAll('#results .card').length]);
          }
        }
        return out;
      }""",
        queries,
    )
    # A shared link with a query: name/URL matches come before the ranked index.
    page.add_init_script(INTERIM_WATCH)
    page.goto(base + "index.html?q=" + queries[-1].replace(" ", "+"), wait_until="commit")
    page.wait_for_selector("html[data-search-ready=true]", timeout=120_000)
    ranked = page.evaluate("performance.now()")
    interim = page.evaluate("window.__interim")
    ctx.close()
    handled = [t[0] for t in timings]
    framed = [t[1] for t in timings]
    return {
        "query_link_interim_results_ms": interim,
        "query_link_ranked_results_ms": ranked,
        "first_results_ms": fcp,
        "bytes_before_first_results": before,
        "search_ready_ms": ready,
        "search_index_bytes_at_ready": index_bytes,
        "keystroke_median_ms": statistics.median(handled),
        "keystroke_p90_ms": sorted(handled)[int(0.9 * len(handled))],
        "keystroke_to_frame_median_ms": statistics.median(framed),
        "keystrokes": len(timings),
        "console_errors": len(errors),
    }


def thumbnails_bench(work: Path, browser, inline: bool) -> dict[str, float]:
    out = work / ("thumbs-inline" if inline else "thumbs-plain")
    catalog = Catalog(generated_at="2025-01-01T00:00:00Z", datasets=tuple(thumbnail_datasets(out)))
    SiteWriter(catalog, out, **({} if inline else {"inline_thumbnails": 0})).write()
    return {**time_ten_thumbnails(out, browser), "index_html_kib": round((out / "index.html").stat().st_size / 1024, 1)}


def thumbnail_datasets(out: Path) -> list[Dataset]:
    """60 image datasets with real WebP thumbnails, written into a fresh ``out``."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return [
        Dataset(
            url=f"https://data.example.org/set/{i:03d}.ome.zarr", source=["IDR", "JAX", "BIA"][i % 3],
            collection=f"c{i % 5}", kind="image", listings=(Listing("bench.csv", i + 2),), ngff_version="0.5",
            zarr_format=3, name=f"Dataset {i}",
            axes=(Axis("c", "channel"), Axis("y", "space", "micrometer"), Axis("x", "space", "micrometer")),
            resolutions=(Level("0", (2, 2048, 2048), "uint16", (1, 256, 256)),),
            channels=(Channel("a", "FF00FF"),), organism=Term("NCBI:txid9606", "Homo sapiens"),
            thumbnail=write_thumbnail(out, f"t{i:03d}", i), written_bytes=10**9, uncompressed_bytes=2 * 2 * 2048**2,
        )
        for i in range(60)
    ]


def time_ten_thumbnails(out: Path, browser) -> dict[str, float]:
    """Navigation start to the paint of the 10th thumbnail in the viewport, 50 ms added per request."""
    server = BackgroundServer(make_app(out, prefix="/site/", latency=0.05)).start()

    def measure(page) -> tuple[float, float, int]:
        page.wait_for_function("() => window.__tenThumbs !== undefined", timeout=20_000)
        t = page.evaluate("window.__tenThumbs")
        fcp = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
        requests = page.evaluate(
            "t => performance.getEntriesByType('resource').filter(r => r.startTime <= t).length + 1", t
        )
        return t, fcp, requests

    try:
        # Cold: a new browser context (renderer process, caches) per navigation.
        cold, hosts = [], set()
        for _ in range(7):
            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
            page = ctx.new_page()
            page.add_init_script(THUMB_WATCH)
            page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
            page.goto(server.url + "/site/index.html", wait_until="commit")
            cold.append(measure(page))
            ctx.close()
        # A visitor's browser is already running: the same measurement in one
        # warm tab (connection up). The HTML is never cached (a new query
        # string each run): every run pays its round trip.
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.add_init_script(THUMB_WATCH)
        page.goto(server.url + "/site/index.html?warm-up", wait_until="load")
        warm = []
        for i in range(9):
            page.goto("about:blank")
            page.goto(server.url + f"/site/index.html?run={i}", wait_until="commit")
            warm.append(measure(page))
        ctx.close()
    finally:
        server.stop()
    return {
        "ten_thumbnails_painted_ms_median": statistics.median(r[0] for r in cold),
        "ten_thumbnails_painted_ms_runs": [round(r[0]) for r in cold],
        "fcp_ms_median": statistics.median(r[1] for r in cold),
        "warm_tab_ten_thumbnails_painted_ms_median": statistics.median(r[0] for r in warm),
        "warm_tab_ten_thumbnails_painted_ms_runs": [round(r[0]) for r in warm],
        "warm_tab_fcp_ms_median": statistics.median(r[1] for r in warm),
        "requests_until_then": cold[0][2],
        "hosts": sorted(hosts),
    }


def floor_bench(work: Path, browser) -> dict[str, float]:
    """The same timing for a bare page holding only 12 of the same thumbnails, inlined:
    what this browser on this machine needs for one round trip plus decoding and
    painting the images, with no text, style or script at all."""
    out = work / "thumbs-floor"
    datasets = thumbnail_datasets(out)
    cards = "".join(
        '<img elementtiming="thumbnail" width="180" height="180" alt="" src="data:image/webp;base64,'
        + base64.b64encode((out / d.thumbnail.card).read_bytes()).decode() + '">'
        for d in datasets[:12]
    )
    (out / "index.html").write_text(
        f'<!doctype html><html><head><meta charset="utf-8"><title>floor</title></head><body>{cards}</body></html>'
    )
    return time_ten_thumbnails(out, browser)


# Marks every card inserted into the results with an Element Timing identifier
# (on its title, a block of text), so the paint of new cards can be timed
# whatever markup the page builds them with.
REPAINT_WATCH = """
(() => {
  window.__painted = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.identifier === 'repaint') window.__painted.push(e.renderTime);
  }).observe({ type: 'element', buffered: true });
  document.addEventListener('DOMContentLoaded', () => {
    new MutationObserver((records) => {
      for (const r of records) for (const n of r.addedNodes) {
        if (n.nodeType === 1 && n.matches('.card')) n.querySelector('.card-title')?.setAttribute('elementtiming', 'repaint');
      }
    }).observe(document.querySelector('#results'), { childList: true });
  });
})();
"""

REPAINT_WORDS = ("mitotic chromosome yeast foci zebrafish embryo lightsheet mouse brain cortex kidney "
                 "organoid tissue nuclei membrane actin").split()
REPAINT_QUERIES = ["brain", "zebrafish embryo", "mitotic", "kidney organoid", "nuclei actin"]


def repaint_datasets(out: Path) -> list[Dataset]:
    """60 datasets with real thumbnails and names of varied words, for the search repaint."""
    rng = random.Random(7)
    return [
        replace(d, name=" ".join(rng.sample(REPAINT_WORDS, 3)).capitalize() + f" {i:03d}",
                description=" ".join(rng.sample(REPAINT_WORDS, 5)))
        for i, d in enumerate(thumbnail_datasets(out))
    ]


def time_repaint(base: str, browser, queries: list[str] = REPAINT_QUERIES) -> list[float]:
    """Per keystroke: input event -> first new card painted (ms); keystrokes that paint no card are left out."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.add_init_script(REPAINT_WATCH)
    page.goto(base + "index.html")
    page.wait_for_selector("html[data-search-ready=true]")
    page.wait_for_timeout(300)  # the first screen's thumbnails settle
    times = page.evaluate(
        """async (queries) => {
        const input = document.querySelector('input[type=search]');
        const frame = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
        const painted = async (t0) => {
          for (let i = 0; i < 50; i++) {
            const after = window.__painted.filter(t => t >= t0);
            if (after.length) return Math.min(...after) - t0;
            await new Promise(r => setTimeout(r, 10));
          }
          return null;
        };
        const out = [];
        for (const q of queries) {
          input.value = '';
          input.dispatchEvent(new Event('input', {bubbles: true}));
          await frame(); await frame();
          for (let i = 1; i <= q.length; i++) {
            await frame();
            const t0 = performance.now();
            input.value = q.slice(0, i);
            input.dispatchEvent(new Event('input', {bubbles: true}));
            const ms = await painted(t0);
            if (ms !== null) out.push(ms);
          }
        }
        return out;
      }""",
        queries,
    )
    ctx.close()
    return times


def repaint_bench(work: Path, browser, *, sites: dict[str, Path] | None = None, rounds: int = 3) -> dict[str, object]:
    """Search repaint on 60 datasets; ``sites`` (label -> built site) are measured
    alongside ours, in alternating rounds, so machine load hits them alike."""
    out = work / "repaint"
    write_site(Catalog(generated_at="2025-01-01T00:00:00Z", datasets=tuple(repaint_datasets(out))), out)
    sites = {"ngff-catalog": out, **(sites or {})}
    servers = {k: BackgroundServer(make_app(v, prefix="/site/")).start() for k, v in sites.items()}
    runs: dict[str, list[float]] = {k: [] for k in sites}
    try:
        for _ in range(rounds):
            for k, server in servers.items():
                runs[k] += time_repaint(server.url + "/site/", browser)
    finally:
        for server in servers.values():
            server.stop()
    return {
        k: {"input_to_first_new_card_painted_ms_median": round(statistics.median(v), 1),
            "p90_ms": round(sorted(v)[int(0.9 * len(v))], 1), "keystrokes": len(v)}
        for k, v in runs.items()
    }


def serve_and_browse_search(out: Path, browser, queries: list[str]) -> dict[str, object]:
    from benchmarks.search_sites import browse_search

    server = BackgroundServer(make_app(out, prefix="/site/")).start()
    try:
        return browse_search(server.url + "/site/", browser, queries)
    finally:
        server.stop()


def serve_and_browse(out: Path, browser, queries: list[str]) -> dict[str, float]:
    server = BackgroundServer(make_app(out, prefix="/site/")).start()
    try:
        return browse(server.url + "/site/", browser, queries=queries)
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--thumbnails-only", action="store_true", help="only the ten-thumbnails timing (step 3)")
    ap.add_argument("--repaint-only", action="store_true", help="only the search repaint timing (step 4)")
    ap.add_argument("--compare", action="append", default=[], metavar="LABEL=DIR",
                    help="with --repaint-only: a built site to time alongside (any site with the same hooks)")
    ap.add_argument("--search-rows", default="", metavar="N,N,...",
                    help="only the search at these catalog sizes (sites written from synthetic records)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-site-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {}
    if args.repaint_only:
        from playwright.sync_api import sync_playwright

        others = {k: Path(v) for k, v in (c.split("=", 1) for c in args.compare)}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=LAUNCH_ARGS)
            results["search_repaint_60"] = repaint_bench(work, browser, sites=others)
            browser.close()
        print(json.dumps(results, indent=1))
        return
    if args.search_rows:
        from playwright.sync_api import sync_playwright

        from benchmarks.search_sites import search_bench

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=LAUNCH_ARGS)
            results.update(search_bench(work, browser, [int(n) for n in args.search_rows.split(",")]))
            browser.close()
        print(json.dumps(results, indent=1))
        return
    if args.thumbnails_only:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=LAUNCH_ARGS)
            results["thumbnails_floor_bare_page"] = floor_bench(work, browser)
            results["thumbnails_60_latency50_inline"] = thumbnails_bench(work, browser, inline=True)
            results["thumbnails_60_latency50_no_inline"] = thumbnails_bench(work, browser, inline=False)
            browser.close()
        print(json.dumps(results, indent=1))
        return

    root = write_csv_tree(work / "csv", args.rows)
    big = work / "big"
    shutil.rmtree(big, ignore_errors=True)
    # A fresh build cache in the work dir (not the user's ~/.cache, shared and of
    # unknown warmth): a first build, which saves every record to the state.
    cache = work / "cache-100k"
    shutil.rmtree(cache, ignore_errors=True)
    results["build_100k"] = run_build(["build", str(root), "--out", str(big), "--offline", "-q", "--cache", str(cache)])
    results["build_100k"]["search_index_mib"] = sum(f.stat().st_size for f in (big / "search").rglob("*") if f.is_file()) / 2**20
    results["build_100k"]["index_html_kib"] = (big / "index.html").stat().st_size / 1024
    print(json.dumps(results, indent=1), flush=True)

    challenge = work / "challenge"
    if CORPUS.is_dir():
        shutil.rmtree(challenge, ignore_errors=True)
        shutil.rmtree(work / "cache-challenge", ignore_errors=True)
        results["build_challenge"] = run_build([
            "build", str(REPO / "submissions.csv"), "--out", str(challenge), "--offline", "-q",
            "--cache", str(work / "cache-challenge"),
            "--map-url", f"{CHALLENGE_PREFIX}={CORPUS}/",
        ])

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=LAUNCH_ARGS)
        queries = ["brain", "zebrfish", "mitotic chrom", "set042", "organoid kidney"]
        results["browser_100k"] = serve_and_browse(big, browser, queries)
        results["browser_100k"].update(serve_and_browse_search(big, browser, queries))
        if CORPUS.is_dir():
            results["browser_challenge"] = serve_and_browse(challenge, browser, ["idr0004", "yeast", "lightsheet", "webknosos"])
        results["thumbnails_floor_bare_page"] = floor_bench(work, browser)
        results["thumbnails_60_latency50_inline"] = thumbnails_bench(work, browser, inline=True)
        results["thumbnails_60_latency50_no_inline"] = thumbnails_bench(work, browser, inline=False)
        results["search_repaint_60"] = repaint_bench(work, browser)
        browser.close()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
