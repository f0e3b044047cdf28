"""Catalogs for the site tests, screenshots and benchmarks: varied and hostile Dataset records.

The thumbnails are real WebP files written with Pillow into ``out/thumbnails``,
as the thumbnail stage would leave them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image

from generator.records import (
    Axis,
    Catalog,
    Channel,
    Dataset,
    Level,
    Listing,
    Plate,
    RowError,
    Term,
    Thumbnail,
)

PAYLOADS = (
    '<img src=x onerror="window.__pwned=1">',
    '"><script>window.__pwned=1</script>',
    "javascript:window.__pwned=1",
    "</script><svg onload=window.__pwned=1>",
)
HOSTILE = " ".join(PAYLOADS)


def write_thumbnail(out: Path, key: str, seed: int, size: tuple[int, int] = (256, 256)) -> Thumbnail:
    """A real WebP card (and detail) thumbnail: a smooth coloured blob pattern."""
    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for _ in range(6):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(12, 48)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        img += blob[..., None] * rng.uniform(0.2, 1.0, 3)
    img = np.clip(img / max(img.max(), 1e-6) * 255, 0, 255).astype(np.uint8)
    folder = out / "thumbnails"
    folder.mkdir(parents=True, exist_ok=True)
    card = f"thumbnails/{key}-256.webp"
    detail = f"thumbnails/{key}-1024.webp"
    pil = Image.fromarray(img)
    pil.save(out / card, "WEBP", quality=70)
    pil.resize((w * 2, h * 2)).save(out / detail, "WEBP", quality=70)
    return Thumbnail(key=key, card=card, detail=detail, width=w, height=h)


def _levels(shape: tuple[int, ...], axes: str, *, chunks: tuple[int, ...], shards: tuple[int, ...] | None,
            zarr_format: int, n: int = 3) -> tuple[Level, ...]:
    out = []
    for i in range(n):
        f = 2**i
        s = tuple(max(1, v // f) if a in "yx" else v for v, a in zip(shape, axes))
        out.append(Level(
            path=str(i), shape=s, dtype="uint16",
            chunks=tuple(min(c, v) for c, v in zip(chunks, s)),
            shards=tuple(min(c, v) for c, v in zip(shards, s)) if shards else None,
            codecs=("bytes", "zstd") if zarr_format == 3 else ("blosc",),
            scale=tuple(float(f) if a in "yx" else 1.0 for a in axes),
        ))
    return tuple(out)


def make_dataset(i: int, *, source: str, collection: str, out: Path | None = None, **kw) -> Dataset:
    axes = kw.pop("axes", "czyx")
    shape = kw.pop("shape", (2, 10, 512, 640))
    version = kw.pop("ngff_version", "0.5")
    zf = 3 if (version or "").startswith("0.5") else 2
    sharded = kw.pop("sharded", False)
    chunks = tuple(1 if a in "tcz" else 256 for a in axes)
    shards = tuple(1 if a in "tc" else (v if a == "z" else 512) for a, v in zip(axes, shape)) if sharded else None
    url = kw.pop("url", f"https://data.{source.lower().replace(' ', '')}.example.org/{collection}/ds{i:03d}.ome.zarr")
    thumb = write_thumbnail(out, f"k{i:04d}", i) if out is not None and kw.pop("thumb", True) else None
    kw.pop("thumb", None)
    base = dict(
        url=url,
        source=source,
        collection=collection,
        listings=(Listing(file=f"{source.lower().replace(' ', '_')}.csv", line=i + 2, source=source, collection=collection),),
        kind="image",
        status="ok",
        ngff_version=version,
        zarr_format=zf,
        name=f"Sample {i:03d}",
        description=f"Test dataset {i} of {collection}",
        license="https://creativecommons.org/licenses/by/4.0/",
        origin=f"https://www.example.org/show/{i}",
        organism=Term("NCBI:txid9606", "Homo sapiens"),
        modality=Term("obo:FBbi_00000246", "fluorescence microscopy"),
        axes=tuple(Axis(a, {"t": "time", "c": "channel"}.get(a, "space"), {"t": "second", "c": None}.get(a, "micrometer")) for a in axes),
        resolutions=_levels(shape, axes, chunks=chunks, shards=shards, zarr_format=zf),
        physical_sizes={a: 0.5 for a in axes if a in "zyx"},
        channels=(Channel("DAPI", "0000FF", 0, 1500), Channel("GFP", "00FF00", 100, 3000)),
        uncompressed_bytes=int(np.prod(shape)) * 2,
        written_bytes=int(np.prod(shape)) // 2,
        cors=True,
        thumbnail=thumb,
        first_seen="2025-01-01T00:00:00Z",
        last_ok="2025-06-01T00:00:00Z",
    )
    base.update(kw)
    return Dataset(**base)


def make_catalog(out: Path, *, thumbnails: bool = True) -> Catalog:
    """Varied: 3 sources, 5 collections, kinds, versions, sharding, organisms, failing states, a plate."""
    o = out if thumbnails else None
    ds = [
        make_dataset(0, source="IDR", collection="idr0004", out=o, name="Yeast Rad52 foci plate P170", kind="plate",
                     organism=Term("NCBI:txid4932", "Saccharomyces cerevisiae"), ngff_version="0.4",
                     plate=Plate(rows=8, columns=12, wells=3, fields=2, row_names=tuple("ABCDEFGH"),
                                 column_names=tuple(str(c) for c in range(1, 13)),
                                 well_paths=("A/1", "B/3", "H/12"), field_paths=("A/1/0",)),
                     image_path="A/1/0"),
        make_dataset(1, source="IDR", collection="idr0004", out=o, name="Yeast Rad52 foci plate P171", kind="plate",
                     organism=Term("NCBI:txid4932", "Saccharomyces cerevisiae"), ngff_version="0.4",
                     plate=Plate(rows=8, columns=12, wells=96, fields=1)),
        make_dataset(2, source="IDR", collection="idr0010", out=o, name="Mitotic chromosome condensation HeLa",
                     axes="tczyx", shape=(40, 3, 20, 1024, 1024), sharded=True),
        make_dataset(3, source="IDR", collection="idr0010", out=o, name="Zebrafish embryo lightsheet",
                     organism=Term("NCBI:txid7955", "Danio rerio"),
                     modality=Term("obo:FBbi_00000369", "light sheet fluorescence microscopy"),
                     axes="zyx", shape=(300, 2048, 2048), sharded=True, status="invalid",
                     errors=("multiscales: axes must have 2 to 5 entries",)),
        make_dataset(4, source="BioImage Archive", collection="S-BIAD1", out=o, name="Mouse brain cortex EM",
                     organism=Term("NCBI:txid10090", "Mus musculus"),
                     modality=Term("obo:FBbi_00000258", "electron microscopy"),
                     axes="zyx", shape=(128, 4096, 4096), license="CC0-1.0", sharded=True),
        make_dataset(5, source="BioImage Archive", collection="S-BIAD1", out=o, name="Arabidopsis root tip",
                     organism=Term("NCBI:txid3702", None), axes="yx", shape=(2048, 3072), status="stale",
                     errors=("HTTP 503 from data host",), cors=False),
        make_dataset(6, source="BioImage Archive", collection="S-BIAD2", out=o, name="Tissue microarray H&E",
                     axes="cyx", shape=(3, 10000, 12000), ngff_version="0.4", cors=False),
        make_dataset(7, source="JAX", collection="brains", out=o, name="Whole mouse brain cleared",
                     organism=Term("NCBI:txid10090", "Mus musculus"), axes="czyx", shape=(4, 900, 8000, 6000),
                     sharded=True, license="https://opensource.org/license/mit"),
        make_dataset(8, source="JAX", collection="brains", out=o, name="Unreachable brain", status="unreachable",
                     errors=("HTTP 404: zarr.json not found",), axes="", shape=(), thumb=False,
                     ngff_version=None, written_bytes=None, uncompressed_bytes=None),
        make_dataset(9, source="JAX", collection="brains", out=None, name="Brain without thumbnail",
                     axes="tzyx", shape=(5, 64, 512, 512), kind="bioformats2raw", series=("0", "1")),
    ]
    # Nothing harvested beyond the URL: attributes default to unknown.
    ds[8] = dataclasses.replace(ds[8], axes=(), resolutions=(), channels=(), physical_sizes={}, kind="unknown", zarr_format=None)
    return Catalog(
        generated_at="2025-06-01T12:00:00Z",
        datasets=tuple(ds),
        row_errors=(RowError(file="jax.csv", line=7, message="not an http(s) URL: ftp://x"),),
        gone=(),
        csv_files=("submissions.csv", "idr.csv", "bia.csv", "jax.csv"),
        title="OME-Zarr catalog",
    )


def make_hostile_catalog(out: Path) -> Catalog:
    """Every text field carries script and event-handler payloads."""
    h = HOSTILE
    thumb = write_thumbnail(out, "hostile", 99)
    d = Dataset(
        url=f"https://evil.example.org/{'<b>'}x.zarr?q=\"><script>window.__pwned=1</script>&a=<img src=x onerror=window.__pwned=1>",
        source=f"Src {h}",
        collection=f"Col {h}",
        listings=(Listing(file=f"f{h}.csv", line=3, source=f"Src {h}", collection=f"Col {h}"),),
        kind="plate",
        status="invalid",
        errors=(f"error {h}",),
        warnings=(f"warning {h}",),
        ngff_version=f"0.5{PAYLOADS[0]}",
        zarr_format=3,
        name=f"Name {h}",
        description=f"Description {h}",
        license=f"javascript:window.__pwned=1 {h}",
        origin="javascript:alert(1)",
        organism=Term(f"NCBI:{h}", f"Organism {h}"),
        modality=Term(f"obo:{h}", f"Modality {h}"),
        axes=(Axis(f"x{PAYLOADS[0]}", "space", f"unit{PAYLOADS[1]}"), Axis("y", "space", "micrometer")),
        resolutions=(Level(path=f"0{PAYLOADS[1]}", shape=(64, 64), dtype=f"u2{PAYLOADS[0]}", chunks=(64, 64),
                           codecs=(f"codec{PAYLOADS[0]}",)),),
        physical_sizes={"y": 1.0},
        channels=(Channel(f"chan {h}", "FF0000\"onload=\"window.__pwned=1", 0, 1), Channel(f"c2 {h}", "00FF00", 0, 1)),
        plate=Plate(rows=2, columns=2, wells=1, fields=1, row_names=(f"A{PAYLOADS[0]}", "B"),
                    column_names=("1", f"2{PAYLOADS[1]}"), well_paths=(f"A{PAYLOADS[0]}/1",)),
        rocrate={"name": f"crate {h}", "license": {"@id": h}},
        cors=False,
        thumbnail=thumb,
    )
    second = Dataset(
        url="https://ok.example.org/fine.zarr",
        source=f"Src {h}", collection="plain", name="Plain neighbour", kind="image",
        origin="JAVASCRIPT:window.__pwned=1", license="data:text/html,<script>window.__pwned=1</script>",
    )
    return Catalog(
        generated_at="2025-06-01T12:00:00Z",
        datasets=(d, second),
        row_errors=(RowError(file=f"root{h}.csv", line=2, message=f"bad row {h}", url=f"javascript:{h}"),),
        gone=(dataclasses.replace(second, url="https://gone.example.org/x.zarr", errors=(f"gone {h}",), status="unreachable"),),
        csv_files=(f"root{h}.csv",),
        title=f"Catalog {PAYLOADS[0]}",
    )


def shown_text(locator) -> str:
    """An element's text as a visitor sees it. Cards are ``content-visibility: auto``:
    a card just (re)inserted has no rendered text (``innerText`` is empty) until the
    next rendering update finds it on screen, so two frames pass first."""
    locator.page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    return locator.inner_text()
