"""Harvest against a real aiohttp server serving OME-Zarr that zarr-python writes."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import zarr

from generator.dev import samples
from generator.fetch.http import Fetcher
from generator.harvest.dataset import harvest, harvest_one
from generator.harvest.omexml import parse_ome_xml_series
from generator.harvest.parse import HarvestProblem
from generator.harvest.rocrate import parse_rocrate
from generator.history import decide_status
from generator.records import Dataset, Entry, Listing
from generator.sources.columns import Listed, dataset_from_entry, parse_listed
from generator.validate import validate

from .conftest import StaticServer, start_static_server

RED = samples.ChannelSpec("DAPI", "FF0000", 10, 900)
GREEN = samples.ChannelSpec("GFP", "00FF00", 20, 800, active=False)


def entry(url: str, **columns: str) -> Entry:
    return Entry(url=url, source="test", collection="c.csv", listings=(Listing("c.csv", 2, "test", "c.csv"),), columns=columns)


def judged(ds: Dataset) -> Dataset:
    """A harvested record as the build driver finishes it: validated, its status decided."""
    checked = ds.with_findings(validate(ds))
    return dataclasses.replace(checked, status=decide_status(checked))


def add_stats(image: Path, written: dict[str, int]) -> None:
    """What the challenge converter left in each array's attributes."""
    for path, n in written.items():
        arr = zarr.open_array(str(image / path), mode="r+")
        arr.attrs.update({"_ome2024_ngff_challenge_stats": {"input": "", "output": "", "read": n * 2, "written": n, "threads": 4}})


