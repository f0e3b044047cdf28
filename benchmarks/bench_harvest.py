"""Benchmark the harvest stage against a local server with 50 ms of latency.

    /tmp/venv/bin/python benchmarks/bench_harvest.py [--datasets 1000] [--memory-datasets 10000]

- writes image datasets with zarr-python (a few templates; the copies share
  the metadata files through hard links or symlinked directories, since the
  harvest reads metadata documents only);
- serves them from separate server processes (the harvest's CPU and memory are
  measured alone) with ``make_app(latency=0.05)``;
- measures datasets/s of ``harvest`` and of a sequential fetcher doing what
  the challenge's ``load_zarr_stats.py`` does (one dataset after another, its
  documents one by one: zarr.json, ro-crate, every level's zarr.json);
- counts requests per image dataset (RO-Crate excluded);
- counts, at the server, the requests and round trips of one dataset of each
  kind harvested alone (``--counts-only`` for just these): round trips are
  runs of requests arriving within half the latency of each other;
- measures peak RSS of a fresh process harvesting ``--memory-datasets``.

The fetcher's per-host limit (default 16) is the bottleneck against one
local host with 50 ms latency; the benchmark sets ``--per-host`` (default 128).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generator.dev import samples
from generator.fetch.http import Fetcher
from generator.harvest.dataset import harvest
from generator.history import decide_status
from generator.records import Entry

LATENCY = 0.05
# A single-threaded Python test server spends about 0.9 ms of CPU per request
# and would cap the run near 1,100 requests/s; two workers keep the server
# from being what is measured.
SERVER_PROCESSES = 2
METADATA_FILES = ("zarr.json", ".zattrs", ".zgroup", ".zarray")


def write_templates(root: Path) -> list[Path]:
    """Three realistic image layouts: v0.5 unsharded, v0.5 sharded, v0.4 (Zarr v2)."""
    img = samples.gradient((2, 1024, 768), "uint16")
    out = [
        samples.write_image(root / "t_v05.zarr", img, version="0.5", levels=4, chunks=(1, 256, 256)),
        samples.write_image(root / "t_shard.zarr", img, version="0.5", levels=4, chunks=(1, 128, 128), shards=(1, 512, 512)),
        samples.write_image(root / "t_v04.zarr", img, version="0.4", levels=4, chunks=(1, 256, 256)),
    ]
    return out


def link_tree(src: Path, dst: Path) -> None:
    """Hard-link the metadata documents of ``src`` into ``dst`` (chunks are never read)."""
    for dirpath, _, files in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        for f in files:
            if f in METADATA_FILES:
                (dst / rel).mkdir(parents=True, exist_ok=True)
                os.link(Path(dirpath) / f, dst / rel / f)


def make_collections(root: Path, templates: list[Path], n: int, *, symlinks: bool) -> list[str]:
    """``n`` dataset paths, split over one collection per template (as sources are)."""
    rels = []
    for i in range(n):
        t = templates[i % len(templates)]
        rel = f"{t.stem}/{i:05d}.zarr"
        dst = root / rel
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            if symlinks:
                dst.symlink_to(t.resolve(), target_is_directory=True)
            else:
                link_tree(t, dst)
        rels.append(rel)
    return rels


def serve(root: str, port: int, port_queue: mp.Queue) -> None:
    """One server process; several share the port (SO_REUSEPORT), as a real host's workers do."""
    from aiohttp import web

    from generator.dev.server import make_app

    async def run() -> None:
        runner = web.AppRunner(make_app(Path(root), latency=LATENCY), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, reuse_port=True)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(run())


def start_server(root: Path, processes: int = SERVER_PROCESSES) -> tuple[list[mp.Process], str]:
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    procs = []
    port = 0
    for _ in range(processes):
        proc = ctx.Process(target=serve, args=(str(root), port, q), daemon=True)
        proc.start()
        procs.append(proc)
        port = q.get(timeout=60)
    return procs, f"http://127.0.0.1:{port}"


def stop_server(procs: list[mp.Process]) -> None:
    for proc in procs:
        proc.terminate()
        proc.join()


