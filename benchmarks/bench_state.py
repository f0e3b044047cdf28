"""What the build state costs per dataset: commit-as-you-go SQLite in WAL mode.

Simulates one build of N datasets against the state: for each dataset, 4
conditional-GET validator look-ups and writes (zarr.json / .zattrs-sized JSON
bodies), one merge with history and one save; then a warm rebuild that reads
all of it back. Every write is its own committed transaction, as in a real build.

    python benchmarks/bench_state.py [--datasets 2000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from generator.history import merge_with_history
from generator.records import Axis, Dataset, Level, Thumbnail
from generator.state import State

DOCS = ("zarr.json", "0/zarr.json", "1/zarr.json", "ro-crate-metadata.json")


def make_dataset(i: int) -> Dataset:
    meta = {"zarr_format": 3, "node_type": "array", "shape": [1, 2, 64, 2048, 2048], "data_type": "uint16",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1, 1, 1, 1024, 1024]}}}
    return Dataset(
        url=f"https://data.example.org/set/{i}.ome.zarr",
        kind="image", status="ok", ngff_version="0.5", zarr_format=3, name=f"Image {i}",
        axes=tuple(Axis(n, t) for n, t in zip("tczyx", ("time", "channel", "space", "space", "space"))),
        resolutions=tuple(Level(str(k), (1, 2, 64, 2048 >> k, 2048 >> k), "uint16", metadata=meta) for k in range(5)),
        thumbnail=Thumbnail(f"k{i:08d}", f"thumbnails/k{i:08d}-256.webp", None, 256, 256),
    )


def one_build(cache: Path, n: int, now: datetime, warm: bool) -> float:
    body = json.dumps({"attributes": {"ome": {"version": "0.5", "multiscales": [{"datasets": [
        {"path": str(k), "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 1, 0.1 * 2**k, 0.1 * 2**k]}]}
        for k in range(5)]}]}}}).encode() * 4
    t0 = time.perf_counter()
    with State(cache) as st:
        for i in range(n):
            ds = make_dataset(i)
            for doc in DOCS:
                url = f"{ds.url}/{doc}"
                cached = st.get_validators(url)
                assert (cached is not None) == warm
                if not warm:
                    st.put_validators(url, f'"{i}-{doc}"', "Mon, 05 Jan 2026 10:00:00 GMT", body)
            merged, _ = merge_with_history(ds, st.get_dataset(ds.url), now, 30)
            st.save_dataset(merged, now.isoformat())
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", type=int, default=2000)
    args = ap.parse_args()
    now = datetime(2026, 1, 10, tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        cold = one_build(cache, args.datasets, now, warm=False)
        warm = one_build(cache, args.datasets, now + timedelta(days=1), warm=True)
        size = (cache / "state.sqlite").stat().st_size
    n = args.datasets
    print(f"datasets={n} cold={cold:.2f}s ({cold / n * 1e3:.2f} ms/dataset, {len(DOCS)} validator writes + 1 save each)")
    print(f"warm={warm:.2f}s ({warm / n * 1e3:.2f} ms/dataset) state.sqlite={size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
