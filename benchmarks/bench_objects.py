"""s3:// datasets: requests, bytes read against the minimum, and a warm rebuild, at a real S3 server.

Starts moto's threaded S3 server on 127.0.0.1 (``generator.dev.objectstore``),
writes N sharded OME-Zarr 0.5 images into a public-read bucket with
zarr-python through s3fs (czyx 2x8x512x512 uint16, 128 px inner chunks, shards
of 4 z planes), and the same images to local folders to measure against.
Builds the catalog from their ``s3://`` URLs (``endpoint`` column) with
thumbnails, cold, then warm with the same cache.

Reported, counted at the server:
- cold: requests, seconds, metadata documents read;
- thumbnails: chunk bytes read against the minimum (the stored bytes of the
  inner chunks intersecting the rendered plane plus the shard indexes), and
  how many chunk reads were ranges;
- warm: requests, how many were conditional, how many came back 304, and
  how many documents were downloaded again (the bar: none).

    python benchmarks/bench_objects.py [--datasets 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import s3fs  # noqa: E402

from bench_thumbnails import plane_minimum_bytes  # noqa: E402
from generator.build import build  # noqa: E402
from generator.config import BuildConfig  # noqa: E402
from generator.dev.objectstore import get_public_policy, make_server  # noqa: E402
from generator.dev.samples import gradient, write_image  # noqa: E402
from generator.plan import choose_level, get_axis_roles, get_plane_selection  # noqa: E402
from generator.records import Dataset  # noqa: E402
from generator.write import write_build  # noqa: E402

BUCKET = "bench-public"
KEYS = {"key": "testing", "secret": "testing"}
META = ("zarr.json", ".zattrs", ".zarray", "ro-crate-metadata.json")


def write(server, local: Path, n: int) -> list[str]:
    fs = s3fs.S3FileSystem(endpoint_url=server.endpoint, skip_instance_cache=True, **KEYS)
    fs.mkdir(BUCKET)
    fs.call_s3("put_bucket_policy", Bucket=BUCKET, Policy=get_public_policy(BUCKET))
    urls = []
    for i in range(n):
        data = gradient((2, 8, 512, 512), "uint16", seed=i)
        spec = dict(axes="czyx", version="0.5", levels=2, chunks=(1, 1, 128, 128), shards=(1, 4, 256, 256))
        url = f"s3://{BUCKET}/set/img{i}.zarr"
        write_image(url, data, storage_options={"endpoint_url": server.endpoint, **KEYS}, **spec)
        write_image(local / f"img{i}.zarr", data, **spec)
        urls.append(url)
    return urls


def timed_build(config: BuildConfig) -> float:
    t = time.perf_counter()
    write_build(asyncio.run(build(config)), config)
    return time.perf_counter() - t


def minimum(out: Path, local: Path) -> int:
    total = 0
    for d in json.loads((out / "catalog.json").read_text())["datasets"]:
        record = Dataset.from_dict(d)
        roles = get_axis_roles(record.axes, len(record.resolutions[0].shape))
        level = record.resolutions[choose_level(record.resolutions, roles, 256)]
        level_dir = local / record.url.rsplit("/", 1)[1] / level.path
        meta = json.loads((level_dir / "zarr.json").read_text())
        total += plane_minimum_bytes(level_dir, meta, get_plane_selection(meta["shape"], roles))
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=20)
    args = parser.parse_args()
    server = make_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "local").mkdir()
            urls = write(server, root / "local", args.datasets)
            csv = root / "s.csv"
            csv.write_text("url,endpoint\n" + "".join(f"{u},{server.endpoint}\n" for u in urls))
            config = BuildConfig(source=str(csv), out=root / "site", cache=root / "cache", allow_private_addresses=True)
            server.take()
            cold_s = timed_build(config)
            cold = server.take()
            gets = [e for e in cold if e[0] == "GET"]
            chunks = [e for e in gets if not e[1].endswith(META)]
            least = minimum(root / "site", root / "local")
            read = sum(e[5] for e in chunks)
            statuses = [d["status"] for d in json.loads((root / "site" / "catalog.json").read_text())["datasets"]]
            print(f"cold: {args.datasets} datasets ({statuses.count('ok')} ok) in {cold_s:.2f} s, {len(cold)} requests, "
                  f"{len(gets) - len(chunks)} metadata documents, {sum(e[6] for e in cold)} signed")
            print(f"thumbnails: {len(chunks)} chunk reads ({sum(e[2] is not None for e in chunks)} ranges, "
                  f"{sum((e[2] or '').startswith('bytes=-') for e in chunks)} suffix ranges for shard indexes), "
                  f"{read} bytes read, minimum {least}: {read / least:.3f}x")
            warm_s = timed_build(config)
            warm = [e for e in server.take() if e[0] == "GET"]
            print(f"warm: {warm_s:.2f} s ({warm_s / cold_s:.3f}x cold), {len(warm)} requests, "
                  f"{sum(e[3] is not None for e in warm)} conditional, {sum(e[4] == 304 for e in warm)} answered 304, "
                  f"{sum(e[4] == 200 for e in warm)} documents downloaded again")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
