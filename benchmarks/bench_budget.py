"""Benchmark the size budget: 20,000 and 100,000-dataset sites against --site-budget 1GB.

    .venv/bin/python benchmarks/bench_budget.py [--rows 20000 100000] [--budget 1GB] [--work DIR]

For each size: the submission tree of ``bench_site.py`` is gathered offline
(``build``, no fetching), every dataset is given a synthetic thumbnail (a
WebP card of 256 px and a detail of 1024 px, drawn like a fluorescence field
and encoded with the thumbnail stage's settings; 400 distinct images,
hard-linked under each dataset's own name, so every file counts its bytes),
and the site is written by ``write_build`` with the budget. Prints bytes per
part before and after fitting, what was given up, and whether it fits.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_site import write_csv_tree  # noqa: E402
from generator.build import build  # noqa: E402
from generator.config import BuildConfig  # noqa: E402
from generator.records import Thumbnail  # noqa: E402
from generator.site.budget import parse_size  # noqa: E402
from generator.site.format import format_bytes  # noqa: E402
from generator.write import write_build  # noqa: E402

DISTINCT = 48


def draw_field(seed: int, size: int = 1024) -> Image.Image:
    """A fluorescence-like field: dark background, a few dozen cells of two channels, shot noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size, 3), np.float32)
    colours = np.array([[0.1, 1.0, 0.2], [1.0, 0.2, 0.9], [0.2, 0.4, 1.0]], np.float32)
    for _ in range(int(rng.integers(15, 60))):
        cy, cx = rng.uniform(0, size, 2)
        r = rng.uniform(size / 60, size / 18)
        # Each cell drawn in its own box: a whole-image blob per cell is minutes for the pool.
        y0, y1 = int(max(0, cy - 3 * r)), int(min(size, cy + 3 * r))
        x0, x1 = int(max(0, cx - 3 * r)), int(min(size, cx + 3 * r))
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        blob = np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)) ** 1.5)
        img[y0:y1, x0:x1] += blob[..., None] * colours[rng.integers(0, 3)] * rng.uniform(0.3, 1.0)
    img += rng.normal(0.0, 0.03, img.shape).astype(np.float32) * (0.3 + img)
    return Image.fromarray(np.clip(img / max(float(img.max()), 1e-6) * 255, 0, 255).astype(np.uint8))


def write_pool(folder: Path) -> list[tuple[Path, Path]]:
    """DISTINCT (card, detail) WebP pairs, encoded as thumbnails/files.py encodes them."""
    folder.mkdir(parents=True, exist_ok=True)
    pool = []
    for i in range(DISTINCT):
        detail = draw_field(i)
        card, big = folder / f"p{i}-256.webp", folder / f"p{i}-1024.webp"
        detail.save(big, "WEBP", quality=82, method=0)
        detail.resize((256, 256), Image.Resampling.LANCZOS).save(card, "WEBP", quality=82, method=4)
        pool.append((card, big))
    return pool


def with_thumbnails(datasets, root: Path, pool) -> list:
    thumbs = root / "thumbnails"
    thumbs.mkdir(parents=True, exist_ok=True)
    out = []
    for i, d in enumerate(datasets):
        key = f"{i:08x}"
        card, big = pool[i % len(pool)]
        os.link(card, thumbs / f"{key}-256.webp")
        os.link(big, thumbs / f"{key}-1024.webp")
        t = Thumbnail(key=key, card=f"thumbnails/{key}-256.webp", detail=f"thumbnails/{key}-1024.webp",
                      width=256, height=256, detail_width=1024, detail_height=1024)
        out.append(dataclasses.replace(d, thumbnail=t))
    return out


def run(rows: int, budget: int, work: Path, pool, *, unbounded: bool = True) -> dict:
    csv = write_csv_tree(work / f"csv-{rows}", rows)
    out = work / f"site-{rows}"
    config = BuildConfig(source=str(csv), out=out, offline=True, cache=None, verbose=-1, site_budget=budget)
    gathered = asyncio.run(build(config))
    root = work / f"thumbs-{rows}"
    shutil.rmtree(root, ignore_errors=True)
    datasets = with_thumbnails(gathered.catalog.datasets, root, pool)
    result = dataclasses.replace(gathered, catalog=dataclasses.replace(gathered.catalog, datasets=tuple(datasets)),
                                 thumbnail_root=root)
    # The site as rendered, for the "before" column (the budgeted build measures it too, and
    # says in given_up what each part weighed before it gave it up).
    before = None
    if unbounded:
        before = write_build(result, dataclasses.replace(config, site_budget=None, out=work / f"free-{rows}")).size.to_dict()
        shutil.rmtree(work / f"free-{rows}")
    t0 = time.perf_counter()
    written = write_build(result, config)
    seconds = time.perf_counter() - t0
    figures = {
        "rows": rows,
        "budget": budget,
        "before": before,
        "after": written.size.to_dict(),
        "given_up": list(written.size.given_up),
        "fits": written.size.fits,
        "seconds_to_write_within_budget": round(seconds, 1),
    }
    shutil.rmtree(root)
    return figures


def show(f: dict) -> None:
    print(f"\n== {f['rows']:,} datasets, budget {format_bytes(f['budget'])} ({f['budget']:,} bytes)")
    before = f["before"] or {"parts": {p: None for p in f["after"]["parts"]}, "total": None, "files": 0}
    print(f"{'part':18} {'as rendered':>14} {'within budget':>14}")
    for part, n in before["parts"].items():
        print(f"{part:18} {format_bytes(n):>14} {format_bytes(f['after']['parts'][part]):>14}")
    print(f"{'total':18} {format_bytes(before['total']):>14} {format_bytes(f['after']['total']):>14}")
    print(f"files: {before['files']:,} -> {f['after']['files']:,}; fits: {f['fits']}; "
          f"written in {f['seconds_to_write_within_budget']} s")
    for g in f["given_up"] or ["nothing given up"]:
        print(f"  gave up: {g}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, nargs="+", default=[20_000, 100_000])
    p.add_argument("--budget", default="1GB")
    p.add_argument("--work", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--skip-unbounded", action="store_true", help="write only the budgeted site (no 'as rendered' column)")
    args = p.parse_args()
    budget = parse_size(args.budget)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-budget-"))
    pool = write_pool(work / "pool")
    results = []
    try:
        for rows in args.rows:
            f = run(rows, budget, work, pool, unbounded=not args.skip_unbounded)
            show(f)
            results.append(f)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