def entries_for(base: str, rels: list[str]) -> list[Entry]:
    return [Entry(url=f"{base}/{r}", source="bench", collection=r.split("/")[0], listings=()) for r in rels]


async def run_harvest(entries: list[Entry], per_host: int) -> tuple[float, int, list]:
    async with Fetcher(concurrency=per_host, per_host=per_host, allow_private_addresses=True) as f:
        t0 = time.perf_counter()
        out = await harvest(entries, f)
        dt = time.perf_counter() - t0
        return dt, f.stats.requests, out


async def run_sequential(entries: list[Entry]) -> tuple[float, int]:
    """What load_zarr_stats.py does: one dataset at a time, one document at a time."""
    async with Fetcher(concurrency=1, per_host=1, allow_private_addresses=True) as f:
        t0 = time.perf_counter()
        for e in entries:
            r = await f.get(e.url + "/zarr.json", allow_status=frozenset({404}))
            v2 = r.status == 404
            attrs = (await f.get_json(e.url + "/.zattrs"))[0] if v2 else r.json().get("attributes", {}).get("ome", {})
            await f.get(e.url + "/ro-crate-metadata.json", allow_status=frozenset({404}))
            for ds in attrs["multiscales"][0]["datasets"]:
                await f.get(f"{e.url}/{ds['path']}/" + (".zarray" if v2 else "zarr.json"))
        return time.perf_counter() - t0, f.stats.requests


def write_count_samples(root: Path) -> dict[str, Path]:
    """One dataset per kind whose request and round-trip counts are reported."""
    img = samples.gradient((2, 1024, 768), "uint16")
    mask = (samples.gradient((1, 512, 384), "uint8") > 128).astype("uint8")
    return {
        "image v0.5, 4 levels": samples.write_image(root / "c_v05.zarr", img, version="0.5", levels=4, chunks=(1, 256, 256)),
        "image v0.5 sharded, 4 levels": samples.write_image(root / "c_shard.zarr", img, version="0.5", levels=4, chunks=(1, 128, 128), shards=(1, 512, 512)),
        "image v0.4, 4 levels": samples.write_image(root / "c_v04.zarr", img, version="0.4", levels=4, chunks=(1, 256, 256)),
        "image v0.4, 6 levels": samples.write_image(root / "c_v04_6.zarr", img, version="0.4", levels=6, chunks=(1, 256, 256)),
        "image v0.4 + 1 label": samples.write_image(root / "c_lab.zarr", img[:1, :512, :384], version="0.4", levels=3, labels={"cells": mask}),
        "bioformats2raw, 2 series": samples.write_bioformats2raw(root / "c_bf.zarr", [img[None, :1, None], img[None, 1:, None, :512, :384]], levels=3),
        "plate 8x12, 1 field": samples.write_plate(root / "c_plate.zarr", rows=tuple("ABCDEFGH"), columns=tuple(str(i) for i in range(1, 13)), field_shape=(1, 64, 64)),
    }


def count_trips(times: list[float], latency: float) -> int:
    """Round trips: runs of arrivals closer than half the latency to the previous one."""
    trips, last = 0, None
    for t in sorted(times):
        if last is None or t - last > latency / 2:
            trips += 1
        last = t
    return trips


def count_requests(root: Path, per_host: int) -> dict[str, dict[str, int]]:
    """Requests and round trips per dataset, counted at the server, RO-Crate aside."""
    from aiohttp import web

    from generator.dev.server import BackgroundServer, make_app

    datasets = write_count_samples(root)
    arrivals: list[tuple[float, str]] = []

    async def record(request: web.Request) -> None:
        arrivals.append((time.monotonic(), request.path))
        return None

    server = BackgroundServer(make_app(root, latency=LATENCY, hook=record)).start()
    out: dict[str, dict[str, int]] = {}
    try:
        for label, path in datasets.items():
            arrivals.clear()
            entry = Entry(url=f"{server.url}/{path.name}", source="bench", collection="counts", listings=())

            async def one() -> None:
                async with Fetcher(concurrency=per_host, per_host=per_host, allow_private_addresses=True) as f:
                    await harvest([entry], f)

            asyncio.run(one())
            seen = [(t, p) for t, p in arrivals if not p.endswith("ro-crate-metadata.json")]
            out[label] = {"requests": len(seen), "round_trips": count_trips([t for t, _ in seen], LATENCY)}
    finally:
        server.stop()
    return out


