"""Hostile submission CSVs: caps on what they make a build read and write, and trust between providers.

Every test builds a whole catalog against real local servers, with a good
dataset written by zarr-python beside the hostile CSVs, and checks that it
comes out ``ok`` with its thumbnail.
"""

from __future__ import annotations

import json
from pathlib import Path

from generator.cli import run_build
from generator.config import BuildConfig, GitHubSource, SourceLimits
from generator.dev.samples import gradient, write_image
from generator.records import get_dataset_id
from tests.conftest import StaticServer, start_static_server


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _good_image(www: Path) -> None:
    write_image(www / "good.zarr", gradient((1, 64, 64), "uint8"), version="0.5", name="Good")


def _build(root_csv: Path, tmp_path: Path, **kw) -> tuple[dict[str, dict], dict]:
    config = BuildConfig(allow_private_addresses=True, source=str(root_csv), out=tmp_path / "site", cache=None, timeout=5.0, retries=0, **kw)
    run_build(config)
    catalog = json.loads((tmp_path / "site" / "catalog.json").read_text())
    report = json.loads((tmp_path / "site" / "report.json").read_text())
    return {d["url"]: d for d in catalog["datasets"]}, report


def _assert_good(datasets: dict[str, dict], server: StaticServer, site: Path) -> dict:
    good = datasets[f"{server.url}/good.zarr"]
    assert good["status"] == "ok", good["errors"]
    assert good["thumbnail"] and (site / good["thumbnail"]).is_file()
    return good


def _errors(report: dict, file: str) -> list[dict]:
    return [e for e in report["row_errors"] if e["file"] == file]


# --- case 3: the CSV caps ---------------------------------------------------------


def test_a_lattice_a_wide_header_and_a_long_csv_are_each_read_once_and_capped(tmp_path: Path) -> None:
    www = tmp_path / "www"
    _good_image(www)
    server, info = start_static_server(www)
    base = info.url
    dup = f"{base}/dup.zarr"
    try:
        # Each level lists the next one twice plus 400 rows: 2^20 walks if every listing were expanded.
        for i in range(20):
            _write(www / f"lattice{i}.csv", "url\n" + f"{base}/lattice{i + 1}.csv\n" * 2 + f"{dup}\n" * 400)
        header = "url," + ",".join(f"c{i}" for i in range(20_000))
        _write(www / "wide.csv", header + "\n" + f"{dup},x\n" * 5_000)
        _write(www / "long.csv", "url\n" + f"{dup}\n" * 6_010)
        root = _write(tmp_path / "repo" / "submissions.csv", f"url\n{base}/good.zarr\n{base}/lattice0.csv\n{base}/wide.csv\n{base}/long.csv\n")

        datasets, report = _build(root, tmp_path, sources=SourceLimits(rows=6_000))
    finally:
        server.stop()

    _assert_good(datasets, info, tmp_path / "site")
    assert set(datasets) == {f"{base}/good.zarr", dup}
    paths = info.log.paths()
    # Read once however often listed; nothing below the depth cap is fetched.
    assert [paths.count(f"/lattice{i}.csv") for i in range(20)] == [1] * 16 + [0] * 4
    # Depth first in listed order: the deepest CSV read lists it first.
    assert datasets[dup]["listings"][0] == {"file": f"{base}/lattice15.csv", "line": 4, "source": "submissions", "collection": "lattice15"}
    assert len(datasets[dup]["listings"]) == 16 + 2  # one per CSV: a CSV's own repeats are duplicate rows

    cap = SourceLimits.errors_per_csv
    for i in range(15):
        errors = _errors(report, f"{base}/lattice{i}.csv")
        assert len(errors) == cap + 1, i  # 1 + 399 errors, summarised
        assert errors[0]["line"] == 3
        assert errors[0]["message"] == (
            f"{base}/lattice{i + 1}.csv is already listed at {base}/lattice{i}.csv:2; a CSV is read once, so this listing is ignored"
        )
        assert errors[1]["message"] == f"duplicate row: {dup} is already listed at line 4 of this file; ignored"
        assert errors[-1]["message"].startswith(f"{400 - cap} more row errors in this CSV are not listed (only the first {cap} are)")
    deepest = _errors(report, f"{base}/lattice15.csv")
    assert [e["line"] for e in deepest[:2]] == [2, 3]
    assert deepest[0]["message"] == f"CSVs nested deeper than 16 levels; {base}/lattice16.csv not read"

    wide = _errors(report, f"{base}/wide.csv")
    assert wide[0]["line"] == 1
    assert wide[0]["message"] == "the header has 20001 columns, more than the 100 allowed; columns after the 100th are ignored"
    long = _errors(report, f"{base}/long.csv")
    assert (long[0]["line"], long[0]["message"]) == (6_002, "more than 6000 rows; the rest of the file is skipped")
    assert len(long) == cap + 1
    assert len(report["row_errors"]) < 1_000


