"""Spec validation throughput: documents judged per second, without the memo.

Every document differs (its name carries its number), so nothing is reused
across documents except what ``validate`` itself caches (the compiled
schemas). Images of 0.4 and 0.5 with five levels and three omero channels,
and 0.4 plates of 96 wells: the kinds a build judges most.

    .venv/bin/python benchmarks/bench_validate.py [--n 2000]
"""

from __future__ import annotations

import argparse
import time

from generator.records import Axis, Dataset, Documents, Level
from generator.validate import validate

AXES = [{"name": "c", "type": "channel"}, {"name": "z", "type": "space"}, {"name": "y", "type": "space"}, {"name": "x", "type": "space"}]


def image(i: int, version: str) -> dict:
    datasets = [{"path": str(k), "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0, 2.0**k, 2.0**k]}]} for k in range(5)]
    multiscale = {"name": f"image {i}", "axes": AXES, "datasets": datasets}
    channels = [{"label": f"ch{c}", "color": "FF0000", "active": True, "window": {"start": 0, "end": 255, "min": 0, "max": 255}} for c in range(3)]
    ome = {"multiscales": [multiscale], "omero": {"channels": channels}}
    if version == "0.4":
        multiscale["version"] = "0.4"
        return ome
    return {"version": "0.5", **ome}


def plate(i: int) -> dict:
    rows, cols = "ABCDEFGH", range(1, 13)
    wells = [{"path": f"{r}/{c}", "rowIndex": ri, "columnIndex": ci} for ri, r in enumerate(rows) for ci, c in enumerate(cols)]
    return {"plate": {"version": "0.4", "name": f"plate {i}", "rows": [{"name": r} for r in rows],
                      "columns": [{"name": str(c)} for c in cols], "wells": wells, "field_count": 1}}


def records(n: int) -> list[Dataset]:
    out = []
    levels = tuple(Level(str(k), (3, 8, 512 >> k, 512 >> k), "uint8", metadata={"zarr_format": 2, "dimension_separator": "/"}) for k in range(5))
    axes = tuple(Axis(a["name"], a["type"]) for a in AXES)
    for i in range(n):
        kind = i % 3
        if kind == 2:
            docs = Documents(image=image(i, "0.4"), container=plate(i), container_kind="plate")
            version, zf = "0.4", 2
        else:
            version = "0.4" if kind == 0 else "0.5"
            docs, zf = Documents(image=image(i, version)), 2 if kind == 0 else 3
        out.append(Dataset(url=f"https://example.org/{i}.zarr", ngff_version=version, zarr_format=zf, documents=docs,
                           axes=axes, resolutions=levels if zf == 2 else ()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    data = records(args.n)
    validate(data[0])  # compile once, as the first dataset of a build does
    start = time.perf_counter()
    bad = sum(bool(validate(d).errors) for d in data)
    took = time.perf_counter() - start
    print(f"datasets={args.n} took={took:.2f}s ({args.n / took:.0f} datasets/s, {took / args.n * 1e3:.2f} ms each), with errors: {bad}")


if __name__ == "__main__":
    main()
