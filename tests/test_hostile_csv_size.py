"""One size limit for a submission CSV, read from disk or fetched (issue 10, case 13).

A remote CSV used to fail at the fetcher's 32 MiB cap although the CSV
limit is 50 MiB. Now ``MAX_CSV_BYTES`` holds for both, with one message.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.cli import run_build
from generator.config import BuildConfig
from generator.dev.samples import gradient, write_image
from generator.fetch.http import Fetcher
from generator.sources.csv_file import MAX_CSV_BYTES
from tests.conftest import start_static_server

LIMIT_MESSAGE = "larger than the CSV size limit of 50 MiB"
BLANK_LINE = " " * 511 + "\n"  # a row of one empty cell: skipped by the reader, so only size matters


def _csv_of_size(path: Path, url: str, size: int) -> Path:
    head = f"url\n{url}\n"
    lines = -(-(size - len(head)) // len(BLANK_LINE))
    path.write_text(head + BLANK_LINE * lines, encoding="utf-8")
    assert abs(path.stat().st_size - size) < len(BLANK_LINE)
    return path


@pytest.fixture
def host(tmp_path: Path):
    root = tmp_path / "www"
    root.mkdir()
    write_image(root / "good.zarr", gradient((1, 64, 64), "uint8"), version="0.5")
    write_image(root / "other.zarr", gradient((1, 64, 64), "uint8"), version="0.4")
    server, info = start_static_server(root)
    try:
        yield info
    finally:
        server.stop()


def test_remote_and_local_csvs_share_the_csv_size_limit(host, tmp_path: Path) -> None:
    fetcher_cap = Fetcher(allow_private_addresses=True).max_bytes
    assert fetcher_cap < 33 * 2**20 < MAX_CSV_BYTES, "the case this test is about"
    _csv_of_size(host.root / "big.csv", host.url_for("good.zarr"), 33 * 2**20)
    _csv_of_size(host.root / "huge.csv", host.url_for("other.zarr"), MAX_CSV_BYTES + 1024)
    _csv_of_size(tmp_path / "huge-local.csv", host.url_for("other.zarr"), MAX_CSV_BYTES + 1024)
    root = tmp_path / "submissions.csv"
    root.write_text(f"url\n{host.url_for('big.csv')}\n{host.url_for('huge.csv')}\nhuge-local.csv\n", encoding="utf-8")

    result = run_build(BuildConfig(allow_private_addresses=True, source=str(root), out=tmp_path / "site", timeout=10, retries=0, verbose=-1))

    errors = {e.line: e.message for e in result.catalog.row_errors}
    assert sorted(errors) == [3, 4], errors
    assert LIMIT_MESSAGE in errors[3] and "huge.csv" in errors[3], "the remote CSV, at the CSV's limit"
    assert LIMIT_MESSAGE in errors[4] and "huge-local.csv" in errors[4], "the local CSV, with the same message"
    # The 33 MiB CSV is read although it is over the fetcher's own cap, and its dataset built.
    datasets = {d["url"]: d for d in json.loads((tmp_path / "site" / "catalog.json").read_text())["datasets"]}
    assert list(datasets) == [host.url_for("good.zarr")]
    good = datasets[host.url_for("good.zarr")]
    assert good["status"] == "ok" and good["thumbnail"] and (tmp_path / "site" / good["thumbnail"]).is_file()