def edit_json(path: Path, fn) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def www(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("www")
    img = samples.gradient((2, 512, 384))
    samples.write_image(root / "v05.zarr", img, version="0.5", channels=[RED, GREEN], pixel_size=[1, 0.25, 0.25], name="five")
    samples.write_image(root / "sharded.zarr", img, version="0.5", chunks=(1, 64, 64), shards=(1, 128, 128))
    samples.write_image(root / "v04" / "a.zarr", img, version="0.4", levels=4, chunks=(1, 128, 128))
    for name in ("b.zarr", "c.zarr"):
        shutil.copytree(root / "v04" / "a.zarr", root / "v04" / name)
    samples.write_image(root / "labelled.zarr", samples.gradient((64, 64)), axes="yx", version="0.5", labels={"cells": (samples.gradient((64, 64), "uint8") > 100).astype("uint8")})
    samples.write_plate(root / "plate04.zarr", version="0.4", fields=2)
    samples.write_plate(root / "plate05.zarr", version="0.5", wells=[("A", "1"), ("B", "3")])
    series = [samples.gradient((1, 1, 1, 32, 48)), samples.gradient((1, 1, 1, 16, 16))]
    samples.write_bioformats2raw(root / "bf_series.zarr", series)
    samples.write_bioformats2raw(root / "bf_xml.zarr", series, series_list=False)
    samples.write_bioformats2raw(root / "bf_csv.zarr", series, series_list=False, ome_xml=False)
    samples.write_image(root / "stats.zarr", samples.gradient((64, 64)), axes="yx", version="0.5")
    add_stats(root / "stats.zarr", {"0": 5000, "1": 1200, "2": 300})
    samples.write_rocrate(root / "v05.zarr", name="Crated name", license="https://creativecommons.org/licenses/by/4.0/", organism=("NCBI:txid9606", "Homo sapiens"), modality=("obo:FBbi_00000246", "fluorescence microscopy"))
    # Broken ones.
    (root / "badjson.zarr").mkdir()
    (root / "badjson.zarr" / "zarr.json").write_text('{"zarr_format": 3,, }')
    zarr.open_group(str(root / "notome.zarr"), mode="w", zarr_format=3).attrs.update({"hello": "world"})
    samples.write_image(root / "noaxes.zarr", samples.gradient((32, 32)), axes="yx", version="0.5")
    edit_json(root / "noaxes.zarr" / "zarr.json", lambda d: d["attributes"]["ome"]["multiscales"][0].pop("axes"))
    samples.write_image(root / "hostile.zarr", samples.gradient((32, 32)), axes="yx", version="0.5")
    edit_json(root / "hostile.zarr" / "0" / "zarr.json", lambda d: d.update(shape=[-5, 10**30]))
    return root


@pytest.fixture(scope="module")
def server(www: Path) -> Iterator[StaticServer]:
    srv, info = start_static_server(www)
    yield info
    srv.stop()


def requests_for(server: StaticServer, prefix: str) -> list[str]:
    return [p for p in server.log.paths() if p.startswith(f"/{prefix}/") and not p.endswith("ro-crate-metadata.json")]


async def test_v05_image_with_rocrate_channels_and_few_requests(server: StaticServer) -> None:
    server.log.clear()
    async with Fetcher(allow_private_addresses=True) as f:
        ds = await harvest_one(entry(server.url_for("v05.zarr"), description="from the CSV", name="csv name"), f)
    assert decide_status(ds) == "ok", ds.errors
    assert (ds.kind, ds.zarr_format, ds.ngff_version, ds.image_path) == ("image", 3, "0.5", "")
    assert [(a.name, a.type, a.unit) for a in ds.axes] == [("c", "channel", None), ("y", "space", "micrometer"), ("x", "space", "micrometer")]
    assert ds.shape == (2, 512, 384) and ds.level0.dtype == "uint16"
    assert [lv.shape for lv in ds.resolutions] == [(2, 512, 384), (2, 256, 192), (2, 128, 96)]
    # Every level's array document was read (issue 11: real shapes, not inferred ones).
    assert [lv.inferred for lv in ds.resolutions] == [False, False, False]
    assert ds.resolutions[1].metadata["shape"] == [2, 256, 192]
    assert ds.physical_sizes == {"y": 0.25, "x": 0.25}
    assert [(c.label, c.color, c.window_start, c.window_end, c.active) for c in ds.channels] == [("DAPI", "FF0000", 10, 900, True), ("GFP", "00FF00", 20, 800, False)]
    assert ds.uncompressed_bytes == 2 * (2 * 512 * 384 + 2 * 256 * 192 + 2 * 128 * 96)
    # The reviewed CSV's name wins (issue 11); RO-Crate facts beat the other CSV columns.
    assert ds.name == "csv name" and ds.license == "https://creativecommons.org/licenses/by/4.0/"
    assert ds.organism.id == "NCBITaxon:9606" and ds.organism.label == "Homo sapiens"  # normalised CURIE
    assert ds.modality.id == "FBbi:00000246" and ds.modality.label
    assert ds.description == "from the CSV"
    assert ds.cors is True and ds.written_bytes is None
    assert (ds.source, ds.collection, ds.listings[0].line) == ("test", "c.csv", 2)
    assert ds.documents.image["version"] == "0.5" and "multiscales" in ds.documents.image
    # The group, each level, and the labels group (absent): requests grow with the levels only.
    assert len(requests_for(server, "v05.zarr")) == 2 + len(ds.resolutions)


async def test_sharded_levels(server: StaticServer) -> None:
    async with Fetcher(allow_private_addresses=True) as f:
        ds = await harvest_one(entry(server.url_for("sharded.zarr")), f)
    lv = ds.level0
    assert lv.chunks == (1, 64, 64) and lv.shards == (1, 128, 128)
    assert lv.codecs[0] == "sharding_indexed" and "bytes" in lv.codecs
    assert ds.name == "sharded.zarr"  # no crate, no multiscales name, no CSV: the URL's last segment


async def test_v04_collection_pays_the_format_probe_once(server: StaticServer) -> None:
    server.log.clear()
    async with Fetcher(allow_private_addresses=True) as f:
        out = await harvest([entry(server.url_for(f"v04/{n}.zarr")) for n in "abc"], f)
    assert [decide_status(d) for d in out] == ["ok"] * 3
    for ds in out:
        assert (ds.kind, ds.zarr_format, ds.ngff_version) == ("image", 2, "0.4")
        assert ds.level0.chunks == (1, 128, 128) and ds.level0.shards is None and ds.level0.codecs == ("blosc",)
        assert ds.level0.metadata["zarr_format"] == 2
        assert len(ds.resolutions) == 4
    counts = sorted(len(requests_for(server, f"v04/{n}.zarr")) for n in "abc")
    # The group, its 4 levels and the labels group (issue 11: every level read); the first dataset also probed zarr.json.
    assert counts[-1] <= 7 and counts[:2] == [6, 6]
    assert sum(p.endswith("zarr.json") for p in server.log.paths()) == 1


async def test_a_format_the_state_knows_is_asked_first(server: StaticServer) -> None:
    """The driver passes the format a dataset had at the last build: no probe, no waiting on neighbours."""
    url = server.url_for("v04/b.zarr")
    server.log.clear()
    async with Fetcher(allow_private_addresses=True) as f:
        cold = await harvest([entry(url)], f)
    assert [p.rsplit("/", 1)[-1] for p in requests_for(server, "v04/b.zarr")][:2] == ["zarr.json", ".zattrs"]
    server.log.clear()
    async with Fetcher(allow_private_addresses=True) as f:
        warm = await harvest([entry(url)], f, known_formats={url: 2})
    paths = requests_for(server, "v04/b.zarr")
    assert paths[0].endswith("/.zattrs") and not any(p.endswith("zarr.json") for p in paths)
    assert warm == cold and warm[0].zarr_format == 2


async def test_plate_montage_facts_are_harvested_for_the_thumbnail_stage(server: StaticServer) -> None:
    async with Fetcher(allow_private_addresses=True) as f:
        with_montage = await harvest_one(entry(server.url_for("plate04.zarr")), f)
        server.log.clear()
        without = await harvest_one(entry(server.url_for("plate04.zarr")), f, thumbnails=False)
    plate = with_montage.plate
    lowest = with_montage.resolutions[-1].path
    # Every well's first field, at its lowest level, with that level's array document.
    assert [m.path for m in plate.montage] == list(plate.field_paths) and len(plate.montage) == plate.wells == 6
    assert all(m.level_path == lowest and m.metadata["shape"] == [2, 32, 32] for m in plate.montage)
    other_fields = [p for p in server.log.paths() if p.endswith(f"/{lowest}/.zarray") and "/A/1/0/" not in p]
    assert without.plate.montage == () and other_fields == []
    # Internal: the build state keeps it, catalog.json does not.
    assert len(with_montage.to_dict(internal=True)["plate"]["montage"]) == 6
    assert "montage" not in with_montage.to_dict()["plate"]
    assert dataclasses.replace(with_montage, plate=dataclasses.replace(plate, montage=())) == without


async def test_plates(server: StaticServer) -> None:
    async with Fetcher(allow_private_addresses=True) as f:
        p4, p5 = await harvest([entry(server.url_for("plate04.zarr")), entry(server.url_for("plate05.zarr"))], f)
    assert (p4.kind, p4.ngff_version, p4.zarr_format) == ("plate", "0.4", 2)
    assert (p4.plate.rows, p4.plate.columns, p4.plate.wells, p4.plate.fields) == (2, 3, 6, 2)
    assert p4.image_path == "A/1/0" and p4.plate.field_paths[-1] == "B/3/0"
    assert p4.shape == (2, 64, 64)
    assert p4.uncompressed_bytes == (2 * 64 * 64 + 2 * 32 * 32) * 6 * 2
    assert (p5.kind, p5.ngff_version, p5.zarr_format) == ("plate", "0.5", 3)
    assert (p5.plate.rows, p5.plate.columns, p5.plate.wells, p5.plate.fields) == (2, 3, 2, 1)
    assert p5.plate.well_paths == ("A/1", "B/3") and p5.plate.row_names == ("A", "B")
    assert judged(p4).status == "ok" and judged(p5).status == "ok"


@pytest.mark.parametrize("name, columns, series", [("bf_series", {}, ("0", "1")), ("bf_xml", {}, ("0", "1")), ("bf_csv", {"series0": "1"}, ("1",))])
async def test_bioformats2raw(server: StaticServer, name: str, columns: dict, series: tuple) -> None:
    async with Fetcher(allow_private_addresses=True) as f:
        ds = await harvest_one(entry(server.url_for(f"{name}.zarr"), **columns), f)
    assert decide_status(ds) == "ok", ds.errors
    assert ds.kind == "bioformats2raw" and ds.series == series
    assert ds.image_path == series[0]
    assert ds.shape == ((1, 1, 1, 32, 48) if series[0] == "0" else (1, 1, 1, 16, 16))
    assert judged(ds).errors == ()


def test_ome_xml_refuses_entities() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><OME><Image/></OME>'
    with pytest.raises(HarvestProblem, match="DTD or entities"):
        parse_ome_xml_series(bomb)
    assert parse_ome_xml_series(b'<OME xmlns="x"><Image ID="a"/><Image ID="b"/><Plate/></OME>') == ("0", "1")


async def test_labels(server: StaticServer) -> None:
    async with Fetcher(allow_private_addresses=True) as f:
        group, label = await harvest([entry(server.url_for("labelled.zarr/labels")), entry(server.url_for("labelled.zarr/labels/cells"))], f)
    assert group.kind == "labels" and group.labels == ("cells",) and group.image_path == "cells"
    assert group.shape == (64, 64) and group.level0.dtype == "uint8"
    assert label.kind == "labels" and "image-label" in label.documents.image
    assert judged(group).status == "ok" and judged(label).status == "ok"


async def test_written_bytes_from_challenge_stats(server: StaticServer) -> None:
    async with Fetcher(allow_private_addresses=True) as f:
        measured = await harvest_one(entry(server.url_for("stats.zarr")), f)
        from_csv = await harvest_one(entry(server.url_for("stats.zarr"), written="417816396.00000006"), f)
        nothing = await harvest_one(entry(server.url_for("sharded.zarr")), f)
    assert measured.written_bytes == 5000 + 1200 + 300
    assert from_csv.written_bytes == 417816396
    assert nothing.written_bytes is None


async def test_cors_false(tmp_path: Path) -> None:
    samples.write_image(tmp_path / "img.zarr", samples.gradient((32, 32)), axes="yx", version="0.5")
    srv, info = start_static_server(tmp_path, cors=False)
    try:
        async with Fetcher(allow_private_addresses=True) as f:
            ds = await harvest_one(entry(info.url_for("img.zarr")), f)
    finally:
        srv.stop()
    assert decide_status(ds) == "ok" and ds.cors is False
    assert any("CORS" in w for w in judged(ds).warnings)


async def test_broken_datasets_get_clear_errors_and_the_rest_harvests(server: StaticServer) -> None:
    names = ["missing.zarr", "badjson.zarr", "notome.zarr", "noaxes.zarr", "hostile.zarr", "v05.zarr"]
    async with Fetcher(allow_private_addresses=True) as f:
        out = {d.url.rsplit("/", 1)[-1]: judged(d) for d in await harvest([entry(server.url_for(n)) for n in names], f)}
    assert out["missing.zarr"].status == "unreachable"
    assert "not found" in out["missing.zarr"].errors[0] and "HTTP 404" in out["missing.zarr"].errors[0]
    assert out["badjson.zarr"].status == "invalid"
    assert out["badjson.zarr"].errors[0].startswith("zarr.json: invalid JSON at line 1 column 19")
    assert out["notome.zarr"].errors[0] == "no OME-NGFF metadata: zarr.json has no 'ome' attribute"
    assert out["noaxes.zarr"].status == "invalid" and out["noaxes.zarr"].errors.count("multiscales[0].axes: missing (required)") == 1
    assert any("multiscales[0].axes: missing (required)" in e for e in out["noaxes.zarr"].errors)
    assert out["hostile.zarr"].status == "invalid" and "out of range" in out["hostile.zarr"].errors[-1]
    assert out["v05.zarr"].status == "ok"


def test_dataset_from_entry_uses_csv_columns_only() -> None:
    e = entry(
        "https://example.org/idr0004/P170.ome.zarr",
        written="417816396.00000006", shape="2,10,510,672", shards="2,10,510,672", chunks="1,1,510,672",
        dimension_names="c,z,y,x", license="CC-BY-4.0", name="", description="yeast", organismId="NCBI:txid4932",
        fbbiId="obo:FBbi_00000246", wells="90", images="180", origin="https://idr.openmicroscopy.org",
    )
    ds = dataset_from_entry(e)
    assert ds.kind == "plate" and ds.status == "ok"
    assert ds.written_bytes == 417816396
    assert ds.shape == (2, 10, 510, 672) and ds.level0.chunks == (1, 1, 510, 672) and ds.level0.shards == (2, 10, 510, 672)
    assert [a.name for a in ds.axes] == ["c", "z", "y", "x"]
    assert ds.plate.wells == 90 and ds.plate.fields == 2
    assert ds.organism.id == "NCBITaxon:4932" and ds.modality.id == "FBbi:00000246"
    assert ds.name == "P170.ome.zarr" and ds.description == "yeast" and ds.license == "CC-BY-4.0"
    bare = dataset_from_entry(entry("https://example.org/x.zarr", written="n/a", shape="a,b"))
    assert bare.kind == "unknown" and bare.written_bytes is None and bare.shape is None


async def test_what_the_listing_says_fills_in_only_where_the_data_is_silent(server: StaticServer) -> None:
    columns = dict(name="Listed name", license="CC0-1.0", origin="https://example.org", shape="9,9", written="123", organismId="NCBI:txid9606")
    async with Fetcher(allow_private_addresses=True) as f:
        read, missing = await harvest([entry(server.url_for("v05.zarr"), **columns), entry(server.url_for("missing.zarr"), **columns)], f)
    # Read: the reviewed CSV's name wins (issue 11), then the data's facts (crate license, measured shape); the rest comes from the listing.
    assert (read.name, read.license, read.shape) == ("Listed name", "https://creativecommons.org/licenses/by/4.0/", (2, 512, 384))
    assert (read.origin, read.written_bytes) == ("https://example.org", 123) and read.reached
    # Not reached: the listing's descriptive facts, but no array facts nothing confirmed.
    assert (missing.name, missing.license, missing.origin, missing.written_bytes) == ("Listed name", "CC0-1.0", "https://example.org", 123)
    assert (missing.kind, missing.shape, missing.documents, missing.reached) == ("unknown", None, None, False)
    assert missing.organism.id == "NCBITaxon:9606" and "not found" in missing.errors[0]
    # Harvest reports; only the driver's decide_status turns that into a status.
    assert (decide_status(read), decide_status(missing)) == ("ok", "unreachable")


def test_parse_listed_reads_each_column_once() -> None:
    listed = parse_listed({"name": " Dataset name ", "shape": "1,2,3", "chunks": "1,2", "shards": "1,2,3", "series0": " s/0 ", "wells": "4", "images": "8"})
    assert listed.name is None  # a template placeholder says nothing
    assert (listed.shape, listed.chunks, listed.shards) == ((1, 2, 3), None, (1, 2, 3))  # chunks of another rank are dropped
    assert (listed.series0, listed.kind, listed.plate.fields) == ("s/0", "plate", 2)
    assert parse_listed({}) == Listed()


def test_template_placeholders_and_zero_sizes_count_as_absent() -> None:
    # As in the challenge's other_samples.csv: the converter's defaults, and IDR's "0, 0.00 B".
    ds = dataset_from_entry(entry(
        "https://livingobjects.ebi.ac.uk/idr/share/ome2024-ngff-challenge/0.0.5/6001240.zarr",
        written="0", written_human_readable="0.00 B", name="dataset name", description="Dataset Description ",
    ))
    assert ds.name == "6001240.zarr" and ds.description is None and ds.written_bytes is None
    kept = dataset_from_entry(entry("https://example.org/a.zarr", name="Dataset name 7", description="name tag study"))
    assert kept.name == "Dataset name 7" and kept.description == "name tag study"  # only whole placeholders
    crate = {"@graph": [{"@id": "./", "@type": "Dataset", "name": "dataset name", "description": "Mouse cortex"}]}
    assert parse_rocrate(crate) == {"description": "Mouse cortex"}


# ------------------------------------------------------------------ the shared corpus


@pytest.fixture(scope="module")
def corpus_server() -> Iterator[StaticServer]:
    from .conftest import CORPUS

    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    srv, info = start_static_server(CORPUS)
    yield info
    srv.stop()


async def test_challenge_testdata(corpus: Path, corpus_server: StaticServer) -> None:
    base = "challenge-testdata"
    async with Fetcher(allow_private_addresses=True) as f:
        two_d, bf, hcs = await harvest([entry(corpus_server.url_for(f"{base}/{n}.zarr")) for n in ("2d", "bf2raw", "hcs")], f)
    for ds in (two_d, bf, hcs):
        assert ds.ngff_version == "0.4" and ds.zarr_format == 2
        assert judged(ds).status == "ok", judged(ds).errors
    assert two_d.kind == "image" and two_d.shape == (1, 3, 1, 64, 64) and len(two_d.channels) == 3
    assert bf.kind == "bioformats2raw" and bf.series == ("0", "1") and bf.image_path == "0" and bf.shape == (1, 1, 1, 8, 8)
    assert hcs.kind == "plate" and hcs.image_path == "A/1/0"
    assert (hcs.plate.rows, hcs.plate.columns, hcs.plate.wells, hcs.plate.fields) == (2, 2, 4, 2)
    assert hcs.uncompressed_bytes == int(np.prod(hcs.shape)) * 1 * 4 * 2


async def test_validator_samples_are_invalid(corpus: Path, corpus_server: StaticServer) -> None:
    names = sorted(p.name for p in (corpus / "validator-test-samples" / "invalid").iterdir())
    assert names
    async with Fetcher(allow_private_addresses=True) as f:
        out = [judged(d) for d in await harvest([entry(corpus_server.url_for(f"validator-test-samples/invalid/{n}")) for n in names], f)]
    by_name = dict(zip(names, out))
    for name, ds in by_name.items():
        assert ds.status == "invalid", (name, ds.errors)
        assert ds.errors and all(isinstance(e, str) and e for e in ds.errors)
    assert "omero.channels[0].window: missing 'min', 'max' (required)" in by_name["missing_min.zarr"].errors
    assert any(e.startswith("unrecognised NGFF version 'abc123': not a version of the spec (the catalog knows 0.1, ")
               for e in by_name["invalid_version.zarr"].errors)
    assert any(e.startswith("no NGFF version") for e in by_name["no_version_v0.4.zarr"].errors)
    assert by_name["no_version_v0.5.zarr"].errors[0].startswith("no OME-NGFF metadata")
