"""Spellings of one URL are one dataset (issue 10, case 13: URL normalisation).

``/./``, ``/x/../``, an escaped unreserved character (``%67``), the case of
the scheme, host and escapes, a default port and a trailing slash are
equivalent spellings (RFC 3986 section 6.2): the listings merge into one
dataset, fetched once. What is significant (the path's case, a reserved
escape such as ``%2F``, the query) keeps the first listing's spelling.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.cli import run_build
from generator.config import BuildConfig
from generator.dev.samples import gradient, write_image
from generator.sources.urls import parse_http_url
from tests.conftest import start_static_server


@pytest.fixture
def host(tmp_path: Path):
    root = tmp_path / "www"
    (root / "data").mkdir(parents=True)
    write_image(root / "data" / "good.zarr", gradient((1, 64, 64), "uint8"), version="0.5")
    write_image(root / "data" / "other.zarr", gradient((1, 48, 80), "uint8"), version="0.4")
    write_image(root / "data" / "Tonsil 1.zarr", gradient((1, 64, 64), "uint8"), version="0.5")
    server, info = start_static_server(root)
    try:
        yield info
    finally:
        server.stop()


def test_spellings_of_one_url_merge_into_one_dataset(host, tmp_path: Path) -> None:
    base = host.url
    spellings = [
        f"{base}/data/good.zarr",
        f"{base}/data/./good.zarr",
        f"{base}/data/x/../good.zarr",
        f"{base}/data/%67ood%2ezarr",
        f"{base}/data/%2E/good.zarr/",
        base.replace("http://", "HTTP://") + "/data/good.zarr",
    ]
    listed = [
        *spellings,
        f"{base}/data/Good.zarr",  # the path's case is significant: another dataset
        f"{base}/data/other.zarr",
        f"{base}/data/Tonsil 1.zarr",  # the challenge's spaces, both ways
        f"{base}/data/Tonsil%201.zarr",
    ]
    csv = tmp_path / "submissions.csv"
    csv.write_text("url\n" + "\n".join(listed) + "\n", encoding="utf-8")
    run_build(BuildConfig(allow_private_addresses=True, source=str(csv), out=tmp_path / "site", timeout=5, retries=0, verbose=-1))

    datasets = {d["url"]: d for d in json.loads((tmp_path / "site" / "catalog.json").read_text())["datasets"]}
    good = f"{base}/data/good.zarr"
    assert sorted(datasets) == sorted([good, f"{base}/data/Good.zarr", f"{base}/data/other.zarr", f"{base}/data/Tonsil%201.zarr"])
    # Within one CSV the other spellings are duplicate rows of the first: reported, not listings.
    assert [x["line"] for x in datasets[good]["listings"]] == [2]
    report = json.loads((tmp_path / "site" / "report.json").read_text())
    duplicates = [e for e in report["row_errors"] if "duplicate row" in e["message"]]
    assert sorted(e["line"] for e in duplicates) == [3, 4, 5, 6, 7, 11]
    for url in (good, f"{base}/data/other.zarr", f"{base}/data/Tonsil%201.zarr"):
        assert datasets[url]["status"] == "ok", datasets[url]["errors"]
        assert datasets[url]["thumbnail"] and (tmp_path / "site" / datasets[url]["thumbnail"]).is_file()
    assert datasets[f"{base}/data/Good.zarr"]["status"] == "unreachable"
    assert host.log.paths().count("/data/good.zarr/zarr.json") == 1, "one dataset, fetched once"


@pytest.mark.parametrize(
    "raw, canonical",
    [
        ("https://h.example/a/./b.zarr", "https://h.example/a/b.zarr"),
        ("https://h.example/a/x/../b.zarr", "https://h.example/a/b.zarr"),
        ("https://h.example/../../b.zarr", "https://h.example/b.zarr"),  # never above the root
        ("https://h.example/a/%64up.zarr", "https://h.example/a/dup.zarr"),
        ("https://h.example/%7Euser/%41%5a%30-%5F.zarr", "https://h.example/~user/AZ0-_.zarr"),
        ("https://h.example/a/%2e%2E/b.zarr", "https://h.example/b.zarr"),
        ("HTTPS://H.Example:443/a.zarr", "https://h.example/a.zarr"),
        ("http://h.example:80/a.zarr/", "http://h.example/a.zarr"),
        ("https://h.example/a?x=%7e&y=%2f", "https://h.example/a?x=~&y=%2F"),
        # significant, kept as written
        ("https://h.example:8443/A/B.zarr", "https://h.example:8443/A/B.zarr"),
        ("https://h.example/a%2Fb.zarr", "https://h.example/a%2Fb.zarr"),
        ("https://h.example/a%2fb.zarr", "https://h.example/a%2Fb.zarr"),
        ("https://h.example/a b.zarr?b=2&a=1", "https://h.example/a%20b.zarr?b=2&a=1"),
        ("https://h.example/a..b/.c/d.", "https://h.example/a..b/.c/d."),
    ],
)
def test_parse_http_url_normalises_equivalent_spellings(raw: str, canonical: str) -> None:
    assert parse_http_url(raw) == canonical
    assert parse_http_url(canonical) == canonical, "the canonical form is a fixed point"


def test_dot_segments_keep_a_trailing_slash_where_asked() -> None:
    assert parse_http_url("https://h.example/a/b/..", keep_trailing_slash=True) == "https://h.example/a/"
    assert parse_http_url("https://h.example/a/b/.", keep_trailing_slash=True) == "https://h.example/a/b/"
