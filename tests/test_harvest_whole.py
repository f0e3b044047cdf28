"""Harvest reads the whole dataset within a budget (issue 11): every level, labels, every series, a plate's well sample.

Datasets are written by zarr-python and served by the local aiohttp server;
some are then broken on disk the way real ones are.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from generator.dev import samples
from generator.fetch.http import Fetcher
from generator.harvest.dataset import harvest_one
from generator.harvest.plates import get_well_sample
from generator.history import decide_status
from generator.records import Dataset, Entry, Listing
from generator.site.dataset_view import get_facts, get_plate_map
from generator.site.exports import get_csv_row
from generator.validate import validate

from .conftest import StaticServer


def harvest(url: str, **kw) -> Dataset:  # type: ignore[no-untyped-def]
    columns = kw.pop("columns", {})
    e = Entry(url=url, source="t", collection="c.csv", listings=(Listing("c.csv", 2, "t", "c.csv"),), columns=columns)

    async def run() -> Dataset:
        async with Fetcher(allow_private_addresses=True) as f:
            return await harvest_one(e, f, **kw)

    d = asyncio.run(run())
    checked = d.with_findings(validate(d))
    return dataclasses.replace(checked, status=decide_status(checked))


def edit_json(path: Path, fn) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def image(root: Path, rel: str, version: str = "0.5", **kw) -> Path:  # type: ignore[no-untyped-def]
    return samples.write_image(root / rel, samples.gradient((2, 256, 192)), version=version, levels=4, **kw)


def test_every_level_is_read_with_its_real_shape(static_server: StaticServer) -> None:
    path = image(static_server.root, "round.zarr")
    # A writer that rounds down: level 3 is 31 x 24 where the scales say 32 x 24.
    edit_json(path / "3" / "zarr.json", lambda d: d.update(shape=[2, 31, 24]))
    d = harvest(static_server.url_for("round.zarr"))
    assert d.status == "ok", d.errors
    assert [lv.shape for lv in d.resolutions] == [(2, 256, 192), (2, 128, 96), (2, 64, 48), (2, 31, 24)]
    assert not any(lv.inferred for lv in d.resolutions)
    assert set(d.documents.arrays) == {"0", "1", "2", "3"} and d.documents.arrays["3"]["shape"] == [2, 31, 24]
    # Serialised in the build state, never in catalog.json.
    assert "arrays" not in json.dumps(d.to_dict())
    again = Dataset.from_dict(json.loads(json.dumps(d.to_dict(internal=True))))
    assert again.documents.arrays == d.documents.arrays


def test_requests_grow_with_levels_only(static_server: StaticServer) -> None:
    for levels in (2, 5):
        samples.write_image(static_server.root / f"l{levels}.zarr", samples.gradient((1, 512, 512)), levels=levels)
        static_server.log.clear()
        d = harvest(static_server.url_for(f"l{levels}.zarr"))
        asked = [p for p in static_server.log.paths() if not p.endswith("ro-crate-metadata.json")]
        # The group, each level, and the (absent) labels group.
        assert len(asked) == levels + 2 and len(d.resolutions) == levels, asked


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_a_missing_level_array_is_an_error(static_server: StaticServer, version: str) -> None:
    path = image(static_server.root, f"miss{version}.zarr", version=version)
    shutil.rmtree(path / "2")
    d = harvest(static_server.url_for(f"miss{version}.zarr"))
    doc = "zarr.json" if version == "0.5" else ".zarray"
    assert d.status == "invalid"
    assert f"level '2': no array at 2/{doc} (the multiscales lists it, the store does not have it)" in d.errors
    assert [lv.path for lv in d.resolutions] == ["0", "1", "3"]
    assert d.documents.arrays["2"] is None


def test_a_level_of_another_dtype_or_ndim_is_an_error(static_server: StaticServer) -> None:
    path = image(static_server.root, "mixed.zarr")
    edit_json(path / "1" / "zarr.json", lambda d: d.update(data_type="float32"))
    edit_json(path / "2" / "zarr.json", lambda d: d.update(shape=[64, 48], dimension_names=["y", "x"],
                                                          chunk_grid={"name": "regular", "configuration": {"chunk_shape": [64, 48]}}))
    d = harvest(static_server.url_for("mixed.zarr"))
    assert d.status == "invalid"
    assert "level '1': data type float32, but level '0' has uint16" in d.errors
    assert "level '2': 2 dimensions, but level '0' has 3" in d.errors
    # Worded as validate words them: each is on the record once.
    assert len([e for e in d.errors if e.startswith("level '1': data type")]) == 1


def test_a_growing_shape_is_an_error(static_server: StaticServer) -> None:
    path = image(static_server.root, "grow.zarr")
    edit_json(path / "2" / "zarr.json", lambda d: d.update(shape=[2, 256, 48]))
    d = harvest(static_server.url_for("grow.zarr"))
    assert d.status == "invalid"
    assert any(e.startswith("level '2': shape [2, 256, 48] is larger than the shape [2, 128, 96] of level '1'") for e in d.errors), d.errors


def test_dimension_names_that_disagree_with_the_axes(static_server: StaticServer) -> None:
    path = image(static_server.root, "dims.zarr")
    edit_json(path / "1" / "zarr.json", lambda d: d.update(dimension_names=["c", "x", "y"]))
    d = harvest(static_server.url_for("dims.zarr"))
    assert "level '1': dimension_names ['c', 'x', 'y'] do not match the axes ['c', 'y', 'x']" in d.errors


def test_a_v2_level_carries_its_dimension_separator(static_server: StaticServer) -> None:
    path = image(static_server.root, "sep.zarr", version="0.4")
    edit_json(path / "1" / ".zarray", lambda d: d.update(dimension_separator="."))
    d = harvest(static_server.url_for("sep.zarr"))
    assert [lv.dimension_separator for lv in d.resolutions] == ["/", ".", "/", "/"]


def test_a_04_labels_group_is_found_without_consolidated_metadata(static_server: StaticServer) -> None:
    mask = np.zeros((1, 128, 96), dtype="uint8")
    mask[0, 10:40, 10:40] = 1
    mask[0, 60:90, 20:50] = 2
    samples.write_image(static_server.root / "lab.zarr", samples.gradient((1, 128, 96)), version="0.4", labels={"coins": mask, "cells": mask})
    edit_json(static_server.root / "lab.zarr" / "labels" / "cells" / ".zattrs",
              lambda d: d["image-label"].update(properties=[{"label-value": 1, "area": 900}, {"label-value": 2, "area": 900}]))
    d = harvest(static_server.url_for("lab.zarr"))
    assert d.status == "ok", d.errors
    assert d.labels == ("coins", "cells")
    coins, cells = d.label_images
    assert coins.name == "coins" and [(c.label_value, c.rgba) for c in coins.colors] == [(1, (37, 91, 173, 255)), (2, (74, 182, 90, 255))]
    assert [dict(p) for p in cells.properties] == [{"label-value": 1, "area": 900}, {"label-value": 2, "area": 900}]
    assert Dataset.from_dict(json.loads(json.dumps(d.to_dict(internal=True)))).label_images == d.label_images


def test_a_listed_label_that_is_missing_is_an_error(static_server: StaticServer) -> None:
    mask = np.ones((1, 64, 64), dtype="uint8")
    samples.write_image(static_server.root / "gone.zarr", samples.gradient((1, 64, 64)), version="0.5", labels={"a": mask})
    edit_json(static_server.root / "gone.zarr" / "labels" / "zarr.json", lambda d: d["attributes"]["ome"].update(labels=["a", "b"]))
    d = harvest(static_server.url_for("gone.zarr"))
    assert [x.name for x in d.label_images] == ["a"]
    assert any(e.startswith("labels: label image 'b' does not resolve") for e in d.errors), d.errors


def test_every_series_of_a_bioformats2raw_container_is_read_and_summed(static_server: StaticServer) -> None:
    a, b = samples.gradient((1, 1, 1, 64, 64), "uint16"), samples.gradient((1, 1, 1, 128, 96), "uint8")
    samples.write_bioformats2raw(static_server.root / "bf.zarr", [a, b], levels=2)
    d = harvest(static_server.url_for("bf.zarr"))
    assert d.status == "ok", d.errors
    assert d.series == ("0", "1") and d.series_read == 2
    one = (64 * 64 + 32 * 32) * 2
    two = 128 * 96 + 64 * 48
    assert d.uncompressed_bytes == one + two
    assert d.shape == (1, 1, 1, 64, 64)  # the facts describe the first series
    assert ("Series", "0, 1 (2 read; sizes sum over those)") in get_facts(d)


def test_a_broken_series_is_named(static_server: StaticServer) -> None:
    a = samples.gradient((1, 1, 1, 64, 64), "uint16")
    samples.write_bioformats2raw(static_server.root / "bf2.zarr", [a, a], levels=2)
    shutil.rmtree(static_server.root / "bf2.zarr" / "1" / "1")
    d = harvest(static_server.url_for("bf2.zarr"))
    assert d.status == "invalid"
    assert "series '1': level '1': no array at 1/1/.zarray (the multiscales lists it, the store does not have it)" in d.errors


def test_the_csv_name_wins_over_a_file_name_in_the_multiscales(static_server: StaticServer) -> None:
    image(static_server.root, "kidney_nuclei_00.ome.zarr", name="kidney_nuclei_00.ome.zarr")
    image(static_server.root, "named.zarr", name="Kidney, whole mount")
    url = static_server.url_for("kidney_nuclei_00.ome.zarr")
    listed = harvest(url, columns={"name": "Kidney nuclei 00"})
    assert listed.name == "Kidney nuclei 00"
    assert get_csv_row(listed)["name"] == "Kidney nuclei 00"
    # Without a CSV name a file name is no better than the URL; a real multiscales name is.
    assert harvest(url).name == "kidney_nuclei_00.ome.zarr"
    samples.write_rocrate(static_server.root / "named.zarr", name="From the crate")
    assert harvest(static_server.url_for("named.zarr")).name == "From the crate"
    (static_server.root / "named.zarr" / "ro-crate-metadata.json").unlink()
    assert harvest(static_server.url_for("named.zarr")).name == "Kidney, whole mount"


def test_well_samples_are_spread_and_deterministic() -> None:
    assert get_well_sample(384, 24) == get_well_sample(384, 24)
    picks = get_well_sample(384, 24)
    assert len(picks) == 24 and picks[0] == 0 and picks[-1] == 383
    assert get_well_sample(6, None) == tuple(range(6)) == get_well_sample(6, 24)
    assert get_well_sample(10, 1) == (0,)
    assert all(len(get_well_sample(n, k)) == min(n, k) for n in range(1, 60) for k in range(1, 30))


def test_a_missing_well_and_a_field_without_multiscales(static_server: StaticServer) -> None:
    root = samples.write_plate(static_server.root / "p.zarr", rows=("A", "B"), columns=("1", "2", "3"), field_shape=(1, 32, 32))
    shutil.rmtree(root / "B" / "2")
    edit_json(root / "A" / "3" / "0" / "zarr.json", lambda d: d["attributes"]["ome"].pop("multiscales"))
    d = harvest(static_server.url_for("p.zarr"), plate_wells=None)
    assert d.status == "invalid"
    assert "plate.wells: well 'B/2' does not resolve (no B/2/zarr.json)" in d.errors
    assert "well.images: field 'A/3/0' has no 'multiscales' metadata (A/3/0/zarr.json)" in d.errors
    assert d.shape == (1, 32, 32)


def test_an_uneven_plate_counts_the_fields_it_read(static_server: StaticServer) -> None:
    root = samples.write_plate(static_server.root / "u.zarr", rows=("A", "B"), columns=("1", "2", "3"), fields=3, field_shape=(1, 32, 32))
    edit_json(root / "zarr.json", lambda d: d["attributes"]["ome"]["plate"].pop("field_count"))
    for well in ("A/2", "B/1", "B/3"):  # these wells hold one field, the others three
        edit_json(root / well / "zarr.json", lambda d: d["attributes"]["ome"]["well"].update(images=d["attributes"]["ome"]["well"]["images"][:1]))
    whole = harvest(static_server.url_for("u.zarr"), plate_wells=None)
    assert whole.status == "ok", whole.errors
    p = whole.plate
    assert (p.wells, p.wells_read, p.fields, p.field_total, p.estimated) == (6, 6, 3, 12, False)
    per_field = 32 * 32 + 16 * 16
    assert whole.uncompressed_bytes == 12 * per_field
    # Fields are picked at rotating positions: well k reads field k mod n.
    read = sorted(x for x in static_server.log.paths() if x.count("/") == 5 and x.endswith("/zarr.json"))
    assert "/u.zarr/A/3/2/zarr.json" in read and "/u.zarr/B/2/1/zarr.json" in read
    sample = harvest(static_server.url_for("u.zarr"), plate_wells=2)
    s = sample.plate
    # Wells A/1 (3 fields) and B/3 (1 field) read: 4 fields over 2 wells, extrapolated to 6.
    assert (s.wells_read, s.field_total, s.estimated) == (2, 12, True)
    assert get_plate_map(s).read == "Checked 2 of 6 wells, one field image each; 12 field images in all (estimated from the wells checked)."
    assert json.loads(json.dumps(sample.to_dict()))["plate"]["estimated"] is True


def test_the_dataset_page_says_what_was_read(static_server: StaticServer) -> None:
    from generator.records import Catalog
    from generator.site.dataset_view import get_dataset_page
    from generator.site.pages import get_chrome, make_environment

    samples.write_plate(static_server.root / "q.zarr", rows=("A", "B"), columns=("1", "2", "3"), field_shape=(1, 32, 32))
    d = harvest(static_server.url_for("q.zarr"), plate_wells=3)
    catalog = Catalog(generated_at="2026-01-01T00:00:00Z", datasets=(d,))
    env = make_environment()
    chrome = get_chrome(env, root="../../", title=catalog.title, generated_at=catalog.generated_at)
    html = env.get_template("dataset.html").render(page=get_dataset_page(d, catalog), chrome=chrome)
    assert "Checked 3 of 6 wells, one field image each; 6 field images in all (estimated from the wells checked)." in html


def test_the_validators_missing_min_sample_has_its_labels_found(static_server: StaticServer, corpus: Path) -> None:
    sample = corpus / "validator-test-samples" / "invalid" / "missing_min.zarr"
    if not sample.is_dir():
        pytest.skip("validator-test-samples/invalid/missing_min.zarr is not in the corpus")
    shutil.copytree(sample, static_server.root / "missing_min.zarr")
    d = harvest(static_server.url_for("missing_min.zarr"))
    assert d.labels == ("coins",)
    (coins,) = d.label_images
    assert coins.has_multiscales and coins.colors[0].label_value == 1 and coins.colors[0].rgba == (208, 116, 230, 84)
