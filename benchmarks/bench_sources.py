"""How fast ``sources`` reads 100,000 CSV rows, from disk and over local HTTP.

Writes a root CSV listing N child CSVs of challenge-shaped rows (12 columns,
half the URLs with spaces, 1 in 50 a duplicate of a URL in another file), then times
``get_entries`` on it: once from local paths, once through a real ``Fetcher``
and the aiohttp static server on 127.0.0.1.

    python benchmarks/bench_sources.py [--rows 100000] [--files 10]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from generator.dev.server import BackgroundServer, make_app
from generator.fetch.http import Fetcher
from generator.sources.read import get_entries

HEADER = "url,written,written_human_readable,shape,shards,chunks,dimension_names,license,name,description,organismId,fbbiId\r\n"


def write_corpus(root: Path, rows: int, files: int, base: str) -> None:
    per_file = rows // files
    for f in range(files):
        lines = [HEADER]
        for i in range(per_file):
            # Every 50th row repeats a URL of the previous file: merged, not duplicated.
            k = (f - 1) * per_file + i if f and i % 50 == 0 else f * per_file + i
            # Half the names need percent-encoding, as in the challenge's idr0157.
            name = f"image {k} (copy)" if k % 2 else f"image_{k}"
            lines.append(
                f"https://data.example.org/ngff/set{k // per_file}/{name}.ome.zarr,"
                f"{k * 1000},1 MB,\"1,2,10,512,512\",\"1,1,1,512,512\",\"1,1,1,256,256\",\"t,c,z,y,x\","
                f"https://creativecommons.org/licenses/by/4.0/,Image {k},\"A description, with a comma\","
                f"NCBI:txid9606,obo:FBbi_00000246\r\n"
            )
        (root / f"child{f}.csv").write_text("".join(lines), encoding="utf-8")
    index = "source,url\n" + "".join(f"Lab {f},{base}child{f}.csv\n" for f in range(files))
    (root / "root.csv").write_text(index, encoding="utf-8")


async def run(rows: int, files: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "local"
        local.mkdir()
        write_corpus(local, rows, files, "")
        t0, c0 = time.perf_counter(), time.process_time()
        result = await get_entries(str(local / "root.csv"), None)
        t_local, c_local = time.perf_counter() - t0, time.process_time() - c0
        listed = sum(len(e.listings) for e in result.entries)
        print(
            f"local: {listed} rows, {len(result.entries)} unique, {len(result.errors)} errors"
            f" in {t_local:.2f} s wall, {c_local:.2f} s CPU"
        )

        www = Path(tmp) / "www"
        www.mkdir()
        server = BackgroundServer(make_app(www)).start()
        try:
            write_corpus(www, rows, files, server.url + "/")
            async with Fetcher(allow_private_addresses=True) as fetcher:
                t0, c0 = time.perf_counter(), time.process_time()
                result = await get_entries(f"{server.url}/root.csv", fetcher)
                t_http, c_http = time.perf_counter() - t0, time.process_time() - c0
        finally:
            server.stop()
        listed = sum(len(e.listings) for e in result.entries)
        print(
            f"http:  {listed} rows, {len(result.entries)} unique, {len(result.errors)} errors"
            f" in {t_http:.2f} s wall, {c_http:.2f} s CPU (server in the same process)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=10)
    args = ap.parse_args()
    asyncio.run(run(args.rows, args.files))


if __name__ == "__main__":
    main()
