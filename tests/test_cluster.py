"""Builds on a real Dask ``LocalCluster`` of worker processes against the local data server.

The cluster build must give the single-process build's catalog and
thumbnails, lose nothing when a worker dies mid-batch, and hold the
per-host request limit across all its workers (counted by the server).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from collections import Counter
from pathlib import Path
from typing import Iterator

import psutil
import pytest
from aiohttp import web

from generator.build import BuildResult, build
from generator.cluster.batches import (
    BatchInput,
    BatchOutput,
    DaskTarget,
    WorkerSettings,
    get_batches,
    merge_outputs,
    parse_dask_target,
    split_limit,
)
from generator.config import BuildConfig
from generator.dev.samples import ChannelSpec, gradient, write_image, write_plate
from generator.dev.server import BackgroundServer, make_app
from generator.write import write_build

distributed = pytest.importorskip("distributed")

DATASETS = 14
BATCH = 3  # five batches: several per worker, and a short last one


class HostCounter:
    """A server hook: counts requests in flight per host, and can hold one path until released."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.hold_path: str | None = None
        self.held = threading.Event()  # the held request arrived
        self.release = threading.Event()
        self.peer: tuple[str, int] | None = None

    def reset(self) -> None:
        with self.lock:
            self.in_flight.clear()
            self.peak.clear()

    async def __call__(self, request: web.Request) -> web.StreamResponse | None:
        host = request.host
        with self.lock:
            self.in_flight[host] += 1
            self.peak[host] = max(self.peak[host], self.in_flight[host])
        try:
            if request.path == self.hold_path and not self.held.is_set():
                self.peer = request.transport.get_extra_info("peername")  # type: ignore[union-attr]
                self.held.set()
                while not self.release.is_set():
                    await asyncio.sleep(0.02)
            else:
                await asyncio.sleep(0.01)  # a window for requests to overlap in
        finally:
            with self.lock:
                self.in_flight[host] -= 1
        return None


def _write_data(root: Path) -> list[str]:
    names = []
    for i in range(DATASETS - 1):
        name = f"img{i:02d}.zarr"
        version = "0.5" if i % 2 == 0 else "0.4"
        channels = 1 + i % 3
        data = gradient((channels, 96 + 16 * i, 128), ("uint8", "uint16", "float32")[i % 3], seed=i)
        shards = (1, 64, 64) if i % 4 == 0 else None
        chans = [ChannelSpec(f"c{k}", ("FF0000", "00FF00", "0000FF")[k], 0, 200) for k in range(channels)] if i % 2 else None
        write_image(root / name, data, version=version, levels=2, chunks=(1, 32, 32), shards=shards, channels=chans)
        names.append(name)
    write_plate(root / "plate.zarr", field_shape=(1, 48, 48))
    names.append("plate.zarr")
    names.append("missing.zarr")  # unreachable: a 404 at every document
    return names


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, HostCounter]]:
    root = tmp_path_factory.mktemp("cluster-data")
    www = root / "www"
    www.mkdir()
    counter = HostCounter()
    server = BackgroundServer(make_app(www, hook=counter)).start()
    names = _write_data(www)
    (root / "submissions.csv").write_text("url\n" + "".join(f"{server.url}/{n}\n" for n in names), encoding="utf-8")
    try:
        yield root, counter
    finally:
        counter.release.set()
        server.stop()


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster) -> Iterator[object]:
    with distributed.Client(cluster) as c:
        yield c


def _config(root: Path, name: str, **kw) -> BuildConfig:
    defaults = dict(
        source=str(root / "submissions.csv"), out=root / name / "site", cache=root / name / "cache",
        timeout=5.0, retries=1, allow_private_addresses=True, dask_batch=BATCH,
    )
    defaults.update(kw)
    return BuildConfig(**defaults)


def _build(config: BuildConfig) -> BuildResult:
    return write_build(asyncio.run(build(config)), config)


def _catalog(out: Path) -> dict:
    """catalog.json without its timestamps (the build's time, and each record's first and last seen)."""
    doc = json.loads((out / "catalog.json").read_text())
    doc.pop("generated_at")
    for d in doc["datasets"]:
        d.pop("first_seen", None)
        d.pop("last_ok", None)
    return doc


def _thumbnails(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "thumbnails").iterdir())}


@pytest.fixture(scope="module")
def single(data) -> tuple[dict, dict[str, bytes]]:
    root, _ = data
    config = _config(root, "single")
    _build(config)
    return _catalog(config.out), _thumbnails(config.out)


def _wait_for_workers(client) -> None:  # type: ignore[no-untyped-def]
    # One is enough for every test here; a killed worker's replacement may still be starting.
    client.wait_for_workers(1, timeout=120)


def test_the_cluster_build_is_the_single_process_build(data, single, cluster, client) -> None:
    root, counter = data
    _wait_for_workers(client)
    config = _config(root, "cluster", dask=cluster.scheduler_address)
    first = _build(config)
    catalog, thumbnails = single
    assert _catalog(config.out) == catalog
    assert _thumbnails(config.out) == thumbnails
    assert len(thumbnails) >= DATASETS - 1  # every image and the plate drew
    assert first.thumbnails_rendered == sum(1 for n in thumbnails if "-256." in n)
    assert first.requests > 0

    # The state stays with the driver, and each batch is sent the validators its URLs need:
    # a second build revalidates every document (304s) and draws nothing again.
    again = _build(config)
    assert again.not_modified > 0
    assert again.thumbnails_rendered == 0
    assert _catalog(config.out) == catalog
    assert _thumbnails(config.out) == thumbnails