def memory_child(base: str, rels_file: str, per_host: int) -> None:
    rels = json.loads(Path(rels_file).read_text())
    dt, requests, out = asyncio.run(run_harvest(entries_for(base, rels), per_host))
    ok = sum(decide_status(d) == "ok" for d in out)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"datasets": len(out), "ok": ok, "seconds": dt, "requests": requests, "peak_rss_mb": peak_mb}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", type=int, default=1000)
    ap.add_argument("--sequential", type=int, default=60, help="datasets for the sequential baseline")
    ap.add_argument("--memory-datasets", type=int, default=10_000)
    ap.add_argument("--per-host", type=int, default=128)
    ap.add_argument("--memory-child", nargs=2, metavar=("BASE", "RELS"), help=argparse.SUPPRESS)
    ap.add_argument("--counts-only", action="store_true", help="only the per-kind request and round-trip counts")
    args = ap.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child, args.per_host)
        return
    if args.counts_only:
        tmp = Path(tempfile.mkdtemp(prefix="bench-harvest-counts-"))
        try:
            print(json.dumps({"latency_s": LATENCY, "per_dataset": count_requests(tmp, args.per_host)}, indent=2))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return

    tmp = Path(tempfile.mkdtemp(prefix="bench-harvest-"))
    try:
        t0 = time.perf_counter()
        templates = write_templates(tmp / "templates")
        www = tmp / "www"
        rels = make_collections(www, templates, args.datasets, symlinks=False)
        write_s = time.perf_counter() - t0
        proc, base = start_server(www)
        try:
            entries = entries_for(base, rels)
            dt, requests, out = asyncio.run(run_harvest(entries, args.per_host))
            ok = sum(decide_status(d) == "ok" and d.kind == "image" for d in out)
            rate = len(out) / dt
            per_image = (requests - len(out)) / len(out)  # one RO-Crate request per dataset excluded
            seq_entries = entries[: args.sequential]
            sdt, sreq = asyncio.run(run_sequential(seq_entries))
            srate = len(seq_entries) / sdt
        finally:
            stop_server(proc)

        # Peak memory: a fresh process harvests many datasets (symlinked copies of the templates).
        www_mem = tmp / "www_mem"
        mem_rels = make_collections(www_mem, [www_mem.parent / "templates" / t.name for t in templates], args.memory_datasets, symlinks=False)
        rels_file = tmp / "mem_rels.json"
        rels_file.write_text(json.dumps(mem_rels))
        proc, base = start_server(www_mem)
        try:
            child = subprocess.run(
                [sys.executable, __file__, "--per-host", str(args.per_host), "--memory-child", base, str(rels_file)],
                check=True, capture_output=True, text=True,
            )
            mem = json.loads(child.stdout.strip().splitlines()[-1])
        finally:
            stop_server(proc)

        report = {
            "cpus": os.cpu_count(),
            "latency_s": LATENCY,
            "per_host": args.per_host,
            "fixture_write_s": round(write_s, 1),
            "harvest": {"datasets": len(out), "ok_images": ok, "seconds": round(dt, 2), "datasets_per_s": round(rate, 1), "requests_per_image_excl_rocrate": round(per_image, 2)},
            "sequential": {"datasets": len(seq_entries), "seconds": round(sdt, 2), "datasets_per_s": round(srate, 2), "requests_per_image_excl_rocrate": round((sreq - len(seq_entries)) / len(seq_entries), 2)},
            "speedup": round(rate / srate, 1),
            "memory": {**mem, "seconds": round(mem["seconds"], 1), "peak_rss_mb": round(mem["peak_rss_mb"], 1)},
            "per_dataset": count_requests(tmp / "counts", args.per_host),
        }
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
