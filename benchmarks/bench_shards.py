"""Benchmark the search-shard writer (``generator/site/search_shards.write_search_shards``).

    /work/main/.venv/bin/python benchmarks/bench_shards.py [--rows 100000] [--source build|synthetic|demo|fixtures]
        [--records FILE.jsonl] [--save-records FILE.jsonl] [--out DIR] [--check REF] [--profile]

Records (``--source``):

- ``build`` (default): bench_site.write_csv_tree's submission tree, gathered
  offline with ``generator.build.build`` (the records an offline build writes).
- ``synthetic``: search_sites.synthetic_datasets, made one at a time while the
  writer reads them (for 1,000,000 rows without holding them all); the time
  of making them alone is measured in a second pass and subtracted.
- ``demo``: the demo catalog (``ngff-catalog demo``'s data, served on
  127.0.0.1 and harvested). Its URLs carry the server's port, so save the
  records (``--save-records``) and compare writers on the saved file.
- ``fixtures``: the test fixtures' catalogs (tests/site_fixtures.py: the small
  catalog, 240 more rows as in test_search_shards.py, the hostile catalog).

``--records FILE.jsonl`` reads ``Dataset.to_dict(internal=True)`` lines
instead; ``--save-records`` writes them. The writer's output goes to
``--out`` (a temporary folder by default); ``--check REF`` compares every
file under ``OUT/search`` with ``REF/search`` byte for byte and exits 1 on
any difference, so two writers can be compared on the same records.

Reported: seconds of wall and of CPU in the writer (and the kernel's part of
that CPU, mostly creating the 25,000 files of 100,000 rows), ms of CPU per row, the
process's peak RSS (``ru_maxrss``; with ``build``/``fixtures`` it includes the
records held in memory, which is reported separately as the RSS before the
writer ran), the output's bytes and files.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import json
import pstats
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generator.records import Catalog, Dataset, Term  # noqa: E402
from generator.site.search_shards import write_search_shards  # noqa: E402


def build_records(work: Path, rows: int) -> list[Dataset]:
    from benchmarks.bench_site import write_csv_tree
    from generator.build import build
    from generator.config import BuildConfig

    root = write_csv_tree(work / "csv", rows)
    result = asyncio.run(build(BuildConfig(source=str(root), out=work / "site", offline=True, verbose=-1)))
    return list(result.catalog.datasets)


def demo_records(work: Path) -> list[Dataset]:
    from generator.build import build
    from generator.config import BuildConfig
    from generator.dev.demo import write_demo_csvs, write_demo_data
    from generator.dev.server import BackgroundServer, make_app

    collections = write_demo_data(work / "data")
    server = BackgroundServer(make_app(work / "data", cors=True)).start()
    try:
        csv = write_demo_csvs(work / "csv", server.url, collections)
        config = BuildConfig(source=str(csv), out=work / "site", cache=work / "cache", verbose=-1,
                             allow_private_addresses=True)
        return list(asyncio.run(build(config)).catalog.datasets)
    finally:
        server.stop()


def fixture_records(work: Path) -> list[Dataset]:
    from tests.site_fixtures import make_catalog, make_dataset, make_hostile_catalog

    rng = random.Random(3)
    words = "zebrafish kidney organoid mitotic chromosome cortex lightsheet tubulin actin nuclei".split()
    more = []
    for i in range(240):
        w = rng.sample(words, 2)
        more.append(make_dataset(
            100 + i, source=["IDR", "JAX", "SSBD"][i % 3], collection=f"c{i % 7}", name=f"{w[0].title()} {i:04d}",
            description=f"about {w[1]}", organism=Term("NCBI:txid7955", ["Danio rerio", "Mus musculus"][i % 2]),
            sharded=i % 4 == 0, written_bytes=1000 + rng.randint(0, 10**9)))
    base: Catalog = make_catalog(work / "a")
    hostile: Catalog = make_hostile_catalog(work / "b")
    return [*base.datasets, *more, *hostile.datasets]


def read_records(path: Path) -> Iterator[Dataset]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield Dataset.from_dict(json.loads(line))


def save_records(path: Path, datasets: Iterable[Dataset]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for d in datasets:
            f.write(json.dumps(d.to_dict(internal=True), ensure_ascii=False) + "\n")


def get_records(args: argparse.Namespace, work: Path) -> tuple[Iterable[Dataset], bool]:
    """The records, and whether they are made while being read (a generator)."""
    if args.records:
        return list(read_records(args.records)), False
    if args.source == "synthetic":
        from benchmarks.search_sites import synthetic_datasets

        return synthetic_datasets(args.rows), True
    if args.source == "demo":
        return demo_records(work), False
    if args.source == "fixtures":
        return fixture_records(work), False
    return build_records(work, args.rows), False


def compare(out: Path, ref: Path) -> list[str]:
    """The files under out/search and ref/search that differ, or exist in one only."""
    def hashes(root: Path) -> dict[str, str]:
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in root.rglob("*") if p.is_file()}

    a, b = hashes(out / "search"), hashes(ref / "search")
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def time_writer(records: Iterable[Dataset], out: Path, profile: bool) -> tuple[float, float, float, int]:
    profiler = cProfile.Profile() if profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    sys_cpu = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    if profiler:
        profiler.enable()
    meta = write_search_shards(records, out)
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    sys_cpu = resource.getrusage(resource.RUSAGE_SELF).ru_stime - sys_cpu
    return time.perf_counter() - wall, time.process_time() - cpu, sys_cpu, meta["n"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--source", choices=("build", "synthetic", "demo", "fixtures"), default="build")
    p.add_argument("--records", type=Path, help="read the records from this JSON-lines file")
    p.add_argument("--save-records", type=Path, help="write the records to this JSON-lines file")
    p.add_argument("--out", type=Path, help="the site folder the shards go to (default: a temporary one)")
    p.add_argument("--check", type=Path, metavar="REF", help="compare OUT/search with REF/search, byte for byte")
    p.add_argument("--profile", action="store_true", help="run the writer under cProfile (times are then inflated)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        work = Path(tmp)
        out = args.out or work / "out"
        out.mkdir(parents=True, exist_ok=True)
        records, streamed = get_records(args, work)
        if args.save_records:
            if streamed:
                records = list(records)
                streamed = False
            save_records(args.save_records, records)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        wall, cpu, sys_cpu, n = time_writer(records, out, args.profile)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        making = 0.0
        if streamed:  # the records were made while the writer read them: take that time out
            from benchmarks.search_sites import synthetic_datasets

            t0 = time.process_time()
            for _ in synthetic_datasets(args.rows):
                pass
            making = time.process_time() - t0
        files = [f for f in (out / "search").rglob("*") if f.is_file()]
        result = {
            "rows": n,
            "writer_wall_s": round(wall - making, 2) if streamed else round(wall, 2),
            "writer_cpu_s": round(cpu - making, 2),
            "writer_system_cpu_s": round(sys_cpu, 2),  # of writer_cpu_s: the kernel's (creating the files)
            "ms_per_row": round(1000 * (cpu - making) / max(n, 1), 4),
            "making_records_cpu_s": round(making, 2),
            "peak_rss_mib": round(peak / 1024, 1),
            "rss_before_writer_mib": round(rss_before / 1024, 1),
            "output_mib": round(sum(f.stat().st_size for f in files) / 2**20, 2),
            "output_files": len(files),
        }
        print(json.dumps(result))
        if args.check:
            differ = compare(out, args.check)
            print(f"check: {len(differ)} of {len(files)} files differ from {args.check}"
                  + ("".join(f"\n  {k}" for k in differ[:20])))
            return 1 if differ else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