def test_caps_per_build_on_listed_rows_csv_files_and_listings(tmp_path: Path) -> None:
    www = tmp_path / "www"
    _good_image(www)
    server, info = start_static_server(www)
    base = info.url
    try:
        for i in range(4):
            _write(www / f"small{i}.csv", f"url\n{base}/small{i}.zarr\n{base}/shared.zarr\n")
        _write(www / "many.csv", "url\n" + "".join(f"{base}/many{i}.zarr\n" for i in range(500)))
        _write(www / "after.csv", f"url\n{base}/after.zarr\n")
        root = _write(
            tmp_path / "repo" / "submissions.csv",
            "url\n" + f"{base}/good.zarr\n" + "".join(f"{base}/small{i}.csv\n" for i in range(4))
            + f"{base}/many.csv\n{base}/after.csv\n",
        )
        # Files: the root and three children. Rows: 14 up to many.csv (the root's and the small CSVs'),
        # so many.csv's 5th row is the 19th.
        datasets, report = _build(root, tmp_path, sources=SourceLimits(files=4, listings=2))
        fetched = info.log.paths()
        rows_capped, rows_report = _build(root, tmp_path / "again", sources=SourceLimits(items=18))
    finally:
        server.stop()

    _assert_good(datasets, info, tmp_path / "site")
    assert set(datasets) == {f"{base}/good.zarr", f"{base}/shared.zarr", *(f"{base}/small{i}.zarr" for i in range(3))}
    assert [x["file"] for x in datasets[f"{base}/shared.zarr"]["listings"]] == [f"{base}/small0.csv", f"{base}/small1.csv"]
    (third,) = _errors(report, f"{base}/small2.csv")
    assert (third["line"], third["message"]) == (
        3,
        f"{base}/shared.zarr is already listed 2 times (first at {base}/small0.csv:3); further listings are ignored",
    )
    root_errors = _errors(report, "submissions.csv")
    assert [(e["line"], e["message"]) for e in root_errors] == [
        (6, f"more than 4 CSV files in this build; {base}/small3.csv not read"),
        (7, f"more than 4 CSV files in this build; {base}/many.csv not read"),
        (8, f"more than 4 CSV files in this build; {base}/after.csv not read"),
    ]
    assert "/small3.csv" not in fetched and "/many.csv" not in fetched and "/after.csv" not in fetched

    _assert_good(rows_capped, info, tmp_path / "again" / "site")
    assert f"{base}/many3.zarr" in rows_capped and f"{base}/many4.zarr" not in rows_capped
    assert f"{base}/after.zarr" not in rows_capped
    (cut,) = [e for e in rows_report["row_errors"] if "listed rows" in e["message"]]
    assert (cut["file"], cut["line"]) == (f"{base}/many.csv", 6)
    assert cut["message"] == "more than 18 listed rows in this build (--max-rows); this row and all after it are not read"


# --- case 8: metadata hijack and source spoofing ------------------------------------


