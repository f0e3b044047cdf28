"""harvest.montage: the plate fields a thumbnail montage draws, read at harvest with the fewest requests."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from generator.config import ThumbnailConfig
from generator.dev.samples import write_plate
from generator.fetch.http import Fetcher
from generator.harvest.dataset import harvest_one
from generator.harvest.montage import get_montage
from generator.harvest.reader import FormatMemory, Reader
from generator.records import Dataset, Entry, FieldImage
from generator.thumbnails.make import make_thumbnails

CONFIG = ThumbnailConfig(workers=1)


def harvest(url: str) -> Dataset:
    async def run() -> Dataset:
        async with Fetcher(allow_private_addresses=True) as f:
            return await harvest_one(Entry(url=url, source="t", collection="t", listings=()), f)

    return asyncio.run(run())


def thumbs(d: Dataset, out: Path) -> Dataset:
    async def run() -> list[Dataset]:
        async with Fetcher(allow_private_addresses=True) as f:
            return await make_thumbnails([d], f, out, CONFIG)

    return asyncio.run(run())[0]


def under(paths: list[str], prefix: str) -> list[str]:
    return [p for p in paths if p.startswith(prefix)]


@pytest.mark.parametrize("version, array_doc", [("0.5", "zarr.json"), ("0.4", ".zarray")])
def test_each_further_field_costs_one_document(static_server, tmp_path: Path, version: str, array_doc: str) -> None:
    write_plate(static_server.root / "p.zarr", version=version, rows=("A", "B"), columns=("1", "2"), field_shape=(1, 64, 64))
    d = harvest(f"{static_server.url}/p.zarr")
    assert d.status == "ok", d.errors
    paths = static_server.log.paths()
    # The plan had harvest read the first field's lowest level (no level reaches a card): no second read.
    assert under(paths, "/p.zarr/A/1/0/1/") == [f"/p.zarr/A/1/0/1/{array_doc}"]
    group_doc = "zarr.json" if version == "0.5" else ".zattrs"
    for well in ("A/2", "B/1", "B/2"):
        # The well and its field's group are read for the plate's checks (issue 11); the montage adds one document.
        assert sorted(under(paths, f"/p.zarr/{well}/")) == sorted(
            [f"/p.zarr/{well}/{group_doc}", f"/p.zarr/{well}/0/{group_doc}", f"/p.zarr/{well}/0/1/{array_doc}"]
        )
    montage = d.plate.montage
    assert [f.path for f in montage] == ["A/1/0", "A/2/0", "B/1/0", "B/2/0"]
    assert {f.level_path for f in montage} == {"1"}
    assert all(f.metadata["shape"] == [1, 32, 32] for f in montage)
    assert montage[0].metadata is d.resolutions[-1].metadata
    # Internal: in the build state's record, not in catalog.json.
    assert "montage" not in d.to_dict()["plate"]
    assert Dataset.from_dict(json.loads(json.dumps(d.to_dict(internal=True)))).plate.montage == montage


def test_get_montage_reads_the_first_field_too_when_its_document_is_missing(static_server) -> None:
    write_plate(static_server.root / "p.zarr", version="0.5", rows=("A",), columns=("1", "2"), field_shape=(1, 64, 64))
    d = harvest(f"{static_server.url}/p.zarr")
    levels = (*d.resolutions[:-1], dataclasses.replace(d.resolutions[-1], metadata=None, inferred=True))
    static_server.log.clear()

    async def run() -> tuple[FieldImage, ...]:
        async with Fetcher(allow_private_addresses=True) as f:
            reader = Reader(d.url, f, FormatMemory())
            await reader.root()
            return await get_montage(reader, d.plate, levels)

    montage = asyncio.run(run())
    assert montage == d.plate.montage
    # The root document (for the format), then one array document per field, the first one included.
    assert sorted(static_server.log.paths()) == ["/p.zarr/A/1/0/1/zarr.json", "/p.zarr/A/2/0/1/zarr.json", "/p.zarr/zarr.json"]

    async def none() -> tuple[FieldImage, ...]:
        async with Fetcher(allow_private_addresses=True) as f:
            return await get_montage(Reader(d.url, f, FormatMemory()), d.plate, ())

    assert asyncio.run(none()) == ()


def test_a_field_with_another_layout_is_found_through_its_group(static_server, tmp_path: Path) -> None:
    root = static_server.root / "p.zarr"
    write_plate(root, version="0.5", rows=("A", "B"), columns=("1", "2"), field_shape=(1, 64, 64))
    field = root / "B" / "1" / "0"
    (field / "1").rename(field / "low")
    doc = json.loads((field / "zarr.json").read_text())
    doc["attributes"]["ome"]["multiscales"][0]["datasets"][-1]["path"] = "low"
    (field / "zarr.json").write_text(json.dumps(doc))
    d = harvest(f"{static_server.url}/p.zarr")
    # The well and its field's group (read for the plate's checks, issue 11), then the montage's reads.
    assert sorted(under(static_server.log.paths(), "/p.zarr/B/1/")) == sorted([
        "/p.zarr/B/1/zarr.json",
        "/p.zarr/B/1/0/zarr.json",
        "/p.zarr/B/1/0/1/zarr.json",  # not found: this field's pyramid differs
        "/p.zarr/B/1/0/zarr.json",
        "/p.zarr/B/1/0/low/zarr.json",
    ])
    assert [(f.path, f.level_path) for f in d.plate.montage] == [("A/1/0", "1"), ("A/2/0", "1"), ("B/1/0", "low"), ("B/2/0", "1")]
    out = thumbs(d, tmp_path / "site")
    assert out.thumbnail is not None and out.warnings == (), out.warnings


def test_an_unreadable_field_is_left_out_and_its_well_left_blank(static_server, tmp_path: Path) -> None:
    root = static_server.root / "p.zarr"
    write_plate(root, version="0.5", rows=("A", "B"), columns=("1", "2"), field_shape=(1, 64, 64))
    shutil.rmtree(root / "A" / "2" / "0")
    d = harvest(f"{static_server.url}/p.zarr")
    assert d.status == "ok", d.errors
    assert [f.path for f in d.plate.montage] == ["A/1/0", "B/1/0", "B/2/0"]
    static_server.log.clear()
    out = thumbs(d, tmp_path / "site")
    assert out.thumbnail is not None
    assert out.warnings == ("thumbnail: 1 of 4 wells could not be opened and are left blank",)
    assert not [p for p in static_server.log.paths() if p.endswith(("zarr.json", ".zarray", ".zattrs"))]


def test_a_plate_record_without_field_documents_is_skipped_without_a_request(static_server, tmp_path: Path) -> None:
    write_plate(static_server.root / "p.zarr", version="0.5", rows=("A",), columns=("1", "2"), field_shape=(1, 64, 64))
    d = harvest(f"{static_server.url}/p.zarr")
    old = dataclasses.replace(d, plate=dataclasses.replace(d.plate, montage=()))  # as stored before montages were kept
    static_server.log.clear()
    out = thumbs(old, tmp_path / "site")
    assert out.thumbnail is None
    assert out.warnings == (
        "thumbnail skipped: none of the plate's 2 wells could be opened (the record holds no field's array document)",
    )
    assert static_server.log.entries == []
