"""Issue 10, case 13: a dataset URL with a query string (a presigned or token link).

The query is kept, exactly as listed, on every document and chunk request:
the path of each goes before the ``?``. The server here refuses any request
under ``/signed/`` without the token, as a signing service would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web

from generator.cli import run_build
from generator.config import BuildConfig
from generator.dev.samples import gradient, write_image
from generator.fetch.urls import join_url
from tests.conftest import start_static_server

# Reserved escapes (%2F, %2B) that a re-encoding client would turn into "/" and "+".
TOKEN = "X-Amz-Credential=AKIA%2F20240101%2Fus-east-1&X-Amz-Signature=ab%2Bcd&X-Amz-Expires=3600"


@pytest.mark.parametrize(
    "base, parts, joined",
    [
        ("https://h/a.zarr?sig=1", ("zarr.json",), "https://h/a.zarr/zarr.json?sig=1"),
        ("https://h/a.zarr/?sig=1&x=%2F", ("0", "zarr.json"), "https://h/a.zarr/0/zarr.json?sig=1&x=%2F"),
        ("https://h/a.zarr?", ("0/c/0/0",), "https://h/a.zarr/0/c/0/0?"),
        ("https://h/a.zarr#frag", ("zarr.json",), "https://h/a.zarr/zarr.json"),
        ("https://h/a.zarr", ("a b",), "https://h/a.zarr/a%20b"),
    ],
)
def test_join_url_puts_the_path_before_the_query(base: str, parts: tuple[str, ...], joined: str) -> None:
    assert join_url(base, *parts) == joined


def test_a_presigned_dataset_url_is_harvested_with_its_query_on_every_request(tmp_path: Path) -> None:
    www = tmp_path / "www"
    write_image(www / "signed" / "img.zarr", gradient((2, 128, 128), "uint16"), version="0.5", chunks=(1, 32, 32))
    write_image(www / "signed" / "v2.zarr", gradient((1, 96, 96), "uint8", seed=1), version="0.4")
    write_image(www / "good.zarr", gradient((1, 64, 64), "uint8", seed=2), version="0.5")
    signed: list[tuple[str, str]] = []

    async def signing(request: web.Request) -> web.StreamResponse | None:
        if not request.path.startswith("/signed/"):
            return None
        query = request.raw_path.partition("?")[2]
        signed.append((request.path, query))
        return None if query == TOKEN else web.Response(status=403, text="signature does not match")

    server, info = start_static_server(www, hook=signing)
    urls = [f"{info.url}/signed/img.zarr?{TOKEN}", f"{info.url}/signed/v2.zarr?{TOKEN}", f"{info.url}/good.zarr"]
    csv = tmp_path / "submissions.csv"
    csv.write_text("url\n" + "".join(f"{u}\n" for u in urls), encoding="utf-8")
    try:
        run_build(BuildConfig(source=str(csv), out=tmp_path / "site", timeout=5, retries=0, verbose=-1, allow_private_addresses=True))
    finally:
        server.stop()

    datasets = {d["url"]: d for d in json.loads((tmp_path / "site" / "catalog.json").read_text())["datasets"]}
    for url in urls:
        d = datasets[url]
        assert d["status"] == "ok", d["errors"]
        assert d["thumbnail"] and (tmp_path / "site" / d["thumbnail"]).is_file()
    assert datasets[urls[0]]["shape"] == [2, 128, 128]
    assert [p for p, q in signed if q != TOKEN] == [], "a request went without the listed query"
    paths = {p for p, _ in signed}
    assert {"/signed/img.zarr/zarr.json", "/signed/v2.zarr/.zattrs"} <= paths
    assert any(p.startswith("/signed/img.zarr/") and "/c/" in p for p in paths), "chunks were read with the query"
    assert any(p.startswith("/signed/v2.zarr/") and p[-1].isdigit() for p in paths)
