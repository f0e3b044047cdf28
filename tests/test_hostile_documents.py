"""Hostile documents that balloon memory: XML bombs, giant plate grids, huge attribute blocks.

Each builds against a real local server with a good dataset beside the
hostile one (ok, with its thumbnail); helpers live in ``test_hostile_text``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from generator.dev.samples import (
    ChannelSpec,
    gradient,
    write_bioformats2raw,
    write_image,
    write_plate,
)
from generator.harvest.omexml import MAX_XML_BYTES, parse_ome_xml_series
from generator.harvest.parse import MAX_KEPT_ATTRIBUTES, HarvestProblem
from generator.harvest.plates import MAX_PLATE_GRID, parse_plate

from .conftest import Host
from .test_hostile_text import (
    assert_good,
    edit_json,
    page_of,
    run_build,
    write_good,
)

# ---------------------------------------------------------------- OME-XML

LAUGHS = (
    b'<!DOCTYPE OME [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9))
    + b"]>"
)


def xml_bomb(comment_bytes: int) -> bytes:
    """A DTD hidden after a long comment (past any look at the document's head), then entities."""
    return b'<?xml version="1.0"?><!--' + b"x" * comment_bytes + b"-->" + LAUGHS + b"<OME><Image>&j;</Image></OME>"


def test_ome_xml_dtd_anywhere_is_refused() -> None:
    with pytest.raises(HarvestProblem, match=r"^OME/METADATA\.ome\.xml: refused: the document has a DTD or entities"):
        parse_ome_xml_series(xml_bomb(2_000_000))
    with pytest.raises(HarvestProblem, match=r"more than the 16 MiB read"):
        parse_ome_xml_series(b"<OME>" + b" " * MAX_XML_BYTES + b"</OME>")
    many = b"<OME>" + b'<Image ID="i"><Pixels/></Image>' * 3 + b"<Plate/></OME>"
    assert parse_ome_xml_series(many) == ("0", "1", "2")


def test_xml_bomb_after_a_15_mb_comment_is_refused_in_a_build(host: Host, www: Path, tmp_path: Path) -> None:
    write_good(www)
    series = [gradient((1, 1, 1, 32, 48), "uint8"), gradient((1, 1, 1, 16, 16), "uint8")]
    write_bioformats2raw(www / "bomb.zarr", series, series_list=False)
    (www / "bomb.zarr" / "OME" / "METADATA.ome.xml").write_bytes(xml_bomb(15 * 1024 * 1024))
    good, bomb = host.url("good.zarr"), host.url("bomb.zarr")

    datasets = run_build(tmp_path, [good, bomb])

    assert_good(tmp_path, datasets, good)
    d = datasets[bomb]
    assert d["status"] == "ok" and d["series"] == ["0"], "falls back to the first series"
    assert any(w.startswith("OME/METADATA.ome.xml: refused: the document has a DTD or entities") for w in d["warnings"])
    assert d["thumbnail"]


# ---------------------------------------------------------------- plates


def test_plate_grid_cap() -> None:
    def plate(rows: int, cols: int, wells: list[str]) -> dict:
        return {"plate": {"rows": [{"name": f"R{i}"} for i in range(rows)], "columns": [{"name": str(i)} for i in range(cols)],
                          "wells": [{"path": w} for w in wells]}}

    assert parse_plate(plate(32, 48, ["R0/0"])).rows == 32  # a 1536-well plate
    with pytest.raises(HarvestProblem, match=r"^plate: 200 rows x 200 columns is a grid of 40000 wells, more than the 16384 supported"):
        parse_plate(plate(200, 200, ["R0/0"]))
    with pytest.raises(HarvestProblem, match=r"^plate\.rows: 20000 names is more than"):
        parse_plate(plate(20_000, 1, ["R0/0"]))
    # No names: the grid derived from the well paths is capped too.
    diagonal = [f"R{i}/{i}" for i in range(200)]
    with pytest.raises(HarvestProblem, match=r"^plate: 200 rows x 200 columns"):
        parse_plate({"plate": {"wells": [{"path": w} for w in diagonal]}})
    with pytest.raises(HarvestProblem, match=rf"^plate\.wells: {MAX_PLATE_GRID + 1} wells is more than the {MAX_PLATE_GRID} supported"):
        parse_plate(plate(1, 1, ["R0/0"] * (MAX_PLATE_GRID + 1)))


def test_plate_with_2500_by_2500_names_is_an_error_with_a_small_page(host: Host, www: Path, tmp_path: Path) -> None:
    write_good(www)
    write_plate(www / "ok-plate.zarr", version="0.5", rows=("A", "B"), columns=("1", "2"))
    rows, cols = [f"R{i}" for i in range(2500)], [str(i) for i in range(2500)]
    write_plate(www / "huge.zarr", version="0.5", rows=rows, columns=cols, wells=[("R0", "0")], field_shape=(1, 16, 16))
    good, ok_plate, huge = host.url("good.zarr"), host.url("ok-plate.zarr"), host.url("huge.zarr")

    datasets = run_build(tmp_path, [good, ok_plate, huge])

    assert_good(tmp_path, datasets, good)
    assert_good(tmp_path, datasets, ok_plate)
    d = datasets[huge]
    assert d["status"] == "invalid"
    assert "plate: 2500 rows x 2500 columns is a grid of 6250000 wells, more than the 16384 supported (a 1536-well plate is 32 x 48)" in d["errors"]
    assert len(page_of(tmp_path, d)) < 200_000, "the dataset page stays small"


# ---------------------------------------------------------------- kept attributes


def big_omero(n_bytes: int) -> dict:
    label = "x" * 1000
    return {"channels": [{"label": f"{label}{i}", "color": "FF0000", "window": {"start": 0, "end": 255}} for i in range(n_bytes // 1070)]}


def test_huge_omero_blocks_are_not_kept_in_records_or_state(host: Host, www: Path, tmp_path: Path) -> None:
    write_good(www)
    write_image(www / "fine.zarr", gradient((2, 64, 64), "uint8"), version="0.5", channels=[ChannelSpec("DAPI", "0000FF", 0, 200), ChannelSpec("GFP", "00FF00", 0, 200)])
    bulky = [f"bulky{i}.zarr" for i in range(3)]
    for name in bulky:
        write_image(www / name, gradient((1, 64, 64), "uint8"), version="0.5")
        edit_json(www / name / "zarr.json", lambda d: d["attributes"]["ome"].update(omero=big_omero(3 * 1024 * 1024)))
        # The level-0 array document carries a bulky block too.
        edit_json(www / name / "0" / "zarr.json", lambda d: d["attributes"].update(junk=["y" * 1000] * 3000))
    urls = [host.url(n) for n in ("good.zarr", "fine.zarr", *bulky)]

    datasets = run_build(tmp_path, urls)

    assert_good(tmp_path, datasets, urls[0])
    assert_good(tmp_path, datasets, urls[1])
    assert [c["label"] for c in datasets[urls[1]]["channels"]] == ["DAPI", "GFP"]
    for url in urls[2:]:
        d = datasets[url]
        assert d["status"] == "invalid"
        assert any(
            e.startswith("attributes: 3.0 MiB of OME metadata is more than the 1.0 MiB a record keeps; 'omero' (3.0 MiB) not kept")
            for e in d["errors"]
        ), d["errors"]
        assert len(d["channels"]) == 1024, "channels parsed from it stay capped"
        assert all(len(c["label"]) <= 256 for c in d["channels"])
        assert d["thumbnail"], "the image itself is still drawn"
    with sqlite3.connect(tmp_path / "cache" / "state.sqlite") as db:
        sizes = dict(db.execute("SELECT url, length(record) FROM datasets").fetchall())
    for url in urls[2:]:
        # The record keeps the capped channels (1024 x 256 characters) but no 18 MB block.
        assert sizes[url] < MAX_KEPT_ATTRIBUTES, sizes[url]
    record = json.loads(sqlite3.connect(tmp_path / "cache" / "state.sqlite").execute(
        "SELECT record FROM datasets WHERE url=?", (urls[2],)).fetchone()[0])
    assert "omero" not in record["documents"]["image"] and "multiscales" in record["documents"]["image"]
    assert "junk" not in (record["resolutions"][0]["metadata"].get("attributes") or {})