def test_a_provider_cannot_take_another_sources_name_or_its_datasets_metadata(tmp_path: Path) -> None:
    idr_www, evil_www = tmp_path / "idr", tmp_path / "evil"
    _good_image(idr_www)
    evil_www.mkdir()
    idr, idr_info = start_static_server(idr_www)
    evil, evil_info = start_static_server(evil_www)
    good_url = f"{idr_info.url}/good.zarr"
    try:
        _write(
            idr_www / "idr.csv",
            "url,license,description,origin\n"
            f"{good_url},CC-BY-4.0,Tonsil tissue,https://idr.openmicroscopy.org/webclient/?show=image-1\n",
        )
        # Listed before IDR in the root; claims the name IDR for its rows and for a CSV of its own.
        _write(
            evil_www / "evil.csv",
            "url,source,license,description,origin,name\n"
            f"{good_url},IDR,CC0,Log in to see the data,https://phish.example/login,\n"
            f"{evil_info.url}/own.zarr,IDR,,,,\n"
            f"{evil_info.url}/sub.csv,IDR,,,,\n"
            f"{evil_info.url}/lab.csv,Evil Lab,,,,\n",
        )
        _write(evil_www / "sub.csv", f"url\n{evil_info.url}/sub.zarr\n")
        _write(evil_www / "lab.csv", f"url\n{evil_info.url}/lab.zarr\n")
        repo = tmp_path / "repo"
        _write(repo / "local" / "lab.csv", f"url,name\n{good_url},Named by the local lab\n")
        root = _write(
            repo / "submissions.csv",
            f"source,url\nEvil,{evil_info.url}/evil.csv\nIDR,{idr_info.url}/idr.csv\nLocal,local/lab.csv\nLocal,local/missing.csv\n",
        )
        github = GitHubSource("https://github.com", "org/catalog", "0123abc", str(repo))

        datasets, report = _build(root, tmp_path, github=github)
    finally:
        idr.stop()
        evil.stop()

    site = tmp_path / "site"
    good = _assert_good(datasets, idr_info, site)
    # The listing from the dataset's own host wins its descriptive columns.
    assert (good["source"], good["collection"]) == ("IDR", "idr")
    assert (good["license"], good["description"]) == ("CC-BY-4.0", "Tonsil tissue")
    assert good["origin"] == "https://idr.openmicroscopy.org/webclient/?show=image-1"
    assert good["listings"] == [
        {"file": f"{evil_info.url}/evil.csv", "line": 2, "source": "Evil", "collection": "evil"},
        {"file": f"{idr_info.url}/idr.csv", "line": 2, "source": "IDR", "collection": "idr"},
        {"file": "local/lab.csv", "line": 2, "source": "Local", "collection": "lab",
         "link": "https://github.com/org/catalog/blob/0123abc/local/lab.csv#L2"},
    ]
    # A child CSV keeps the source it was registered under, for its rows and its own CSVs; a new name is its own.
    assert datasets[f"{evil_info.url}/own.zarr"]["source"] == "Evil"
    assert datasets[f"{evil_info.url}/sub.zarr"]["source"] == "Evil"
    assert datasets[f"{evil_info.url}/lab.zarr"]["source"] == "Evil Lab"
    (spoof,) = _errors(report, f"{evil_info.url}/evil.csv")
    assert spoof["line"] == 2
    assert spoof["message"] == (
        "source 'IDR' ignored on 3 rows: submissions.csv registered that name; "
        f"the rows of {evil_info.url}/evil.csv keep the source 'Evil' it was registered under"
    )
    (missing,) = _errors(report, "submissions.csv")
    assert (missing["line"], missing["message"]) == (5, "cannot read CSV local/missing.csv: No such file or directory")

    # Every listing is on the page, the local one linked to its line; the phishing link is not.
    page = (site / "datasets" / get_dataset_id(good_url) / "index.html").read_text()
    assert f"{evil_info.url}/evil.csv:2" in page and f"{idr_info.url}/idr.csv:2" in page
    assert 'href="https://github.com/org/catalog/blob/0123abc/local/lab.csv#L2"' in page
    assert "phish.example" not in page and "Log in to see the data" not in page
    # No path of the build machine in any output.
    leaks = [p.relative_to(site) for p in site.rglob("*") if p.is_file() and p.suffix in (".html", ".json", ".csv", ".xml", ".js")
             and str(tmp_path) in p.read_text(encoding="utf-8", errors="replace")]
    assert leaks == []


# --- case 9: output amplification --------------------------------------------------


def test_long_cells_are_capped_and_a_long_inherited_text_is_not_copied_into_every_page(tmp_path: Path) -> None:
    www = tmp_path / "www"
    _good_image(www)
    server, info = start_static_server(www)
    base = info.url
    huge = ("Huge collection text. " * 5_600).strip()  # 123,199 characters
    long = "".join(f"Collection sentence {i}. " for i in range(300))  # ~7,000: under the cell cap, over the inherited cap
    own = "A dataset's own description. " * 100  # 2,900 characters: kept whole
    try:
        _write(www / "huge.csv", f"url\n{base}/huge0.zarr\n")
        _write(www / "coll.csv", "url,description\n" + f"{base}/good.zarr,\n" + "".join(f"{base}/m{i}.zarr,\n" for i in range(40)) + f"{base}/own.zarr,{own}\n")
        root = _write(tmp_path / "repo" / "submissions.csv", f"url,license,description\n{base}/huge.csv,CC-BY-4.0,{huge}\n{base}/coll.csv,,{long}\n")

        datasets, report = _build(root, tmp_path)
    finally:
        server.stop()

    site = tmp_path / "site"
    good = _assert_good(datasets, info, site)
    cap = SourceLimits.inherited_chars
    assert good["description"].endswith(" … (shortened; in full at submissions.csv:3)")
    assert len(good["description"]) <= cap and good["description"].startswith("Collection sentence 0. Collection sentence 1.")
    assert all(len(d["description"] or "") <= cap for u, d in datasets.items() if "/m" in u)
    assert datasets[f"{base}/own.zarr"]["description"] == own.strip()
    # The oversized cell is dropped with a row error; the row's other cells still count.
    huge0 = datasets[f"{base}/huge0.zarr"]
    assert huge0["license"] == "CC-BY-4.0" and huge0["description"] is None
    (cell,) = _errors(report, "submissions.csv")
    assert cell["line"] == 2
    assert cell["message"] == "column 'description' holds 123199 characters, more than the 8192 allowed; the cell is ignored"

    # The site grows with the number of datasets, not with the inherited text times the datasets.
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in site.rglob("*") if p.suffix in (".html", ".json", ".csv")]
    assert not any("Collection sentence 299." in t or "Huge collection text." in t for t in texts)
