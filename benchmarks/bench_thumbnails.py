"""Thumbnail throughput, bytes fetched against the minimum, and peak memory.

Writes N varied OME-Zarr images with zarr-python (uint8/int16/uint16/float32,
1-4 channels, 256 px to 1600 px, cyx/zyx/tczyx, v0.4 and v0.5, sharded and
not), serves them from a separate process with added latency per request,
harvests them with ``harvest_one`` (not timed), then times
``make_thumbnails`` into an empty output directory.

Reported:
- thumbnails per second (wall clock of ``make_thumbnails``);
- chunk requests, and metadata document requests (none: harvest read them);
- chunk bytes fetched per thumbnail (from the server's request log) against
  the minimum possible: the stored bytes of the chunks intersecting the
  rendered plane (inner chunks + shard index for sharded arrays), read from
  the files on disk;
- peak RSS of this process (the server runs in its own process).

    python benchmarks/bench_thumbnails.py [--images 200] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import resource
import shutil
import struct
import threading
import time
from pathlib import Path

import numpy as np
import psutil

HERE = Path(__file__).resolve().parent
DATA_VERSION = 1  # bump when the generated images change
META = ("zarr.json", ".zarray", ".zattrs", ".zgroup", "ro-crate-metadata.json")


def image_spec(i: int) -> dict:
    """The i-th image: every axis of variation cycles at a different period."""
    version = "0.5" if i % 2 == 0 else "0.4"
    sharded = version == "0.5" and i % 4 == 0
    dtype = ("uint16", "uint8", "float32", "int16", "uint8")[i % 5]
    sizes = [(256, 320), (600, 512), (1024, 900), (1200, 1600)]
    h, w = sizes[(i // 5) % 4]
    channels = (1, 2, 3, 4)[(i // 3) % 4]
    layout = ("cyx", "tczyx", "zyx", "cyx")[(i // 7) % 4]
    if layout == "zyx":
        channels = 1
    tile = 256 if i % 3 else 512
    return dict(version=version, sharded=sharded, dtype=dtype, h=h, w=w, c=channels, layout=layout, tile=tile)


def write_images(root: Path, n: int) -> None:
    from generator.dev.samples import ChannelSpec, gradient, write_image

    marker = root / f".complete-{n}-v{DATA_VERSION}"
    if marker.exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for i in range(n):
        s = image_spec(i)
        z = 3 if s["layout"] == "tczyx" or s["layout"] == "zyx" else 1
        plane = gradient((s["c"], s["h"], s["w"]), s["dtype"], seed=i)
        if s["layout"] == "cyx":
            data, lead = plane, (1,)
        elif s["layout"] == "zyx":
            data, lead = np.stack([plane[0]] * z), (1,)
        else:
            data, lead = np.stack([plane] * z, axis=1)[None], (1, 1, 1)
        chunks = lead + (s["tile"], s["tile"])
        shards = lead + (2 * s["tile"], 2 * s["tile"]) if s["sharded"] else None
        chans = None
        if i % 6 == 0 and s["layout"] != "zyx":
            colors = ("FF0000", "00FF00", "0000FF", "FFFF00")
            chans = [ChannelSpec(f"ch{k}", colors[k], 0, float(np.max(plane[k])) or 1.0) for k in range(s["c"])]
        write_image(root / f"img{i:04d}.zarr", data, axes=s["layout"], version=s["version"], levels=4,
                    chunks=chunks, shards=shards, channels=chans)
    marker.write_text("ok")


def serve(root: str, n: int, latency: float, queue: mp.Queue, stop: mp.Event) -> None:
    """Child process: write the images (once), serve them, expose the request log at /__log."""
    from aiohttp import web

    from generator.dev.server import BackgroundServer, RequestLog, make_app

    write_images(Path(root), n)
    log = RequestLog()

    async def hook(request: web.Request) -> web.StreamResponse | None:
        if request.path == "/__log":
            return web.json_response(log.entries)
        if request.path == "/__clear":
            log.clear()
            return web.Response(text="ok")
        return None

    server = BackgroundServer(make_app(Path(root), latency=latency, log=log, hook=hook)).start()
    queue.put(server.url)
    stop.wait()
    server.stop()


def plane_minimum_bytes(level_dir: Path, meta: dict, selection: tuple) -> int:
    """Stored bytes a reader cannot avoid for the plane: touched chunk files, or touched inner chunks + shard indexes."""

    def touched(grid):
        return [range(math.ceil(n / c)) if isinstance(s, slice) else [s // c] for s, n, c in zip(selection, shape, grid)]

    def key(idx, sep):
        return "/".join(map(str, idx)) if sep == "/" else ".".join(map(str, idx))

    shape = meta["shape"]
    if meta.get("zarr_format") == 2:
        sep = meta.get("dimension_separator", ".")
        files = [level_dir / key(idx, sep) for idx in _product(touched(meta["chunks"]))]
        return sum(f.stat().st_size for f in files if f.exists())
    outer = meta["chunk_grid"]["configuration"]["chunk_shape"]
    codec = meta["codecs"][0]
    if codec["name"] != "sharding_indexed":
        files = [level_dir / "c" / key(idx, "/") for idx in _product(touched(outer))]
        return sum(f.stat().st_size for f in files if f.exists())
    inner = codec["configuration"]["chunk_shape"]
    per = [o // c for o, c in zip(outer, inner)]
    n = math.prod(per)
    by_shard: dict[tuple, list[tuple]] = {}
    for idx in _product(touched(inner)):
        by_shard.setdefault(tuple(c // p for c, p in zip(idx, per)), []).append(tuple(c % p for c, p in zip(idx, per)))
    total = 0
    for shard, inners in by_shard.items():
        f = level_dir / "c" / key(shard, "/")
        if not f.exists():
            continue
        blob = f.read_bytes()
        index = blob[-(16 * n + 4) : -4]
        total += 16 * n + 4
        for local in inners:
            off, nbytes = struct.unpack_from("<QQ", index, 16 * int(np.ravel_multi_index(local, per)))
            if off != 2**64 - 1:
                total += nbytes
    return total


def _product(ranges):
    import itertools

    return itertools.product(*ranges)


class PeakRSS:
    """Samples this process's RSS every 20 ms in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


