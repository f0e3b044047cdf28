"""End-to-end builds against real local servers, sharing one build cache.

Host trouble (500s, resets, hangs) must never lose a dataset that was seen
before; unchanged documents must come back as 304s; unchanged arrays must
not be re-rendered; rows removed from the CSVs must leave the catalog.
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aiohttp import web

from generator.build import BuildResult, InputError, build
from generator.config import BuildConfig
from generator.dev.samples import (
    ChannelSpec,
    gradient,
    write_image,
    write_plate,
    write_rocrate,
)
from generator.dev.server import BackgroundServer, RequestLog, make_app
from generator.write import write_build


class Faults:
    """Switchable misbehaviour for one host."""

    def __init__(self) -> None:
        self.mode: str | None = None  # None, "500", "reset", "hang", "slow"

    async def __call__(self, request: web.Request) -> web.StreamResponse | None:
        if self.mode == "500":
            return web.Response(status=500, text="internal error")
        if self.mode == "reset":
            request.transport.abort()  # type: ignore[union-attr]
            return web.Response(status=500)
        if self.mode == "hang":
            await asyncio.sleep(30)
        if self.mode == "slow":
            await asyncio.sleep(0.4)  # slow, but within the timeout
        return None


@pytest.fixture
def two_hosts(tmp_path: Path):
    good_root, flaky_root = tmp_path / "good", tmp_path / "flaky"
    good_root.mkdir()
    flaky_root.mkdir()
    good_log, flaky_log = RequestLog(), RequestLog()
    faults = Faults()
    good = BackgroundServer(make_app(good_root, log=good_log)).start()
    flaky = BackgroundServer(make_app(flaky_root, log=flaky_log, hook=faults)).start()
    try:
        yield {
            "good": (good_root, good.url, good_log),
            "flaky": (flaky_root, flaky.url, flaky_log, faults),
        }
    finally:
        good.stop()
        flaky.stop()


def _write_csv(path: Path, urls: list[str]) -> Path:
    path.write_text("url\n" + "\n".join(urls) + "\n", encoding="utf-8")
    return path


def _catalog(out: Path) -> dict[str, dict]:
    doc = json.loads((out / "catalog.json").read_text())
    assert doc["schema_version"] == 1
    return {d["url"]: d for d in doc["datasets"]}


def _build(config: BuildConfig) -> BuildResult:
    """Both steps, as the CLI takes them: gather in an event loop, then write the site outside it."""
    return write_build(asyncio.run(build(config)), config)


def _config(csv: Path, tmp_path: Path, **kw) -> BuildConfig:
    defaults = dict(source=str(csv), out=tmp_path / "site", cache=tmp_path / "cache", timeout=1.5, retries=1, allow_private_addresses=True)
    defaults.update(kw)
    return BuildConfig(**defaults)


def test_rebuilds_keep_stale_use_304s_and_skip_unchanged_thumbnails(two_hosts, tmp_path: Path) -> None:
    good_root, good_url, good_log = two_hosts["good"]
    flaky_root, flaky_url, flaky_log, faults = two_hosts["flaky"]
    red_green = [ChannelSpec("a", "FF0000", 0, 50000), ChannelSpec("b", "00FF00", 0, 50000)]
    write_image(good_root / "a.zarr", gradient((2, 300, 300)), version="0.5", chunks=(1, 128, 128), shards=(1, 256, 256), channels=red_green, name="A")
    write_image(good_root / "b.zarr", gradient((1, 200, 260), "uint8"), version="0.4", chunks=(1, 128, 128), name="B")
    write_plate(good_root / "p.zarr", version="0.5", rows=("A", "B"), columns=("1", "2"))
    write_image(flaky_root / "c.zarr", gradient((1, 256, 256)), version="0.5", name="C")
    write_image(good_root / "d.zarr", gradient((1, 64, 64), "uint8"), version="0.4", name="D")
    urls = {k: f"{good_url}/{k}.zarr" for k in "abdp"}
    urls["c"] = f"{flaky_url}/c.zarr"
    csv = _write_csv(tmp_path / "submissions.csv", [urls[k] for k in "abcdp"])

    # 1. Cold build: everything fetched and rendered.
    cold = _build(_config(csv, tmp_path))
    cat = _catalog(tmp_path / "site")
    assert {d["status"] for d in cat.values()} == {"ok"}, {u: d["errors"] for u, d in cat.items()}
    assert all(cat[urls[k]]["thumbnail"] for k in "abcdp")
    assert cold.thumbnails_rendered > 0
    first_seen_c = cat[urls["c"]]["first_seen"]
    c_thumb = cat[urls["c"]]["thumbnail"]
    assert (tmp_path / "site" / c_thumb).is_file()

    # 2. The flaky host fails, d leaves the CSV, a's metadata changes (new ETag).
    good_log.clear()
    faults.mode = "500"
    doc = json.loads((good_root / "a.zarr" / "zarr.json").read_text())
    doc["attributes"]["ome"]["multiscales"][0]["name"] = "A renamed"
    (good_root / "a.zarr" / "zarr.json").write_text(json.dumps(doc))
    csv = _write_csv(csv, [urls[k] for k in "abcp"])
    warm = _build(_config(csv, tmp_path))
    cat = _catalog(tmp_path / "site")

    assert urls["d"] not in cat, "a row removed from the CSVs must leave the catalog"
    c = cat[urls["c"]]
    assert c["status"] == "stale"
    assert c["shape"] == [1, 256, 256] and c["name"] == "C", "stale keeps its last good facts"
    assert c["thumbnail"] == c_thumb and (tmp_path / "site" / c_thumb).is_file()
    assert c["first_seen"] == first_seen_c
    assert any("last OK on" in w for w in c["warnings"])
    assert cat[urls["a"]]["name"] == "A renamed", "a changed document is fetched again"
    assert cat[urls["b"]]["status"] == "ok"
    statuses = [e[3] for e in good_log.entries]
    assert statuses.count(304) >= 4, f"unchanged documents should be revalidated with 304s, got {statuses}"
    assert warm.not_modified >= 4
    assert warm.thumbnails_rendered == 0, "unchanged arrays must not be re-rendered"
    metadata_names = {"zarr.json", ".zattrs", ".zarray", ".zgroup", "ro-crate-metadata.json", "METADATA.ome.xml"}
    chunk_requests = [p for p in good_log.paths() if p.rsplit("/", 1)[-1] not in metadata_names]
    assert chunk_requests == [], f"no chunk reads for unchanged thumbnails: {chunk_requests[:5]}"

    # 3. Resets and hangs also keep the dataset as stale.
    for mode in ("reset", "hang"):
        faults.mode = mode
        _build(_config(csv, tmp_path))
        assert _catalog(tmp_path / "site")[urls["c"]]["status"] == "stale", mode

    # 4. The host recovers, slowly at first.
    faults.mode = "slow"
    _build(_config(csv, tmp_path))
    cat = _catalog(tmp_path / "site")
    assert cat[urls["c"]]["status"] == "ok"
    assert not any("last OK on" in w for w in cat[urls["c"]]["warnings"]), "a recovered dataset is no longer stale"
    faults.mode = None
    assert cat[urls["c"]]["first_seen"] == first_seen_c
    assert set(cat) == {urls[k] for k in "abcp"}

    report = json.loads((tmp_path / "site" / "report.json").read_text())
    assert isinstance(report, dict)


def test_a_missing_rocrate_is_asked_for_once_a_week_not_every_night(two_hosts, tmp_path: Path, monkeypatch) -> None:
    import generator.harvest.dataset as harvest_module

    root, url, log = two_hosts["good"]
    write_image(root / "a.zarr", gradient((1, 64, 64), "uint8"), version="0.5")
    csv = _write_csv(tmp_path / "s.csv", [f"{url}/a.zarr"])
    crate_requests = lambda: sum(1 for p in log.paths() if p.endswith("/a.zarr/ro-crate-metadata.json"))  # noqa: E731

    _build(_config(csv, tmp_path))
    assert crate_requests() == 1
    write_rocrate(root / "a.zarr", organism=("NCBI:txid9606", "Homo sapiens"))  # the provider adds one; nobody asks yet
    _build(_config(csv, tmp_path))
    assert crate_requests() == 1, "a recent 404 of an optional document is believed"
    assert _catalog(tmp_path / "site")[f"{url}/a.zarr"]["status"] == "ok"

    monkeypatch.setattr(harvest_module, "RECHECK_ABSENT_ROCRATE", 0.0)  # a week later
    _build(_config(csv, tmp_path))
    assert crate_requests() == 2
    assert _catalog(tmp_path / "site")[f"{url}/a.zarr"]["organism"] == {"id": "NCBITaxon:9606", "label": "Homo sapiens"}

    # Without a build state nothing is remembered: every build asks.
    _build(_config(csv, tmp_path, cache=None, out=tmp_path / "site2"))
    assert crate_requests() == 3


def test_a_warm_rebuild_asks_each_dataset_for_its_own_zarr_format_first(two_hosts, tmp_path: Path) -> None:
    root, url, log = two_hosts["good"]
    # Zarr v2 and v3 side by side under one path: no guess from the neighbours fits all.
    urls = []
    for i in range(6):
        write_image(root / f"d{i}.zarr", gradient((1, 32, 32), "uint8"), version="0.4" if i % 2 else "0.5")
        urls.append(f"{url}/d{i}.zarr")
    csv = _write_csv(tmp_path / "s.csv", urls)
    _build(_config(csv, tmp_path, thumbnails=False))
    root_docs = lambda: [e for e in log.entries if e[1].endswith(("/zarr.json", "/.zattrs")) and e[1].count("/") == 2]  # noqa: E731
    assert any(e[3] == 404 for e in root_docs()), "the cold build had to probe"
    log.clear()
    result = _build(_config(csv, tmp_path, thumbnails=False))
    assert sorted(e[3] for e in root_docs()) == [304] * 6, "one conditional request per dataset, no probe"
    assert {d.zarr_format for d in result.catalog.datasets} == {2, 3}


def test_no_thread_of_the_build_outlives_it_into_the_site_stage(two_hosts, tmp_path: Path, monkeypatch) -> None:
    """The site stage forks page writers, and a fork copies no thread but the
    caller: a lock another thread held stays locked in the child forever. The
    threads a build starts (the resolver's, the thumbnail renderers') must be
    gone when the site is written, after the event loop has closed."""
    import generator.write as write_module

    root, url, _ = two_hosts["good"]
    write_image(root / "a.zarr", gradient((2, 64, 64), "uint16"), version="0.5")
    # A host name, not an IP literal: aiohttp resolves it on the loop's default executor.
    csv = _write_csv(tmp_path / "s.csv", [url.replace("127.0.0.1", "localhost") + "/a.zarr"])
    alive: list[list[str]] = []
    real = write_module.write_site

    def write_site(*args, **kwargs):
        # The servers' threads run in this process too: count only the build's,
        # named by their executors.
        alive.append([t.name for t in threading.enumerate() if t.name.startswith(("build-loop", "thumbnail"))])
        return real(*args, **kwargs)

    async def run():
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(thread_name_prefix="build-loop"))
        return await build(_config(csv, tmp_path))

    monkeypatch.setattr(write_module, "write_site", write_site)
    result = write_build(asyncio.run(run()), _config(csv, tmp_path))
    assert result.catalog.datasets[0].thumbnail is not None  # the renderers did run
    assert alive == [[]]


def test_never_seen_dataset_on_a_dead_host_is_unreachable(two_hosts, tmp_path: Path) -> None:
    flaky_root, flaky_url, _, faults = two_hosts["flaky"]
    write_image(flaky_root / "c.zarr", gradient((1, 64, 64), "uint8"), version="0.4")
    faults.mode = "500"
    csv = _write_csv(tmp_path / "s.csv", [f"{flaky_url}/c.zarr"])
    result = _build(_config(csv, tmp_path))
    (d,) = result.catalog.datasets
    assert d.status == "unreachable"
    assert any("500" in e for e in d.errors)


def test_offline_build_uses_csv_columns_only(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text(
        "url,written,shape,chunks,dimension_names,name,organismId,fbbiId\n"
        'https://example.org/a.zarr,1234,"1,2,30,40","1,1,30,40","t,c,y,x",Alpha,NCBI:txid9606,obo:FBbi_00000246\n',
        encoding="utf-8",
    )
    result = _build(BuildConfig(allow_private_addresses=True, source=str(csv), out=tmp_path / "site", cache=None, offline=True))
    (d,) = _catalog(tmp_path / "site").values()
    assert result.requests == 0
    assert d["name"] == "Alpha" and d["shape"] == [1, 2, 30, 40] and d["written_bytes"] == 1234
    assert d["organism"]["id"] and d["organism"]["label"] == "Homo sapiens"
    assert d["thumbnail"] is None


def test_unusable_input_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        asyncio.run(build(BuildConfig(allow_private_addresses=True, source=str(tmp_path / "missing.csv"), out=tmp_path / "site", cache=None)))
    empty = tmp_path / "empty.csv"
    empty.write_text("url\n\n", encoding="utf-8")
    with pytest.raises(InputError):
        asyncio.run(build(BuildConfig(allow_private_addresses=True, source=str(empty), out=tmp_path / "site", cache=None)))


@pytest.mark.parametrize("cached", [False, True], ids=["no-cache", "cache"])
def test_gathering_writes_nothing_and_writing_removes_unused_thumbnails(two_hosts, tmp_path: Path, cached: bool) -> None:
    root, url, _ = two_hosts["good"]
    for name in ("a", "b"):
        write_image(root / f"{name}.zarr", gradient((1, 300, 300), "uint8"), version="0.5", name=name.upper())
    csv = _write_csv(tmp_path / "s.csv", [f"{url}/a.zarr", f"{url}/b.zarr"])
    config = _config(csv, tmp_path, cache=tmp_path / "cache" if cached else None)
    thumbs = config.out / "thumbnails"

    gathered = asyncio.run(build(config))
    assert not config.out.exists(), "the gather writes nothing into --out"
    assert gathered.thumbnail_root is not None and gathered.scratch is not cached
    rendered = {p.name for p in (gathered.thumbnail_root / "thumbnails").iterdir()}
    result = write_build(gathered, config)
    named = {Path(rel).name for d in result.catalog.datasets for rel in (d.thumbnail.card, d.thumbnail.detail) if rel}
    assert len(named) == 4, "a card and a detail rendition for each dataset"
    assert {p.name for p in thumbs.iterdir()} == named <= rendered
    if not cached:
        assert not gathered.thumbnail_root.exists(), "the scratch folder goes once the site is written"

    # b leaves the CSV: its thumbnails leave the site with it.
    _write_csv(csv, [f"{url}/a.zarr"])
    (thumbs / "stray.webp").write_bytes(b"not ours")
    (a,) = _build(config).catalog.datasets
    assert {p.name for p in thumbs.iterdir()} == {Path(a.thumbnail.card).name, Path(a.thumbnail.detail).name}
    assert _catalog(config.out)[f"{url}/a.zarr"]["thumbnail"] == a.thumbnail.card
