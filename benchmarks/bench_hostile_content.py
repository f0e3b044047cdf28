"""Peak memory and wall time of builds fed hostile content, at the sizes of issue 10.

Writes a good dataset plus each hostile kind with zarr-python, serves them
from this process on 127.0.0.1, and runs ``ngff-catalog build`` (with a
cache) in a child process per scenario, reading the child's peak RSS from
``os.wait4``. Reported per scenario: exit status, peak RSS, wall time, the
sizes of the state and the site, and whether the good dataset is ``ok``
with its thumbnail.

    python benchmarks/bench_hostile_content.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from generator.dev.bombs import deflate_of_zeros, zstd_bomb  # noqa: E402
from generator.dev.samples import (  # noqa: E402
    gradient,
    write_bioformats2raw,
    write_image,
    write_plate,
)
from generator.dev.server import BackgroundServer, make_app  # noqa: E402

MIB = 1024 * 1024


def edit_json(path: Path, fn) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def image_with_chunk(root: Path, name: str, codec: dict, chunk: bytes) -> str:
    write_image(root / name, gradient((256, 256), "uint8"), axes="yx", version="0.5", levels=1, chunks=(256, 256))
    edit_json(root / name / "0" / "zarr.json", lambda d: d.update(codecs=[{"name": "bytes"}, codec]))
    (root / name / "0" / "c" / "0" / "0").write_bytes(chunk)
    return name


def xml_bomb(root: Path) -> str:
    write_bioformats2raw(root / "xml.zarr", [gradient((1, 1, 1, 32, 32), "uint8")], series_list=False)
    laughs = b'<!DOCTYPE OME [<!ENTITY a "aaaaaaaaaa">' + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9)
    ) + b"]>"
    body = b'<?xml version="1.0"?><!--' + b"x" * (15 * MIB) + b"-->" + laughs + b"<OME><Image>&j;</Image></OME>"
    (root / "xml.zarr" / "OME" / "METADATA.ome.xml").write_bytes(body)
    return "xml.zarr"


def huge_plate(root: Path) -> str:
    rows, cols = [f"R{i}" for i in range(2500)], [str(i) for i in range(2500)]
    write_plate(root / "plate.zarr", version="0.5", rows=rows, columns=cols, wells=[("R0", "0")], field_shape=(1, 16, 16))
    return "plate.zarr"


def omero_blocks(root: Path, n: int = 30) -> list[str]:
    write_image(root / "omero-0.zarr", gradient((1, 64, 64), "uint8"), version="0.5")
    label = "x" * 1000
    block = {"channels": [{"label": f"{label}{i}", "color": "FF0000", "window": {"start": 0, "end": 255}} for i in range(18 * MIB // 1070)]}
    edit_json(root / "omero-0.zarr" / "zarr.json", lambda d: d["attributes"]["ome"].update(omero=block))
    for i in range(1, n):
        shutil.copytree(root / "omero-0.zarr", root / f"omero-{i}.zarr")
    return [f"omero-{i}.zarr" for i in range(n)]


def get_scenarios(root: Path) -> dict[str, list[str]]:
    zstd = {"name": "zstd", "configuration": {"level": 0, "checksum": False}}
    bomb = zstd_bomb(4 * 1024 * MIB)
    out = {
        "good only": [],
        "zstd chunk declaring 4 GiB": [image_with_chunk(root, "zstd.zarr", zstd, bomb)],
        "gzip chunk of 2 GiB of zeros": [image_with_chunk(root, "gzip.zarr", {"name": "gzip", "configuration": {"level": 5}}, deflate_of_zeros(2 * 1024 * MIB))],
        "three datasets with the zstd chunk": [image_with_chunk(root, f"zstd{i}.zarr", zstd, bomb) for i in range(3)],
        "OME-XML with a DTD after a 15 MB comment": [xml_bomb(root)],
        "plate of 2,500 x 2,500 names": [huge_plate(root)],
        "30 datasets with an 18 MB omero block": omero_blocks(root),
    }
    out["all of the above"] = sorted({n for names in out.values() for n in names})
    return out


def run(root: Path, url: str, names: list[str], work: Path) -> tuple[int, float, float, bool, float, float]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    csv = work / "submissions.csv"
    csv.write_text("url\n" + "".join(f"{url}/{n}\n" for n in ["good.zarr", *names]), encoding="utf-8")
    cmd = [sys.executable, "-m", "generator", "build", str(csv), "--out", str(work / "site"), "--cache", str(work / "cache"), "-q", "--allow-private-addresses"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=HERE.parent)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    good = False
    if (work / "site" / "catalog.json").is_file():
        doc = json.loads((work / "site" / "catalog.json").read_text())
        d = next(x for x in doc["datasets"] if x["url"].endswith("/good.zarr"))
        good = d["status"] == "ok" and bool(d["thumbnail"]) and (work / "site" / d["thumbnail"]).is_file()
    state = work / "cache" / "state.sqlite"
    state_mb = state.stat().st_size / MIB if state.is_file() else 0.0
    site_mb = sum(p.stat().st_size for p in (work / "site").rglob("*") if p.is_file()) / MIB
    return code, usage.ru_maxrss / 1024, wall, good, state_mb, site_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="scenario names (substrings) to run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
        root = Path(tmp) / "www"
        root.mkdir()
        write_image(root / "good.zarr", gradient((1, 64, 64), "uint8"), version="0.5", name="Good")
        scenarios = get_scenarios(root)
        server = BackgroundServer(make_app(root)).start()
        try:
            print(f"{'scenario':45} {'exit':>4} {'peak RSS':>10} {'wall':>7} {'state':>8} {'site':>8}  good ok+thumbnail")
            for i, (name, names) in enumerate(scenarios.items()):
                if args.only and not any(o in name for o in args.only):
                    continue
                code, rss, wall, good, state_mb, site_mb = run(root, server.url, names, Path(tmp) / f"run{i}")
                print(f"{name:45} {code:>4} {rss:>7.0f} MB {wall:>6.1f}s {state_mb:>5.1f} MB {site_mb:>5.1f} MB  {good}", flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
