"""Cluster builds: thumbnails per second with 1 and 2 Dask workers, and per-dataset costs.

Serves ``bench_thumbnails.py``'s varied OME-Zarr images from a separate
process with added latency per request, then:

1. measures the per-dataset costs in this process, stage by stage: harvest
   (``harvest`` + ``validate``) and thumbnails (``make_thumbnails``), in wall
   clock and CPU seconds (all threads of the process);
2. times the single-process ``build`` (no cache, so nothing is reused);
3. times the same ``build`` with ``--dask`` on a ``LocalCluster`` of 1 and
   then 2 worker processes (one thread each), the cluster started and its
   workers' imports done before the clock starts.

The CPU seconds per dataset are what sizes a cluster: a real build's
requests wait on the network, which concurrency hides, while decoding and
rendering need cores (see ``benchmarks/README.md``).

    python benchmarks/bench_dask.py [--images 120] [--latency 0.02] [--batch 30]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_thumbnails import serve  # noqa: E402  (the same data and server)


def _entries(base: str, n: int) -> list:
    from generator.records import Entry

    return [Entry(url=f"{base}/img{i:04d}.zarr", source="b", collection="b", listings=()) for i in range(n)]


async def stage_costs(base: str, n: int) -> dict[str, float]:
    """Wall and CPU seconds of harvest and of thumbnails, for ``n`` datasets in this process."""
    from generator.config import ThumbnailConfig
    from generator.fetch.http import Fetcher
    from generator.harvest.dataset import harvest
    from generator.thumbnails.make import make_thumbnails
    from generator.validate import validate

    out = Path(tempfile.mkdtemp(prefix="bench-dask-costs-"))
    try:
        async with Fetcher(concurrency=64, per_host=16, allow_private_addresses=True) as fetcher:
            cpu0, t0 = time.process_time(), time.perf_counter()
            harvested = await harvest(_entries(base, n), fetcher)
            memo: dict = {}
            datasets = [d.with_findings(validate(d, memo=memo)) for d in harvested]
            cpu1, t1 = time.process_time(), time.perf_counter()
            drawn = await make_thumbnails(datasets, fetcher, out, ThumbnailConfig())
            cpu2, t2 = time.process_time(), time.perf_counter()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    ok = sum(1 for d in drawn if d.thumbnail is not None)
    assert ok == n, f"only {ok} of {n} thumbnails drawn"
    return {"harvest_wall": t1 - t0, "harvest_cpu": cpu1 - cpu0, "thumb_wall": t2 - t1, "thumb_cpu": cpu2 - cpu1}


def timed_build(csv: Path, work: Path, *, dask: str | None, batch: int) -> tuple[float, int]:
    """Seconds to gather the catalog (sources, harvest, thumbnails), and thumbnails drawn."""
    from generator.build import build
    from generator.config import BuildConfig
    from generator.progress import Progress

    out = work / f"site-{dask or 'single'}".replace(":", "_").replace("/", "_")
    config = BuildConfig(
        source=str(csv), out=out, cache=None, allow_private_addresses=True, dask=dask, dask_batch=batch, verbose=-1
    )
    result = asyncio.run(build(config, progress=Progress(verbosity=-1)))
    if result.scratch and result.thumbnail_root is not None:
        shutil.rmtree(result.thumbnail_root, ignore_errors=True)
    return result.seconds, result.thumbnails_rendered


def cluster_build(csv: Path, work: Path, workers: int, batch: int) -> tuple[float, int, float]:
    """Seconds, thumbnails drawn, and CPU seconds the workers spent (all their threads)."""
    from distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster, Client(cluster) as client:
        # Imports are a worker's one-off start-up cost, not a per-dataset one.
        client.run(__import__, "generator.cluster.worker")
        before = client.run(time.process_time)
        seconds, drawn = timed_build(csv, work, dask=cluster.scheduler_address, batch=batch)
        after = client.run(time.process_time)
    return seconds, drawn, sum(after[w] - before[w] for w in after)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=120)
    p.add_argument("--latency", type=float, default=0.02)
    p.add_argument("--batch", type=int, default=30, help="datasets per cluster task (small: a few per worker here)")
    p.add_argument("--data", type=Path, default=HERE / "out" / "thumbs-data")
    args = p.parse_args()
    ctx = mp.get_context("spawn")
    queue, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve, args=(str(args.data), args.images, args.latency, queue, stop), daemon=True)
    server.start()
    work = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    try:
        base = queue.get(timeout=1800)
        csv = work / "submissions.csv"
        csv.write_text("url\n" + "".join(f"{e.url}\n" for e in _entries(base, args.images)), encoding="utf-8")
        n = args.images
        costs = asyncio.run(stage_costs(base, n))
        print(f"images: {n}, latency {args.latency * 1000:.0f} ms/request, batch {args.batch}")
        print(
            f"per dataset, one process: harvest {costs['harvest_wall'] / n * 1000:.1f} ms wall, "
            f"{costs['harvest_cpu'] / n * 1000:.1f} ms CPU; thumbnail {costs['thumb_wall'] / n * 1000:.1f} ms wall, "
            f"{costs['thumb_cpu'] / n * 1000:.1f} ms CPU"
        )
        seconds, drawn = timed_build(csv, work, dask=None, batch=args.batch)
        print(f"single process: {seconds:.2f} s, {drawn} thumbnails -> {drawn / seconds:.1f} datasets with thumbnails/s")
        for workers in (1, 2):
            seconds, drawn, cpu = cluster_build(csv, work, workers, args.batch)
            print(
                f"--dask, {workers} worker(s): {seconds:.2f} s, {drawn} thumbnails -> {drawn / seconds:.1f} thumbnails/s; "
                f"worker CPU {cpu / n * 1000:.1f} ms per dataset (harvest and thumbnail)"
            )
    finally:
        stop.set()
        server.join(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
