"""Issue 10, case 13: listed URLs may not point the build at its own machine or network,
and redirects stay on the listed host.

Loopback, private and link-local addresses (IPv4 and IPv6, IPv4-mapped
included) are refused by default, after DNS resolution, on the listed URL
and when connecting; ``--allow-private-addresses`` allows them (these tests,
the demo and local catalogs need it). Redirects are followed within a host
only. Builds run against a real local server with datasets written by
zarr-python.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from pathlib import Path

import pytest
from aiohttp import web

from generator.cli import main, run_build
from generator.config import BuildConfig
from generator.dev.samples import gradient, write_image
from generator.fetch.base import FetchError
from generator.fetch.hosts import (
    GuardedResolver,
    PrivateAddressError,
    get_address_kind,
    get_server_key,
)
from generator.fetch.http import Fetcher
from tests.conftest import start_static_server

OPTION = "--allow-private-addresses"


@pytest.mark.parametrize(
    "address, kind",
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("0.0.0.0", "private"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("224.0.0.1", "multicast"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert get_address_kind(ipaddress.ip_address(address)) == kind


def test_server_keys_name_the_machine_not_the_host_name() -> None:
    assert get_server_key(["93.184.216.34", "93.184.216.33"], 443) == get_server_key(["93.184.216.33"], 443)
    assert get_server_key(["::ffff:93.184.216.34"], 443) == "93.184.216.34:443"
    assert get_server_key(["2001:db8:1:2::5"], 443) == get_server_key(["2001:db8:1:2:ffff::1"], 443) == "[2001:db8:1:2::/64]:443"


def test_a_name_resolving_to_loopback_is_refused_by_the_resolver() -> None:
    async def resolve() -> None:
        resolver = GuardedResolver(allow_private=False)
        try:
            await resolver.resolve("localhost", 80)
        finally:
            await resolver.close()

    with pytest.raises(PrivateAddressError, match=f"refusing loopback address 127.0.0.1 of host localhost .*{OPTION}"):
        asyncio.run(resolve())


@pytest.fixture
def www(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    write_image(root / "good.zarr", gradient((1, 64, 64), "uint8"), version="0.5", levels=1, name="Good")
    return root


def _datasets(site: Path) -> dict[str, dict]:
    return {d["url"]: d for d in json.loads((site / "catalog.json").read_text())["datasets"]}


def test_private_addresses_are_refused_unless_allowed(www: Path, tmp_path: Path) -> None:
    server, info = start_static_server(www)
    port = info.url.rsplit(":", 1)[1]
    urls = [
        f"http://127.0.0.1:{port}/good.zarr",
        f"http://localhost:{port}/good.zarr",  # a name, refused for what it resolves to
        f"http://[::ffff:127.0.0.1]:{port}/good.zarr",
    ]
    csv = tmp_path / "submissions.csv"
    csv.write_text("url\n" + "\n".join(urls) + "\n", encoding="utf-8")
    try:
        assert main(["build", str(csv), "--out", str(tmp_path / "refused"), "--no-cache", "-q"]) == 0
        requests_refused = len(info.log.entries)
        assert main(["build", str(csv), "--out", str(tmp_path / "allowed"), "--no-cache", "-q", OPTION]) == 0
    finally:
        server.stop()

    assert requests_refused == 0, "a refused address was still asked"
    refused = _datasets(tmp_path / "refused")
    expected = {
        urls[0]: "refusing loopback address 127.0.0.1 of host 127.0.0.1",
        urls[1]: "refusing loopback address 127.0.0.1 of host localhost",
        urls[2]: "refusing loopback address ::ffff:127.0.0.1 of host ::ffff:127.0.0.1",
    }
    for url, message in expected.items():
        d = refused[url]
        assert d["status"] == "unreachable"
        assert any(message in e and OPTION in e for e in d["errors"]), d["errors"]
    # The site is still written, and the same catalog builds with the option.
    assert (tmp_path / "refused" / "report.html").is_file()
    allowed = _datasets(tmp_path / "allowed")
    for url in urls[:2]:
        assert allowed[url]["status"] == "ok", allowed[url]["errors"]
        assert (tmp_path / "allowed" / allowed[url]["thumbnail"]).is_file()


def test_a_root_csv_on_a_private_address_is_refused_with_the_option_named(www: Path, tmp_path: Path, capsys) -> None:
    (www / "submissions.csv").write_text("url\ngood.zarr\n", encoding="utf-8")
    server, info = start_static_server(www)
    try:
        code = main(["build", f"{info.url}/submissions.csv", "--out", str(tmp_path / "site"), "--no-cache", "-q"])
    finally:
        server.stop()
    assert code == 2
    err = capsys.readouterr().err
    assert "refusing loopback address 127.0.0.1" in err and OPTION in err
    assert not info.log.entries


def test_redirects_are_followed_within_a_host_only(www: Path, tmp_path: Path) -> None:
    port_box: list[str] = []

    async def redirects(request: web.Request) -> web.StreamResponse | None:
        path, port = request.path, port_box[0]
        if path.startswith("/alias.zarr/"):  # the same host: followed
            raise web.HTTPFound(path.replace("/alias.zarr/", "/good.zarr/", 1))
        if path.startswith("/elsewhere.zarr/"):  # the same machine under another name: another host
            raise web.HTTPFound(f"http://localhost:{port}" + path.replace("/elsewhere.zarr/", "/good.zarr/", 1))
        if path.startswith("/file.zarr/"):
            raise web.HTTPFound("file:///etc/passwd")
        return None

    server, info = start_static_server(www, hook=redirects)
    port_box.append(info.url.rsplit(":", 1)[1])
    names = ["alias.zarr", "elsewhere.zarr", "file.zarr", "good.zarr"]
    csv = tmp_path / "submissions.csv"
    csv.write_text("url\n" + "".join(f"{info.url}/{n}\n" for n in names), encoding="utf-8")
    try:
        run_build(BuildConfig(source=str(csv), out=tmp_path / "site", timeout=5, retries=0, verbose=-1, allow_private_addresses=True))
    finally:
        server.stop()
    datasets = _datasets(tmp_path / "site")
    for n in ("alias.zarr", "good.zarr"):
        d = datasets[f"{info.url}/{n}"]
        assert d["status"] == "ok", d["errors"]
        assert (tmp_path / "site" / d["thumbnail"]).is_file()
    elsewhere = datasets[f"{info.url}/elsewhere.zarr"]["errors"]
    assert any(
        "redirected to another host (localhost); only redirects within 127.0.0.1 are followed: list the URL it redirects to" in e
        for e in elsewhere
    ), elsewhere
    assert not any(p.startswith("/good.zarr/") and "elsewhere" in p for p in info.log.paths())
    assert any("redirected to a non-http(s) URL file:///etc/passwd" in e for e in datasets[f"{info.url}/file.zarr"]["errors"])


def test_a_redirect_loop_ends(tmp_path: Path) -> None:
    async def loop(request: web.Request) -> web.StreamResponse | None:
        raise web.HTTPFound(request.path + "x")

    server, info = start_static_server(tmp_path, hook=loop)

    async def get() -> None:
        async with Fetcher(allow_private_addresses=True, retries=0) as f:
            await f.get(f"{info.url}/a")

    try:
        with pytest.raises(FetchError, match="too many redirects"):
            asyncio.run(get())
    finally:
        server.stop()
    assert len(info.log.entries) == 6  # the request and five redirects
