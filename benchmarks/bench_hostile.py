"""Build a mixed catalog of good datasets and every hostile kind, as a provider could serve them.

    .venv/bin/python benchmarks/bench_hostile.py [--hanging 300] [--work DIR]

Two builds with one build state, each `ngff-catalog build` run in a
subprocess with the default settings (plus `--allow-private-addresses`, since
every host here is on 127.0.0.1):

1. the night before: the healthy host and the "flaky" host are both good;
2. tonight: the flaky host answers garbage, 503 or nothing, and a hostile
   host serves every case of the hostile-input issue (surrogates, deep JSON,
   decompression bombs, an OME-XML DTD bomb, a 2,500 x 2,500 plate, 18 MB
   omero blocks, a slow 4,096-chunk plane, hundreds of hanging datasets
   listed first, CSV lattices, wide CSVs, formula cells, a huge inherited
   description). The hanging datasets are served by a server of their own
   (another port, so another host to the fetcher): the healthy host must not
   wait for them, while the circuit breaker gives up on their host.

It reports exit status, peak RSS (`ru_maxrss` of the largest process of the
build, fork children included), wall time, whether every healthy dataset is
`ok` with its thumbnail, and whether every flaky dataset kept its last good
facts and thumbnail (`stale`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

from generator.dev.bombs import deflate_of_zeros, zstd_bomb
from generator.dev.samples import (
    ChannelSpec,
    gradient,
    write_bioformats2raw,
    write_image,
    write_plate,
)
from generator.dev.server import BackgroundServer, make_app

HEALTHY = 12
FLAKY = 6
CHANNELS = [ChannelSpec("DNA", "0000FF", 0, 40000), ChannelSpec("actin", "00FF00", 0, 40000)]


# ---------------------------------------------------------------- hostile bytes


def write_bomb_image(path: Path, codec: str, payload: bytes) -> None:
    """A 256 x 256 uint8 image of one chunk whose stored chunk decodes to far more than 64 KiB."""
    import zarr
    from zarr.codecs import BytesCodec, GzipCodec, ZstdCodec

    write_image(path, gradient((256, 256), "uint8"), axes="yx", levels=1, chunks=(256, 256))
    group = zarr.open_group(str(path), mode="r+")
    compressor = ZstdCodec() if codec == "zstd" else GzipCodec()
    del group["0"]
    arr = group.create_array("0", shape=(256, 256), dtype="uint8", chunks=(256, 256), serializer=BytesCodec(),
                             compressors=[compressor], dimension_names=["y", "x"])
    arr[...] = 1
    chunk = path / "0" / "c" / "0" / "0"
    chunk.write_bytes(payload)


def write_hostile(root: Path, hanging: int) -> dict[str, list[str]]:
    """Every hostile dataset under ``root``; returns CSV rows per hostile CSV name."""
    rows: dict[str, list[str]] = {"hostile": []}

    def img(rel: str, **kw) -> Path:  # noqa: ANN003
        p = root / rel
        write_image(p, gradient((2, 128, 128), "uint16"), channels=CHANNELS, **kw)
        rows["hostile"].append(rel)
        return p

    # 1. a lone surrogate in a name (valid JSON)
    p = img("surrogate.zarr", name="placeholder-name")
    text = (p / "zarr.json").read_text().replace("placeholder-name", "bad \\ud800 name")
    (p / "zarr.json").write_text(text)
    # 2. JSON nested about 980 levels deep in level 0's document
    p = img("deep.zarr")
    doc = json.loads((p / "0" / "zarr.json").read_text())
    doc["attributes"] = {"x": json.loads("[" * 980 + "]" * 980)}
    (p / "0" / "zarr.json").write_text(json.dumps(doc))
    # 3. decompression bombs: three zstd (4 GiB each), one gzip (2 GiB)
    zstd = zstd_bomb(4 << 30)
    for i in range(3):
        write_bomb_image(root / f"zstd-bomb-{i}.zarr", "zstd", zstd)
        rows["hostile"].append(f"zstd-bomb-{i}.zarr")
    write_bomb_image(root / "gzip-bomb.zarr", "gzip", deflate_of_zeros(2 << 30))
    rows["hostile"].append("gzip-bomb.zarr")
    # OME-XML with a DTD after a 15 MB comment (and no series list, so the XML is read)
    p = write_bioformats2raw(root / "xml-bomb.zarr", [gradient((1, 1, 1, 64, 64), "uint8")], series_list=False)
    lol = "".join(f'<!ENTITY l{i} "{"&l%d;" % (i - 1) * 10 if i else "lol"}">' for i in range(10))
    xml = f'<?xml version="1.0"?><!--{"x" * (15 << 20)}--><!DOCTYPE OME [{lol}]><OME>&l9;</OME>'
    (p / "OME" / "METADATA.ome.xml").write_text(xml)
    rows["hostile"].append("xml-bomb.zarr")
    # a plate of 2,500 x 2,500 row and column names with one well
    p = write_plate(root / "huge-plate.zarr", rows=("A",), columns=("1",), field_shape=(1, 32, 32))
    meta = json.loads((p / "zarr.json").read_text())
    meta["attributes"]["ome"]["plate"]["rows"] = [{"name": f"R{i}"} for i in range(2500)]
    meta["attributes"]["ome"]["plate"]["columns"] = [{"name": f"C{i}"} for i in range(2500)]
    (p / "zarr.json").write_text(json.dumps(meta))
    rows["hostile"].append("huge-plate.zarr")
    # 30 datasets with an 18 MB omero block each
    omero_src = img("omero-0.zarr")
    doc = json.loads((omero_src / "zarr.json").read_text())
    channel = {"label": "c" * 200, "color": "FFFFFF", "window": {"start": 0, "end": 1, "min": 0, "max": 1}}
    doc["attributes"]["ome"]["omero"]["channels"] = [channel] * (18_000_000 // 280)
    (omero_src / "zarr.json").write_text(json.dumps(doc))
    for i in range(1, 30):
        shutil.copytree(omero_src, root / f"omero-{i}.zarr")
        rows["hostile"].append(f"omero-{i}.zarr")
    # a 256 x 256 plane stored as 4,096 chunks of 4 x 4, served slowly (see the hook)
    write_image(root / "slow" / "tiny-chunks.zarr", gradient((256, 256), "uint8"), axes="yx", levels=1, chunks=(4, 4))
    rows["hostile"].append("slow/tiny-chunks.zarr")
    # hanging datasets, listed first
    rows["hanging"] = [f"hang/{i:04d}.zarr" for i in range(hanging)]
    return rows


def make_hook(state: dict[str, str]):  # noqa: ANN201
    async def hook(request: web.Request) -> web.StreamResponse | None:
        path = request.path
        if path.startswith("/hang/"):
            await asyncio.sleep(3600)
        if path.startswith("/slow/") and "/c/" in path:
            await asyncio.sleep(1.5)
        if path.startswith("/flaky/") and state["flaky"] != "good":
            n = int(path.split("/")[2].split(".")[0][-1])
            mode = ("garbage", "garbage", "random", "503", "hang", "404html")[n % 6]
            if mode == "garbage":
                return web.Response(text="<html><body>Maintenance</body></html>", content_type="text/html")
            if mode == "random":
                return web.Response(body=os.urandom(2000))
            if mode == "503":
                return web.Response(status=503)
            if mode == "404html":
                return web.Response(status=200, text="<!doctype html><title>Not here</title>", content_type="text/html")
            await asyncio.sleep(3600)
        return None

    return hook


# ---------------------------------------------------------------- CSVs


def write_csvs(csv_dir: Path, base: str, rows: dict[str, list[str]], *, tonight: bool, hang_base: str = "") -> Path:
    csv_dir.mkdir(parents=True, exist_ok=True)
    healthy = [f"{base}/good/img-{i:02d}.zarr" for i in range(HEALTHY)] + [f"{base}/good/plate.zarr"]
    flaky = [f"{base}/flaky/ds-{i:02d}.zarr" for i in range(FLAKY)]
    (csv_dir / "healthy.csv").write_text("url,name\n" + "".join(f"{u},healthy {i}\n" for i, u in enumerate(healthy)))
    (csv_dir / "flaky.csv").write_text("url\n" + "".join(f"{u}\n" for u in flaky))
    root = ["url,source"]
    if tonight:
        (csv_dir / "hanging.csv").write_text("url\n" + "".join(f"{hang_base or base}/{r}\n" for r in rows["hanging"]))
        root.append("hanging.csv,Hanging Institute")  # listed first: head-of-line blocking
        hostile = ["url,name,description,license"]
        hostile += [f"{base}/{r},{r},plain,CC-BY-4.0" for r in rows["hostile"]]
        hostile += [f'{base}/good/img-00.zarr,"=HYPERLINK(""https://phish.example/login"")",+cmd|calc,@SUM(A1)']
        (csv_dir / "hostile.csv").write_text("\n".join(hostile) + "\n")
        root.append("hostile.csv,Hostile Lab")
        # a lattice: each level lists the next twice plus 400 rows
        for level in range(12):
            lines = ["url"] + [f"lattice-{level + 1}.csv"] * 2 if level < 11 else ["url"]
            lines += [f"{base}/missing/lattice-{level}-{i}.zarr" for i in range(400)]
            (csv_dir / f"lattice-{level}.csv").write_text("\n".join(lines) + "\n")
        root.append("lattice-0.csv,Lattice")
        # 20,000 columns x 5,000 rows
        header = "url," + ",".join(f"c{i}" for i in range(20_000))
        wide = [header] + [f"{base}/missing/wide-{i}.zarr" for i in range(5000)]
        (csv_dir / "wide.csv").write_text("\n".join(wide) + "\n")
        root.append("wide.csv,Wide")
        # one 120 KB description inherited by 2,000 rows
        (csv_dir / "amplify-child.csv").write_text("url\n" + "".join(f"{base}/missing/amp-{i}.zarr\n" for i in range(2000)))
        (csv_dir / "amplify.csv").write_text(f'url,description\namplify-child.csv,"{"A" * 120_000}"\n')
        root.append("amplify.csv,Amplifier")
    root += ["healthy.csv,Healthy University", "flaky.csv,Flaky Institute"]
    (csv_dir / "submissions.csv").write_text("\n".join(root) + "\n")
    return csv_dir / "submissions.csv"


def write_good(root: Path) -> None:
    for i in range(HEALTHY):
        write_image(root / "good" / f"img-{i:02d}.zarr", gradient((2, 256, 256), "uint16", seed=i), channels=CHANNELS)
    write_plate(root / "good" / "plate.zarr", field_shape=(1, 64, 64))
    for i in range(FLAKY):
        write_image(root / "flaky" / f"ds-{i:02d}.zarr", gradient((2, 192, 192), "uint16", seed=100 + i), channels=CHANNELS)


# ---------------------------------------------------------------- measuring


def run_build(csv: Path, out: Path, cache: Path, extra: list[str]) -> dict[str, float]:
    cmd = [sys.executable, "-m", "generator", "build", str(csv), "--out", str(out), "--cache", str(cache), "-q", *extra]
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:  # a child of our own, so RUSAGE_CHILDREN counts this build alone
        code = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=open(out.parent / f"{out.name}.log", "w")).returncode
        os._exit(code)
    _, status, usage = os.wait4(pid, 0)
    return {"exit": os.waitstatus_to_exitcode(status), "seconds": round(time.monotonic() - t0, 1),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def check(out: Path, base: str) -> dict[str, object]:
    cat = json.loads((out / "catalog.json").read_text())
    by_url = {d["url"]: d for d in cat["datasets"]}
    healthy = [f"{base}/good/img-{i:02d}.zarr" for i in range(HEALTHY)] + [f"{base}/good/plate.zarr"]
    flaky = [f"{base}/flaky/ds-{i:02d}.zarr" for i in range(FLAKY)]
    good_ok = [u for u in healthy if by_url.get(u, {}).get("status") == "ok" and by_url[u].get("thumbnail")
               and (out / by_url[u]["thumbnail"]).is_file()]
    kept = [u for u in flaky if by_url.get(u, {}).get("status") == "stale" and by_url[u].get("thumbnail")
            and by_url[u].get("shape") and (out / by_url[u]["thumbnail"]).is_file()]
    return {
        "datasets": len(cat["datasets"]),
        "healthy_ok_with_thumbnail": f"{len(good_ok)}/{len(healthy)}",
        "flaky_kept_stale_with_thumbnail": f"{len(kept)}/{len(flaky)}",
        "flaky_statuses": sorted(by_url.get(u, {}).get("status", "missing") for u in flaky),
        "site_bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hanging", type=int, default=300)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    data = work / "data"
    mode = {"flaky": "good"}
    print(f"writing fixtures in {work} ...", flush=True)
    t0 = time.monotonic()
    write_good(data)
    rows = write_hostile(data, args.hanging)
    print(f"fixtures: {time.monotonic() - t0:.0f} s", flush=True)
    server = BackgroundServer(make_app(data, cors=True, hook=make_hook(mode))).start()
    hanging = BackgroundServer(make_app(data, cors=True, hook=make_hook(mode))).start()
    extra = ["--allow-private-addresses"] if "--allow-private-addresses" in subprocess.run(
        [sys.executable, "-m", "generator", "build", "--help"], capture_output=True, text=True).stdout else []
    try:
        cache = work / "cache"
        shutil.rmtree(cache, ignore_errors=True)
        night = run_build(write_csvs(work / "csv", server.url, rows, tonight=False), work / "site-1", cache, extra)
        print("previous night:", night, check(work / "site-1", server.url), flush=True)
        mode["flaky"] = "bad"
        csv = write_csvs(work / "csv", server.url, rows, tonight=True, hang_base=hanging.url)
        tonight = run_build(csv, work / "site-2", cache, extra)
        result = {**tonight, **check(work / "site-2", server.url)}
        print("tonight (hostile mix):", json.dumps(result, indent=2), flush=True)
        bars = {
            "exit 0": result["exit"] == 0,
            "peak RSS < 1 GiB": result["peak_rss_mib"] < 1024,
            "wall time < 5 min": result["seconds"] < 300,
            "healthy all ok with thumbnails": result["healthy_ok_with_thumbnail"] == f"{HEALTHY + 1}/{HEALTHY + 1}",
            "flaky kept (stale, thumbnail)": result["flaky_kept_stale_with_thumbnail"] == f"{FLAKY}/{FLAKY}",
        }
        for k, v in bars.items():
            print(f"  {'PASS' if v else 'FAIL'}  {k}")
    finally:
        server.stop()
        hanging.stop()


if __name__ == "__main__":
    main()
