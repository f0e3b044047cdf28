"""The offline demo: real OME-Zarr written with zarr-python, served on 127.0.0.1.

``ngff-catalog demo`` writes the datasets below, serves them over HTTP like
an institution would, lists them in nested submission CSVs and builds the
catalog from those, so every stage runs for real with no internet.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from generator.dev.samples import (
    ChannelSpec,
    gradient,
    write_bioformats2raw,
    write_image,
    write_plate,
    write_rocrate,
)

CC_BY = "https://creativecommons.org/licenses/by/4.0/"
DEMO_VERSION = "1"  # bump when the demo data changes, so old copies are rewritten


def _cells(shape: tuple[int, int], n: int, seed: int) -> np.ndarray:
    """Blob-like 'nuclei' on a dim background: something worth a thumbnail."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros(shape, dtype=np.float32)
    for _ in range(n):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(min(h, w) / 40, min(h, w) / 14)
        out += np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)))
    out += 0.05 * rng.random(shape)
    return out / out.max()


def _label_ids(mask: np.ndarray) -> np.ndarray:
    """Give each 128-pixel tile of a mask its own id: a cheap stand-in for segmentation."""
    yy, xx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    return (mask * (1 + yy // 128 * 4 + xx // 128)).astype("uint8")


def write_demo_data(root: Path) -> dict[str, list[str]]:
    """Write the demo datasets under ``root``; returns collection -> relative paths."""
    root.mkdir(parents=True, exist_ok=True)
    marker = root / ".demo-version"
    light, hcs = ["light/nuclei-actin.ome.zarr", "light/rgb-histology.zarr", "light/embryo-3d.zarr", "light/segmented.zarr"], []
    hcs = ["screens/plate-0.5.ome.zarr", "screens/plate-0.4.ome.zarr", "screens/bioformats2raw.zarr"]
    broken = ["screens/missing-axes.zarr", "screens/not-there.zarr"]
    if marker.is_file() and marker.read_text() == DEMO_VERSION:
        return {"light": light, "screens": hcs + broken}

    # 0.5, sharded, two channels with omero colours and an RO-Crate.
    nuclei = _cells((768, 1024), 60, 1)
    actin = _cells((768, 1024), 25, 2)
    data = (np.stack([nuclei, actin]) * 40000).astype("uint16")
    p = write_image(
        root / light[0], data, axes="cyx", version="0.5", levels=4, chunks=(1, 256, 256), shards=(1, 512, 512),
        channels=[ChannelSpec("DAPI", "0000FF", 0, 40000), ChannelSpec("Phalloidin", "00FF00", 0, 30000)],
        pixel_size=(1.0, 0.325, 0.325), name="HeLa nuclei and actin",
    )
    write_rocrate(
        p, name="HeLa nuclei and actin", description="Widefield image of HeLa cells stained for DNA and F-actin.",
        license=CC_BY, organism=("NCBI:txid9606", "Homo sapiens"), modality=("obo:FBbi_00000246", "widefield microscopy"),
    )
    # 0.4, unsharded, RGB uint8.
    rgb = np.stack([_cells((600, 800), 30, s) for s in (3, 4, 5)])
    write_image(
        root / light[1], (rgb * 255).astype("uint8"), axes="cyx", version="0.4", levels=3, chunks=(1, 256, 256),
        channels=[ChannelSpec("R", "FF0000", 0, 255), ChannelSpec("G", "00FF00", 0, 255), ChannelSpec("B", "0000FF", 0, 255)],
        name="RGB histology",
    )
    # 0.5, 3D float32 with anisotropic voxels.
    vol = np.stack([_cells((256, 256), 20, 10 + z) for z in range(16)]).astype("float32")
    write_image(
        root / light[2], vol[None], axes="tzyx", version="0.5", levels=2, chunks=(1, 4, 128, 128),
        pixel_size=(1.0, 2.0, 0.5, 0.5), name="Embryo volume",
    )
    # 0.4 image with a label image.
    seg = _cells((512, 512), 15, 7)
    write_image(
        root / light[3], (seg[None] * 1000).astype("uint16"), axes="cyx", version="0.4", levels=3, chunks=(1, 256, 256),
        labels={"nuclei": _label_ids(seg > 0.5)[None]},
        name="Segmented nuclei",
    )
    write_plate(root / hcs[0], version="0.5", rows=("A", "B", "C"), columns=("1", "2", "3", "4"),
                wells=[("A", "1"), ("A", "2"), ("A", "4"), ("B", "1"), ("B", "3"), ("C", "2"), ("C", "4")],
                field_shape=(1, 128, 128), name="Demo screen plate 1")
    write_plate(root / hcs[1], version="0.4", rows=("A", "B"), columns=("1", "2", "3"), fields=2,
                field_shape=(1, 96, 96), name="Demo screen plate 2")
    write_bioformats2raw(root / hcs[2], [gradient((1, 1, 1, 256, 320)), gradient((1, 1, 1, 128, 128), seed=2)],
                         axes="tczyx", version="0.4", levels=2)
    # A dataset whose metadata is broken, to show what the report says.
    bad = root / broken[0]
    bad.mkdir(parents=True, exist_ok=True)
    (bad / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    (bad / ".zattrs").write_text(json.dumps({"multiscales": [{"version": "0.4", "datasets": [{"path": "0"}]}]}))
    marker.write_text(DEMO_VERSION)
    return {"light": light, "screens": hcs + broken}


def write_demo_csvs(root: Path, data_url: str, collections: dict[str, list[str]]) -> Path:
    """Nested submission CSVs: a root listing one child CSV per collection."""
    root.mkdir(parents=True, exist_ok=True)
    lines = ["source,url"]
    for name, paths in collections.items():
        child = root / f"{name}.csv"
        rows = ["url,license"] + [f"{data_url}/{p},{CC_BY}" for p in paths]
        child.write_text("\n".join(rows) + "\n", encoding="utf-8")
        lines.append(f"Demo Institute,{child.name}")
    submissions = root / "submissions.csv"
    submissions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return submissions
