"""The I/O boundary: HTTP against a real local server (ranges, retries, caps, schemes), local files, join_url."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

import pytest
from aiohttp import web

from generator.fetch.base import FetchError
from generator.fetch.http import Fetcher
from generator.fetch.local import LocalFiles
from generator.fetch.urls import join_url
from tests.conftest import start_static_server


class Flaky:
    """Fails the first ``failures`` requests to /flaky.json with a 503."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.seen = 0

    async def __call__(self, request: web.Request) -> web.StreamResponse | None:
        if request.path == "/bomb.json":
            # 64 MB of zeros compressed to about 64 KB.
            body = gzip.compress(b"0" * (64 * 1024 * 1024))
            return web.Response(body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
        if request.path == "/to-file":
            raise web.HTTPFound("file:///etc/passwd")
        if request.path == "/hang.json":
            await asyncio.sleep(10)
        if request.path != "/flaky.json":
            return None
        self.seen += 1
        if self.seen <= self.failures:
            return web.Response(status=503, text="busy")
        return None


@pytest.fixture
def server(tmp_path: Path):
    (tmp_path / "flaky.json").write_text('{"ok": true}')
    (tmp_path / "data.bin").write_bytes(bytes(range(256)) * 4)
    hook = Flaky(failures=2)
    srv, info = start_static_server(tmp_path, hook=hook)
    try:
        yield info, hook
    finally:
        srv.stop()


async def test_ranges_including_suffix(server) -> None:
    info, _ = server
    async with Fetcher(allow_private_addresses=True) as f:
        assert await f.get_bytes(info.url_for("data.bin"), (10, 14)) == bytes([10, 11, 12, 13])
        assert await f.get_bytes(info.url_for("data.bin"), (None, 3)) == bytes([253, 254, 255])
    ranges = [e[2] for e in info.log.entries]
    assert ranges == ["bytes=10-13", "bytes=-3"]


async def test_retries_5xx_with_backoff_then_succeeds(server) -> None:
    info, hook = server
    async with Fetcher(allow_private_addresses=True, retries=3, backoff=0.01) as f:
        doc, _ = await f.get_json(info.url_for("flaky.json"))
    assert doc == {"ok": True}
    assert hook.seen == 3 and f.stats.retries == 2


async def test_gives_up_after_retries_as_a_transient_error(server) -> None:
    info, hook = server
    hook.failures = 100
    async with Fetcher(allow_private_addresses=True, retries=1, backoff=0.01) as f:
        with pytest.raises(FetchError) as err:
            await f.get(info.url_for("flaky.json"))
    assert err.value.status == 503 and err.value.transient
    assert "HTTP 503 after retries" in str(err.value)


async def test_404_is_not_transient(server) -> None:
    info, _ = server
    async with Fetcher(allow_private_addresses=True) as f:
        with pytest.raises(FetchError) as err:
            await f.get(info.url_for("missing.json"))
    assert err.value.status == 404 and not err.value.transient


async def test_decompression_bomb_is_capped(server) -> None:
    info, _ = server
    async with Fetcher(allow_private_addresses=True, max_bytes=1024 * 1024) as f:
        with pytest.raises(FetchError, match="too large"):
            await f.get(info.url_for("bomb.json"))


async def test_hang_times_out(server) -> None:
    info, _ = server
    async with Fetcher(allow_private_addresses=True, timeout=0.5, retries=0) as f:
        with pytest.raises(FetchError, match="timed out") as err:
            await f.get(info.url_for("hang.json"))
    assert err.value.transient


async def test_refuses_non_http_schemes_and_redirects_to_them(server) -> None:
    info, _ = server
    async with Fetcher(allow_private_addresses=True) as f:
        for url in ("file:///etc/passwd", "javascript:alert(1)", "ftp://example.org/x"):
            with pytest.raises(FetchError, match="refusing"):
                await f.get(url)
        with pytest.raises(FetchError):
            await f.get(info.url_for("to-file"))
    assert f.stats.requests == 1  # only the redirecting request reached the network


# --- the local-files implementation -------------------------------------------


async def test_local_files_answer_as_the_http_fetcher_does(server, tmp_path: Path) -> None:
    info, _ = server
    (tmp_path / "a b.json").write_text('{"name": "a b"}')
    local = LocalFiles(((info.url + "/", str(tmp_path)),))
    calls = [
        ("get_bytes", ("data.bin",), {}),
        ("get_bytes", ("data.bin", (10, 14)), {}),
        ("get_bytes", ("data.bin", (None, 3)), {}),
        ("get_bytes", ("data.bin", (1000, None)), {}),
    ]
    async with Fetcher(allow_private_addresses=True) as http:
        for name, (rel, *rest), kw in calls:
            url = info.url_for(rel)
            assert await getattr(local, name)(url, *rest, **kw) == await getattr(http, name)(url, *rest, **kw), (rel, rest)
        remote_doc, remote = await http.get_json(info.url_for("a%20b.json"))
        local_doc, here = await local.get_json(info.url_for("a%20b.json"))
        assert local_doc == remote_doc == {"name": "a b"} and here.ok and remote.ok
        # An optional document that is missing: a 404 answer when allowed, a non-transient error when not.
        allowed = frozenset({404})
        assert (await local.get(info.url_for("none.json"), allow_status=allowed)).status == 404
        assert (await http.get(info.url_for("none.json"), allow_status=allowed)).status == 404
        for io in (local, http):
            with pytest.raises(FetchError) as err:
                await io.get(info.url_for("none.json"))
            assert err.value.status == 404 and not err.value.transient


async def test_local_files_read_paths_and_refuse_what_they_cannot_map(tmp_path: Path) -> None:
    (tmp_path / "inside").mkdir()
    (tmp_path / "inside" / "x.csv").write_text("url\n")
    (tmp_path / "secret.csv").write_text("secret\n")
    local = LocalFiles((("https://host.test/data/", str(tmp_path / "inside")),), max_bytes=8)
    assert await local.get_bytes(str(tmp_path / "inside" / "x.csv")) == b"url\n"
    assert await local.get_bytes((tmp_path / "inside" / "x.csv").as_uri()) == b"url\n"
    assert await local.get_bytes("https://host.test/data/x.csv") == b"url\n"
    for url in ("https://host.test/data/../secret.csv", "https://host.test/data/%2e%2e/secret.csv"):
        with pytest.raises(FetchError, match="outside"):
            await local.get(url)
    with pytest.raises(FetchError, match="no --map-url prefix"):
        await local.get("https://elsewhere.test/x.csv")
    (tmp_path / "inside" / "big.csv").write_text("0123456789")
    with pytest.raises(FetchError, match="larger than 8 bytes"):
        await local.get("https://host.test/data/big.csv")
    assert await local.get_bytes("https://host.test/data/big.csv", (None, 4)) == b"6789"  # ranges are not capped


def test_join_url_encodes_once_and_keeps_existing_escapes() -> None:
    base = "https://example.org/My%20Data/img.zarr"
    assert join_url(base, "0", "zarr.json") == base + "/0/zarr.json"
    assert join_url(base + "/", "/labels/cells/", ".zattrs") == base + "/labels/cells/.zattrs"
    assert join_url(base, "", "0") == join_url(base, "0") == base + "/0"
    assert join_url(base) == base
    assert join_url(base, "field 1/0") == base + "/field%201/0"
    assert join_url(base, "a%20b") == base + "/a%20b", "an encoded path is not encoded twice"
    assert join_url(base, "s\u00e9rie#1?x") == base + "/s%C3%A9rie%231%3Fx"
