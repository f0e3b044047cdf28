"""Cold vs warm rebuild: N image datasets served locally with added latency.

The warm build shares the cold build's cache and nothing changed on the
host, so it should send conditional requests (304s), render no thumbnail,
and take at most 0.2x the cold build's time.

    python benchmarks/bench_rebuild.py --datasets 2000 --latency 0.02
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.build import build  # noqa: E402
from generator.config import BuildConfig  # noqa: E402
from generator.dev.samples import ChannelSpec, gradient, write_image
from generator.dev.server import BackgroundServer, RequestLog, make_app
from generator.progress import Progress  # noqa: E402
from generator.write import write_build  # noqa: E402


def write_datasets(root: Path, n: int) -> list[str]:
    """A few real templates written by zarr-python, copied to n distinct datasets."""
    templates = []
    specs = [
        dict(data=gradient((2, 512, 512)), version="0.5", chunks=(1, 256, 256), shards=(1, 512, 512),
             channels=[ChannelSpec("a", "FF0000", 0, 50000), ChannelSpec("b", "00FF00", 0, 50000)]),
        dict(data=gradient((1, 384, 512), "uint8"), version="0.4", chunks=(1, 256, 256)),
        dict(data=gradient((3, 300, 400), "uint8"), version="0.5", chunks=(1, 128, 128)),
        dict(data=gradient((1, 4, 256, 256), "float32")[0], version="0.4", chunks=(1, 128, 128)),
    ]
    for i, spec in enumerate(specs):
        data = spec.pop("data")
        path = root / f"template-{i}.zarr"
        write_image(path, data, axes="cyx" if data.ndim == 3 else "zyx", levels=3, **spec)
        templates.append(path)
    rels = []
    for i in range(n):
        rel = f"ds/{i:05d}.zarr"
        shutil.copytree(templates[i % len(templates)], root / rel)
        rels.append(rel)
    return rels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", type=int, default=2000)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        rels = write_datasets(tmp_path / "www", args.datasets)
        log = RequestLog()
        server = BackgroundServer(make_app(tmp_path / "www", latency=args.latency, log=log)).start()
        try:
            csv = tmp_path / "submissions.csv"
            csv.write_text("url\n" + "\n".join(f"{server.url}/{r}" for r in rels) + "\n")
            config = BuildConfig(
                source=str(csv), out=tmp_path / "site", cache=tmp_path / "cache",
                concurrency=args.concurrency, per_host=args.concurrency, verbose=-1,
                allow_private_addresses=True,
            )
            results = {}
            for label in ("cold", "warm"):
                log.clear()
                t0 = time.perf_counter()
                result = write_build(asyncio.run(build(config, progress=Progress(verbosity=-1))), config)
                seconds = time.perf_counter() - t0
                statuses = [e[3] for e in log.entries]
                results[label] = seconds
                print(
                    f"{label}: {seconds:.1f} s, {len(log.entries)} requests "
                    f"({statuses.count(304)} x 304, {statuses.count(200)} x 200, {statuses.count(206)} x 206), "
                    f"thumbnails rendered {result.thumbnails_rendered}, "
                    f"status {sorted({d.status for d in result.catalog.datasets})}"
                )
            print(f"warm / cold = {results['warm'] / results['cold']:.3f} (target <= 0.2)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
