"""Issue 10, case 4: no host can stretch a build's time.

A host that hangs is given up on after a few failures (the circuit breaker),
cannot hold the workers or the request slots a healthy host needs (fair
scheduling, per-server limits taken before the global one), and one slow
dataset or thumbnail has a wall-clock budget. Past ``--deadline`` the build
stops fetching and writes the site, keeping last-known-good records. Every
test builds against real local servers with datasets written by zarr-python,
and shows that a healthy dataset beside the hostile ones comes out ``ok``
with its thumbnail.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from aiohttp import web

from generator.cli import make_parser, run_build
from generator.config import DEADLINE_SECONDS, BuildConfig, ThumbnailConfig
from generator.dev.samples import gradient, write_image
from generator.fetch.http import Fetcher
from tests.conftest import StaticServer, start_static_server
from tests.test_workflows import WORKFLOWS, cli_args, find_run, load

GIVE_UP = 60.0  # a hook that hangs answers after this long at the latest, so no test can hang


class Hang:
    """Fault injection: requests whose path starts with ``prefix`` wait until ``release`` (or GIVE_UP)."""

    def __init__(self, prefix: str = "/", only: str = "") -> None:
        self.prefix = prefix
        self.only = only  # and contain this
        self.release = threading.Event()
        self.calls = 0
        self.gave_up = False

    def matches(self, request: web.Request) -> bool:
        return request.path.startswith(self.prefix) and self.only in request.path

    async def __call__(self, request: web.Request) -> web.StreamResponse | None:
        if not self.matches(request):
            return None
        self.calls += 1
        t0 = time.monotonic()
        while not self.is_released():
            if time.monotonic() - t0 > GIVE_UP:
                self.gave_up = True
                break
            await asyncio.sleep(0.02)
        return None

    def is_released(self) -> bool:
        return self.release.is_set()


def _image(path: Path, seed: int = 0) -> Path:
    return write_image(path, gradient((1, 64, 64), "uint8", seed=seed), version="0.5", levels=1, name=path.stem)


def _copies(src: Path, folder: Path, n: int) -> list[str]:
    for i in range(n):
        shutil.copytree(src, folder / f"{i:03d}.zarr")
    return [f"{i:03d}.zarr" for i in range(n)]


def _csv(path: Path, urls: list[str]) -> Path:
    path.write_text("url\n" + "".join(f"{u}\n" for u in urls), encoding="utf-8")
    return path


def _build(csv: Path, out: Path, **kw) -> dict[str, dict]:
    settings = dict(source=str(csv), out=out, cache=None, retries=0, verbose=-1, allow_private_addresses=True)
    settings.update(kw)
    run_build(BuildConfig(**settings))
    return {d["url"]: d for d in json.loads((out / "catalog.json").read_text())["datasets"]}


def _assert_ok_with_thumbnail(d: dict, site: Path) -> None:
    assert d["status"] == "ok", d["errors"]
    assert d["thumbnail"] and (site / d["thumbnail"]).is_file()


@pytest.fixture
def healthy(tmp_path: Path) -> Iterator[StaticServer]:
    """A healthy host with three images, on a server of its own."""
    root = tmp_path / "healthy"
    for i in range(3):
        _image(root / f"img-{i}.zarr", seed=i)
    server, info = start_static_server(root)
    try:
        yield info
    finally:
        server.stop()


def _start_hanging(root: Path, hang: Hang) -> tuple[object, StaticServer]:
    server, info = start_static_server(root, hook=hang)
    return server, info


# --- fair scheduling ------------------------------------------------------------------


def test_300_hanging_datasets_listed_first_do_not_delay_a_healthy_host(tmp_path: Path, healthy: StaticServer) -> None:
    """The hanging host answers nothing until the healthy host has been served: that must happen first.

    Before, the first 128 datasets of the hanging host took every worker and
    their waiting requests every global slot, so the healthy host's first
    request waited for timeouts (132 s in the issue). Here no timeout, budget,
    breaker or deadline helps: only the scheduling does.
    """
    healthy_names = [f"img-{i}.zarr" for i in range(3)]

    class UntilHealthyServed(Hang):
        def is_released(self) -> bool:
            # Each healthy dataset asked for its RO-Crate: the second round trip of its harvest.
            seen = set(healthy.log.paths())
            return all(f"/{n}/ro-crate-metadata.json" in seen for n in healthy_names)

    hang = UntilHealthyServed()
    (tmp_path / "hanging").mkdir()
    server, hanging = _start_hanging(tmp_path / "hanging", hang)
    try:
        urls = [f"{hanging.url}/hang/{i:03d}.zarr" for i in range(300)] + [f"{healthy.url}/{n}" for n in healthy_names]
        csv = _csv(tmp_path / "submissions.csv", urls)
        datasets = _build(csv, tmp_path / "site", timeout=90.0, host_failures=0, dataset_seconds=0, deadline=None)
    finally:
        hang.release.set()
        server.stop()

    assert not hang.gave_up, "the healthy host was not served while the hanging host held its requests"
    for n in healthy_names:
        _assert_ok_with_thumbnail(datasets[f"{healthy.url}/{n}"], tmp_path / "site")
    assert hang.calls >= 16, "the hanging host's requests were in flight meanwhile"
    hung = [datasets[u] for u in urls[:300]]
    assert {d["status"] for d in hung} == {"unreachable"}  # 404 once released: no Zarr group there


def test_many_names_of_one_server_share_its_per_host_limit(tmp_path: Path) -> None:
    """``localhost`` and ``127.0.0.1`` are one server: together they get ``per_host`` requests at once."""
    (tmp_path / "doc.json").write_text("{}")
    in_flight = 0
    most = 0

    async def count(request: web.Request) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            await asyncio.sleep(0.2)
        finally:
            in_flight -= 1

    async def counting_hook(request: web.Request) -> web.StreamResponse | None:
        await count(request)
        return None

    server, info = start_static_server(tmp_path, hook=counting_hook)
    port = info.url.rsplit(":", 1)[1]
    urls = [f"http://{name}:{port}/doc.json" for name in ("127.0.0.1", "localhost") * 6]

    async def fetch_all() -> tuple[set[str], list[int]]:
        async with Fetcher(allow_private_addresses=True, per_host=2, concurrency=64) as f:
            servers = {await f.get_server(u) for u in urls}
            responses = await asyncio.gather(*(f.get(u, conditional=False) for u in urls))
            return servers, [r.status for r in responses]

    try:
        servers, statuses = asyncio.run(fetch_all())
    finally:
        server.stop()
    assert servers == {f"127.0.0.1:{port}"}
    assert statuses == [200] * len(urls)
    assert most == 2, f"{most} requests at once through two names of one server"


# --- the circuit breaker --------------------------------------------------------------


def test_a_host_that_keeps_failing_is_skipped_and_its_datasets_kept_stale(tmp_path: Path, healthy: StaticServer) -> None:
    root = tmp_path / "flaky"
    names = _copies(_image(tmp_path / "src.zarr", seed=7), root, 12)
    hang = Hang()
    hang.release.set()  # the night before: the host answers
    server, flaky = _start_hanging(root, hang)
    urls = [f"{flaky.url}/{n}" for n in names] + [f"{healthy.url}/img-{i}.zarr" for i in range(3)]
    csv = _csv(tmp_path / "submissions.csv", urls)
    cache = tmp_path / "cache"
    settings = dict(cache=cache, timeout=0.5, host_failures=3, per_host=2)
    try:
        before = _build(csv, tmp_path / "site-1", **settings)
        for u in urls:
            _assert_ok_with_thumbnail(before[u], tmp_path / "site-1")

        hang.release.clear()  # tonight every request hangs
        hang.calls = 0
        datasets = _build(csv, tmp_path / "site-2", **settings)
        calls = hang.calls
    finally:
        hang.release.set()
        server.stop()

    # Three timeouts trip the breaker; at most a slot's worth more was in flight by then.
    assert calls <= 3 + 2, f"{calls} requests to a host given up on after 3 failures"
    site = tmp_path / "site-2"
    skipped = "host 127.0.0.1 skipped after 3 consecutive failures (timed out)"
    for u in urls[:12]:
        d = datasets[u]
        assert d["status"] == "stale", d["errors"]
        assert d["shape"] == before[u]["shape"] and d["thumbnail"] == before[u]["thumbnail"]
        assert (site / d["thumbnail"]).is_file()
    assert sum(any(skipped in e for e in datasets[u]["errors"]) for u in urls[:12]) >= 12 - calls
    for u in urls[12:]:
        _assert_ok_with_thumbnail(datasets[u], site)


def test_without_a_last_good_record_a_skipped_host_is_unreachable_with_the_reason(tmp_path: Path, healthy: StaticServer) -> None:
    root = tmp_path / "dead"
    names = _copies(_image(tmp_path / "src.zarr"), root, 8)
    hang = Hang()
    server, dead = _start_hanging(root, hang)
    urls = [f"{dead.url}/{n}" for n in names] + [f"{healthy.url}/img-0.zarr"]
    try:
        datasets = _build(_csv(tmp_path / "s.csv", urls), tmp_path / "site", timeout=0.5, host_failures=2, per_host=1)
    finally:
        hang.release.set()
        server.stop()
    for u in urls[:8]:
        assert datasets[u]["status"] == "unreachable"
    reasons = [e for u in urls[:8] for e in datasets[u]["errors"]]
    assert sum("host 127.0.0.1 skipped after 2 consecutive failures (timed out)" in e for e in reasons) >= 6
    _assert_ok_with_thumbnail(datasets[urls[-1]], tmp_path / "site")


# --- budgets --------------------------------------------------------------------------


def test_a_dataset_that_takes_too_long_is_stopped_at_its_budget(tmp_path: Path) -> None:
    www = tmp_path / "www"
    _image(www / "good.zarr")
    _image(www / "slow.zarr", seed=1)
    hang = Hang("/slow.zarr/0/")  # its group answers, its level's document never does
    server, info = start_static_server(www, hook=hang)
    try:
        t0 = time.monotonic()
        datasets = _build(_csv(tmp_path / "s.csv", [f"{info.url}/slow.zarr", f"{info.url}/good.zarr"]), tmp_path / "site",
                          timeout=GIVE_UP, dataset_seconds=1.0)
        elapsed = time.monotonic() - t0
    finally:
        hang.release.set()
        server.stop()
    slow = datasets[f"{info.url}/slow.zarr"]
    assert slow["status"] == "unreachable"
    assert any("harvest stopped after 1 s (the per-dataset time budget, --dataset-seconds)" in e for e in slow["errors"]), slow["errors"]
    assert elapsed < GIVE_UP / 2, "the build waited for the hanging request"
    _assert_ok_with_thumbnail(datasets[f"{info.url}/good.zarr"], tmp_path / "site")


def test_a_thumbnail_whose_chunks_crawl_is_stopped_at_its_budget(tmp_path: Path) -> None:
    www = tmp_path / "www"
    _image(www / "good.zarr")
    _image(www / "crawl.zarr", seed=1)
    hang = Hang("/crawl.zarr/", only="/c/")  # documents answer, chunks never do
    server, info = start_static_server(www, hook=hang)
    try:
        datasets = _build(
            _csv(tmp_path / "s.csv", [f"{info.url}/crawl.zarr", f"{info.url}/good.zarr"]), tmp_path / "site",
            timeout=GIVE_UP, thumbnail=ThumbnailConfig(seconds=1.0),
        )
    finally:
        hang.release.set()
        server.stop()
    crawl = datasets[f"{info.url}/crawl.zarr"]
    assert crawl["status"] == "ok" and crawl["thumbnail"] is None
    assert "thumbnail skipped: not drawn within 1 s (the per-thumbnail time budget, --thumbnail-seconds)" in crawl["warnings"]
    assert hang.calls >= 1
    _assert_ok_with_thumbnail(datasets[f"{info.url}/good.zarr"], tmp_path / "site")


def test_a_plane_of_4096_tiny_chunks_is_refused_before_any_chunk_is_requested(tmp_path: Path) -> None:
    www = tmp_path / "www"
    _image(www / "good.zarr")
    write_image(www / "tiny.zarr", gradient((256, 256), "uint8"), axes="yx", levels=1, chunks=(4, 4))
    server, info = start_static_server(www)
    try:
        datasets = _build(_csv(tmp_path / "s.csv", [f"{info.url}/tiny.zarr", f"{info.url}/good.zarr"]), tmp_path / "site",
                          timeout=10.0)
    finally:
        server.stop()
    tiny = datasets[f"{info.url}/tiny.zarr"]
    assert tiny["status"] == "ok" and tiny["thumbnail"] is None
    assert "thumbnail skipped: level 0 plane needs 4096 chunk requests > the cap of 1024 per thumbnail (--thumbnail-max-chunks)" in tiny["warnings"]
    assert not [p for p in info.log.paths() if p.startswith("/tiny.zarr/0/c/")], "a chunk was requested"
    _assert_ok_with_thumbnail(datasets[f"{info.url}/good.zarr"], tmp_path / "site")


# --- the deadline ---------------------------------------------------------------------


def test_past_the_deadline_the_site_is_written_and_last_good_records_kept(tmp_path: Path, healthy: StaticServer) -> None:
    root = tmp_path / "slow-host"
    names = _copies(_image(tmp_path / "src.zarr", seed=3), root, 10)
    hang = Hang()
    hang.release.set()
    server, slow = _start_hanging(root, hang)
    urls = [f"{slow.url}/{n}" for n in names] + [f"{healthy.url}/img-{i}.zarr" for i in range(3)]
    csv = _csv(tmp_path / "submissions.csv", urls)
    # Nothing but the deadline stops a request: no timeout, budget or breaker within the test's time.
    settings = dict(cache=tmp_path / "cache", timeout=GIVE_UP * 2, host_failures=0, dataset_seconds=0, per_host=2)
    try:
        before = _build(csv, tmp_path / "site-1", **settings)
        hang.release.clear()
        t0 = time.monotonic()
        datasets = _build(csv, tmp_path / "site-2", deadline=5.0, **settings)
        elapsed = time.monotonic() - t0
    finally:
        hang.release.set()
        server.stop()

    assert elapsed < GIVE_UP / 2, f"the build took {elapsed:.0f} s with a 5 s deadline"
    site = tmp_path / "site-2"
    assert (site / "index.html").is_file() and (site / "report.html").is_file()
    stopped = "harvest stopped at the build's deadline (--deadline 5 s); will retry next build"
    unreached = "not harvested: the build's deadline (--deadline 5 s) passed before this dataset was reached; will retry next build"
    messages = []
    for u in urls[:10]:
        d = datasets[u]
        assert d["status"] == "stale", d["errors"]
        assert d["shape"] == before[u]["shape"] and d["thumbnail"] == before[u]["thumbnail"]
        assert (site / d["thumbnail"]).is_file()
        messages += d["errors"]
    # Two request slots, twice as many datasets of the host under way: four were stopped, six never started.
    assert messages.count(stopped) == 4 and messages.count(unreached) == 6, messages
    for u in urls[10:]:
        _assert_ok_with_thumbnail(datasets[u], site)


def test_the_pages_workflow_stops_fetching_well_before_its_timeout() -> None:
    """Whatever the hosts do, the build job writes a site and deploys: its deadline leaves room for the rest."""
    workflow = load(WORKFLOWS / "build.yml")
    _, step = find_run(workflow, "build", "ngff-catalog build")
    args = make_parser().parse_args(cli_args(step["run"]))
    timeout = workflow["jobs"]["build"]["timeout-minutes"] * 60
    # Setup, the site, the cache and the upload take minutes: half an hour is kept for them.
    assert args.deadline and args.deadline <= timeout - 30 * 60
    assert DEADLINE_SECONDS <= timeout - 30 * 60, "the default alone must let the workflow deploy too"