async def run(args: argparse.Namespace, base: str, root: Path) -> None:
    from generator.config import ThumbnailConfig
    from generator.fetch.http import Fetcher
    from generator.harvest.dataset import harvest_one
    from generator.history import decide_status
    from generator.plan import get_image_plan, get_plane_selection
    from generator.records import Entry
    from generator.thumbnails.make import make_thumbnails

    names = [f"img{i:04d}.zarr" for i in range(args.images)]
    out = HERE / "out" / "thumbs-site"
    shutil.rmtree(out, ignore_errors=True)
    async with Fetcher(concurrency=64, per_host=16, allow_private_addresses=True) as fetcher:
        datasets = await asyncio.gather(
            *(harvest_one(Entry(url=f"{base}/{n}", source="b", collection="b", listings=()), fetcher) for n in names)
        )
        bad = [d for d in datasets if decide_status(d) != "ok"]
        assert not bad, [(d.url, d.errors) for d in bad[:3]]
        await fetcher.get(f"{base}/__clear", conditional=False)
        config = ThumbnailConfig(workers=psutil.cpu_count() or 1)
        cpu0 = time.process_time()
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            done = await make_thumbnails(datasets, fetcher, out, config)
            elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        log, _ = await fetcher.get_json(f"{base}/__log", conditional=False)

    ok = [d for d in done if d.thumbnail is not None]
    failed = [(d.url, d.warnings) for d in done if d.thumbnail is None]
    fetched: dict[str, int] = {}
    requests: dict[str, int] = {}
    documents = 0  # the stage reads chunks only: harvest read the documents it needs
    for _method, path, _range, _status, size in log:
        name = path.split("/")[1]
        if name.startswith("__"):
            continue
        if path.endswith(META):
            documents += 1
            continue
        fetched[name] = fetched.get(name, 0) + size
        requests[name] = requests.get(name, 0) + 1
    ratios, minimum_total = [], 0
    for name, d in zip(names, datasets):
        plan = get_image_plan(d.resolutions, d.axes, config.card_size)
        roles, level = plan.roles, d.resolutions[plan.image]
        level_dir = root / name / level.path
        meta_file = level_dir / ("zarr.json" if d.zarr_format == 3 else ".zarray")
        meta = json.loads(meta_file.read_text())
        meta.setdefault("zarr_format", d.zarr_format)
        minimum = plane_minimum_bytes(level_dir, meta, get_plane_selection(meta["shape"], roles))
        minimum_total += minimum
        ratios.append(fetched.get(name, 0) / minimum if minimum else 1.0)
    total_fetched = sum(fetched.values())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"images: {args.images}, latency {args.latency * 1000:.0f} ms/request, workers {config.workers}, "
          f"{psutil.cpu_count()} CPUs")
    print(f"thumbnails: {len(ok)} ok, {len(failed)} without {failed[:2]}")
    print(f"time: {elapsed:.2f} s -> {len(ok) / elapsed:.1f} thumbnails/s (CPU {cpu:.1f} s in this process)")
    print(f"chunk requests: {sum(requests.values())} ({sum(requests.values()) / len(names):.1f} per thumbnail); "
          f"document requests: {documents}")
    print(f"chunk bytes fetched: {total_fetched / 1e6:.1f} MB total, {total_fetched / len(names) / 1e3:.0f} kB per thumbnail; "
          f"minimum possible {minimum_total / 1e6:.1f} MB -> ratio {total_fetched / minimum_total:.3f} "
          f"(per image: median {np.median(ratios):.3f}, max {max(ratios):.3f})")
    print(f"peak RSS: {mem.peak / 1e6:.0f} MB sampled during make_thumbnails, {rss / 1e6:.0f} MB ru_maxrss (whole run)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--latency", type=float, default=0.02)
    p.add_argument("--data", type=Path, default=HERE / "out" / "thumbs-data")
    args = p.parse_args()
    ctx = mp.get_context("spawn")
    queue, stop = ctx.Queue(), ctx.Event()
    t0 = time.perf_counter()
    server = ctx.Process(target=serve, args=(str(args.data), args.images, args.latency, queue, stop), daemon=True)
    server.start()
    try:
        base = queue.get(timeout=1800)
        print(f"data ready in {time.perf_counter() - t0:.1f} s at {args.data}")
        asyncio.run(run(args, base, args.data))
    finally:
        stop.set()
        server.join(10)


if __name__ == "__main__":
    main()
