"""Formula injection into ``catalog.csv`` (issue 10, case 10).

A cell a spreadsheet would evaluate (it starts with ``= + - @``, a tab or a
carriage return) is written with a leading ``'``, as OWASP recommends, so the
spreadsheet shows it as text; numbers, shapes and URLs are written unchanged.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from generator.cli import run_build
from generator.config import BuildConfig
from generator.dev.samples import gradient, write_image
from generator.site.exports import CSV_COLUMNS, FORMULA_START, safe_csv_cell
from tests.conftest import start_static_server

NAME = '=HYPERLINK("https://phish.example/login","open")'
DESCRIPTION = "+1+cmd|' /C calc'!A0"
LICENSE = "@SUM(1+1)*cmd|' /C calc'!A0"
ORIGIN = "-2+3+cmd|' /C calc'!A0"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("export")
    root = tmp_path / "www"
    root.mkdir()
    write_image(root / "good.zarr", gradient((1, 64, 64), "uint8"), version="0.5", name="HeLa - nuclei, 2 channels")
    write_image(root / "evil.zarr", gradient((1, 64, 64), "uint8"), version="0.5", name=NAME)
    server, info = start_static_server(root)
    rows = [
        ["url", "description", "license", "origin"],
        [info.url_for("good.zarr"), "-12.5", "https://creativecommons.org/licenses/by/4.0/", "https://example.org/a-b"],
        [info.url_for("evil.zarr"), DESCRIPTION, LICENSE, ORIGIN],
    ]
    submissions = tmp_path / "submissions.csv"
    with open(submissions, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    try:
        run_build(BuildConfig(allow_private_addresses=True, source=str(submissions), out=tmp_path / "site", timeout=5, retries=0, verbose=-1))
    finally:
        server.stop()
    yield tmp_path / "site", info


def _rows(site: Path) -> dict[str, dict[str, str]]:
    with open(site / "catalog.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    return {r["url"].rsplit("/", 1)[-1]: r for r in rows}


def test_formula_cells_are_written_as_text(built) -> None:
    site, _ = built
    evil = _rows(site)["evil.zarr"]
    assert evil["name"] == "'" + NAME
    assert evil["description"] == "'" + DESCRIPTION
    assert evil["license"] == "'" + LICENSE
    assert evil["origin"] == "'" + ORIGIN
    assert not any(v.startswith(FORMULA_START) for v in evil.values()), evil
    # catalog.json is data, not a spreadsheet: it keeps the text as harvested.
    doc = {d["url"].rsplit("/", 1)[-1]: d for d in json.loads((site / "catalog.json").read_text())["datasets"]}
    assert doc["evil.zarr"]["name"] == NAME


def test_ordinary_cells_and_the_good_dataset_are_untouched(built) -> None:
    site, info = built
    good = _rows(site)["good.zarr"]
    assert good["url"] == info.url_for("good.zarr")
    assert good["name"] == "HeLa - nuclei, 2 channels"
    assert good["description"] == "-12.5", "a number stays a number"
    assert good["shape"] == "1,64,64" and good["dimension_names"] == "c,y,x"
    assert good["license"] == "https://creativecommons.org/licenses/by/4.0/"
    doc = {d["url"].rsplit("/", 1)[-1]: d for d in json.loads((site / "catalog.json").read_text())["datasets"]}
    assert doc["good.zarr"]["status"] == "ok" and doc["evil.zarr"]["status"] == "ok"
    assert doc["good.zarr"]["thumbnail"] and (site / doc["good.zarr"]["thumbnail"]).is_file()


def test_a_dataframe_reader_sees_text_and_numbers(built) -> None:
    pandas = pytest.importorskip("pandas")
    site, _ = built
    frame = pandas.read_csv(site / "catalog.csv", keep_default_na=False)
    frame.index = [u.rsplit("/", 1)[-1] for u in frame["url"]]
    assert frame.loc["evil.zarr", "name"] == "'" + NAME
    assert frame.loc["evil.zarr", "origin"] == "'" + ORIGIN
    assert frame.loc["good.zarr", "shape"] == "1,64,64"


@pytest.mark.parametrize(
    "value, written",
    [
        ("=1+1", "'=1+1"),
        ("+41 22 000 00 00", "'+41 22 000 00 00"),
        ("-x", "'-x"),
        ("@cmd", "'@cmd"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-12.5", "-12.5"),
        ("+3", "+3"),
        ("-1e-3", "-1e-3"),
        ("1,2,3", "1,2,3"),
        ("https://example.org/a=b", "https://example.org/a=b"),
        ("a = b", "a = b"),
        ("", ""),
    ],
)
def test_safe_csv_cell(value: str, written: str) -> None:
    assert safe_csv_cell(value) == written