def test_per_host_limit_holds_across_the_cluster(data, single, cluster, client) -> None:
    root, counter = data
    _wait_for_workers(client)
    counter.reset()
    config = _config(root, "limits", dask=cluster.scheduler_address, per_host=2, cache=None)
    _build(config)
    (host,) = counter.peak
    assert 1 <= counter.peak[host] <= 2
    assert _catalog(config.out) == single[0]


def test_a_host_the_breaker_gave_up_on_is_skipped_by_later_batches(tmp_path: Path, cluster, client) -> None:
    requests = Counter()

    async def down(request: web.Request) -> web.StreamResponse:
        requests[request.path] += 1
        return web.Response(status=503, text="down")

    server = BackgroundServer(make_app(tmp_path, hook=down)).start()
    try:
        n = 16
        csv = tmp_path / "down.csv"
        csv.write_text("url\n" + "".join(f"{server.url}/d{i:02d}.zarr\n" for i in range(n)), encoding="utf-8")
        _wait_for_workers(client)
        config = BuildConfig(
            source=str(csv), out=tmp_path / "site", cache=None, retries=0, host_failures=1, allow_private_addresses=True,
            dask=cluster.scheduler_address, dask_batch=1, thumbnails=False,
        )
        result = _build(config)
    finally:
        server.stop()
    assert [d.status for d in result.catalog.datasets] == ["unreachable"] * n
    # Sixteen one-dataset batches, four at a time: those sent after the first answer
    # skip the host without a request, as the single-process build's breaker does.
    assert sum(requests.values()) < n
    assert any("skipped after 1 consecutive failures" in e for d in result.catalog.datasets for e in d.errors)


def test_batches_split_and_merge_in_entry_order(data) -> None:
    entries = list(range(10))
    batches = get_batches(entries, 4)  # type: ignore[arg-type]
    assert [len(b) for b in batches] == [4, 4, 2]
    outputs = [BatchOutput(index=i, datasets=b) for i, b in enumerate(batches)]  # type: ignore[arg-type]
    assert merge_outputs(outputs[::-1]) == entries


def test_limits_split_between_task_slots_never_to_zero() -> None:
    assert split_limit(16, 2) == 8
    assert split_limit(16, 3) == 5
    assert split_limit(1, 4) == 1


def test_dask_targets() -> None:
    assert parse_dask_target("local") == DaskTarget(workers=None)
    assert parse_dask_target("local:3") == DaskTarget(workers=3)
    assert parse_dask_target("tcp://10.0.0.5:8786") == DaskTarget(address="tcp://10.0.0.5:8786")
    for bad in ("local:0", "", "tcp://a b"):
        with pytest.raises(ValueError):
            parse_dask_target(bad)


def test_what_travels_to_a_worker_and_back_pickles(data, single) -> None:
    import pickle

    from generator.records import Entry
    from generator.state import State

    root, _ = data
    config = _config(root, "single")
    with State(config.cache) as state:
        urls = sorted(state.get_urls())
        records = tuple(state.get_dataset(u) for u in urls)
        validators = tuple(v for u in urls for v in state.get_validators_under(u))
    assert validators and all(r is not None for r in records)
    entries = tuple(Entry(url=u, source="s", collection="c", listings=()) for u in urls)
    thumbs = tuple((r.thumbnail.key, r.thumbnail) for r in records if r.thumbnail is not None)
    batch = BatchInput(0, entries, validators=validators, known_formats=(("u", 3),), known_thumbnails=thumbs)
    settings = WorkerSettings(config, deadline_at=1.0, deadline_seconds=5.0)
    out = BatchOutput(0, records, files=(("k-256.webp", b"x"),), validators=validators)
    assert pickle.loads(pickle.dumps((batch, settings, out))) == (batch, settings, out)


def test_cli_dask_local_starts_a_cluster_of_its_own(data, single) -> None:
    from generator.cli import main

    root, _ = data
    out = root / "cli" / "site"
    code = main([
        "build", str(root / "submissions.csv"), "--out", str(out), "--cache", str(root / "cli" / "cache"),
        "--timeout", "5", "--allow-private-addresses", "--dask", "local:1", "--dask-batch", "4", "-q",
    ])
    assert code == 0
    assert _catalog(out) == single[0]
    assert _thumbnails(out) == single[1]


def test_cli_refuses_a_malformed_dask_target(capsys) -> None:
    from generator.cli import main

    with pytest.raises(SystemExit):
        main(["build", "x.csv", "--out", "o", "--dask", "local:0"])
    assert "local:N needs N >= 1" in capsys.readouterr().err


def test_a_worker_killed_mid_batch_loses_nothing(data, single, cluster, client) -> None:
    root, counter = data
    _wait_for_workers(client)
    counter.hold_path = "/img07.zarr/.zattrs"  # a v0.4 image in the third batch
    config = _config(root, "killed", dask=cluster.scheduler_address)
    done: dict[str, object] = {}

    def run() -> None:
        try:
            done["result"] = _build(config)
        except BaseException as e:  # reported below
            done["error"] = e

    builder = threading.Thread(target=run)
    builder.start()
    try:
        assert counter.held.wait(60), "the held request never came"
        pid = _owner_of(counter.peer)
        workers = set(client.run(os.getpid).values())
        assert pid in workers  # the request came from a worker process, not the driver
        os.kill(pid, signal.SIGKILL)
    finally:
        counter.release.set()
        builder.join(120)
    assert "error" not in done, done.get("error")
    assert _catalog(config.out) == single[0]
    assert _thumbnails(config.out) == single[1]


def _owner_of(peer: tuple[str, int] | None) -> int:
    """The process holding the client end of a connection to the server."""
    assert peer is not None
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and (conn.laddr.ip, conn.laddr.port) == tuple(peer[:2]) and conn.pid:
            return conn.pid
    raise AssertionError(f"no process holds {peer}")
