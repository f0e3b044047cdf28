"""s3:// datasets against a real S3-compatible server (moto's threaded server) on 127.0.0.1.

zarr-python writes OME-Zarr 0.4 and 0.5 (sharded) datasets into a bucket
whose policy allows anonymous reading, as public data buckets do, with a
private bucket beside it. The catalog harvests them from their s3:// URLs
(endpoint from the CSV's ``endpoint`` column, or from the environment),
renders thumbnails with partial shard reads, links to their HTTPS form and
rebuilds warm with conditional requests; every request is counted at the
server, which logs what it was sent.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

s3fs = pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

from generator.build import BuildResult, build  # noqa: E402
from generator.config import BuildConfig  # noqa: E402
from generator.dev.objectstore import get_public_policy, make_server  # noqa: E402
from generator.dev.samples import gradient, write_image  # noqa: E402
from generator.object_urls import get_public_url  # noqa: E402
from generator.plan import choose_level, get_axis_roles, get_plane_selection  # noqa: E402
from generator.sources.urls import UrlError, parse_dataset_url  # noqa: E402
from generator.write import write_build  # noqa: E402
from tests.test_thumbnails import _plane_stored_bytes  # noqa: E402

PUBLIC, PRIVATE, NOCORS = "public-ngff", "private-ngff", "public-nocors"
KEYS = {"key": "testing", "secret": "testing"}  # the writer's; the catalog reads anonymously


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    server = make_server()
    endpoint = server.endpoint
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True, **KEYS)
    for bucket in (PUBLIC, PRIVATE, NOCORS):
        fs.mkdir(bucket)
    for bucket in (PUBLIC, NOCORS):
        fs.call_s3("put_bucket_policy", Bucket=bucket, Policy=get_public_policy(bucket))
    cors = {"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"], "AllowedHeaders": ["*"]}]}
    fs.call_s3("put_bucket_cors", Bucket=PUBLIC, CORSConfiguration=cors)
    options = {"endpoint_url": endpoint, **KEYS}
    local = tmp_path_factory.mktemp("local")
    image = gradient((2, 8, 512, 512), "uint16")
    for where in (f"s3://{PUBLIC}/set/sharded.zarr", local / "sharded.zarr"):
        remote = {"storage_options": options} if isinstance(where, str) else {}
        # A shard holds four z planes: the thumbnail's plane is a quarter of it, read by range.
        write_image(where, image, axes="czyx", version="0.5", levels=2, chunks=(1, 1, 128, 128), shards=(1, 4, 256, 256),
                    **remote)
    write_image(f"s3://{PUBLIC}/set/v04.zarr", gradient((1, 256, 256), "uint8"), axes="cyx", version="0.4", levels=2,
                storage_options=options)
    write_image(f"s3://{NOCORS}/x.zarr", gradient((1, 64, 64), "uint8"), axes="cyx", version="0.5", levels=1,
                storage_options=options)
    write_image(f"s3://{PRIVATE}/secret.zarr", gradient((1, 64, 64), "uint8"), axes="cyx", version="0.5", levels=1,
                storage_options=options)
    server.take()
    try:
        yield {"endpoint": endpoint, "server": server, "local": local, "fs": fs}
    finally:
        server.stop()


def _csv(path: Path, rows: list[str], header: str = "url,endpoint") -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _build(config: BuildConfig) -> BuildResult:
    return write_build(asyncio.run(build(config)), config)


def _catalog(out: Path) -> dict[str, dict]:
    return {d["url"]: d for d in json.loads((out / "catalog.json").read_text())["datasets"]}


def _config(csv: Path, tmp_path: Path, **kw) -> BuildConfig:
    settings = dict(source=str(csv), out=tmp_path / "site", cache=tmp_path / "cache", timeout=5.0, retries=1,
                    allow_private_addresses=True)
    settings.update(kw)
    return BuildConfig(**settings)


SHARDED = f"s3://{PUBLIC}/set/sharded.zarr"
V04 = f"s3://{PUBLIC}/set/v04.zarr"


def test_anonymous_access_follows_the_bucket_policy(store) -> None:
    """moto enforces the policy for unsigned GETs (as a browser sends): the private bucket refuses."""
    with urllib.request.urlopen(f"{store['endpoint']}/{PUBLIC}/set/sharded.zarr/zarr.json") as r:
        assert json.loads(r.read())["node_type"] == "group"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{store['endpoint']}/{PRIVATE}/secret.zarr/zarr.json")
    assert refused.value.code == 403
    refused.value.close()


def test_harvests_from_the_endpoint_column_and_errors_stay_per_dataset(store, tmp_path: Path) -> None:
    ep = store["endpoint"]
    csv = _csv(tmp_path / "s.csv", [
        f"{SHARDED},{ep}",
        f"{V04},{ep}/",
        f"s3://{PRIVATE}/secret.zarr,{ep}",
        f"s3://{PUBLIC}/set/missing.zarr,{ep}",
        f"s3://no-such-bucket/x.zarr,{ep}",
        f"s3://Not_A_Bucket/x.zarr,{ep}",
        "ftp://example.org/x.zarr,",
        f"s3://{PUBLIC}/set/v04.zarr/0,file:///etc",
        f"s3://{NOCORS}/x.zarr,{ep}",
    ])
    result = _build(_config(csv, tmp_path, thumbnails=False))
    assert result is not None
    got = _catalog(tmp_path / "site")
    assert got[SHARDED]["status"] == "ok" and got[SHARDED]["zarr_format"] == 3 and got[SHARDED]["ngff_version"] == "0.5"
    assert got[SHARDED]["shards"] == [1, 4, 256, 256]
    assert got[V04]["status"] == "ok" and got[V04]["zarr_format"] == 2 and got[V04]["ngff_version"] == "0.4"
    # url as listed; the HTTPS form a browser opens is path style on a custom endpoint
    assert got[SHARDED]["https_url"] == f"{ep}/{PUBLIC}/set/sharded.zarr"
    assert got[V04]["endpoint"] == ep  # "…/" and "…" are one endpoint
    private = got[f"s3://{PRIVATE}/secret.zarr"]
    assert private["status"] == "unreachable"
    assert private["errors"][0].startswith("access denied: no Zarr group readable at this URL")
    assert f"bucket '{PRIVATE}' does not allow anonymous reading" in private["errors"][0]
    missing = got[f"s3://{PUBLIC}/set/missing.zarr"]
    assert missing["status"] == "unreachable"
    assert missing["errors"][0].startswith("not found: no Zarr group at this URL")
    assert "no such key 'set/missing.zarr/zarr.json'" in missing["errors"][0]
    assert "bucket 'no-such-bucket' does not exist (NoSuchBucket)" in got["s3://no-such-bucket/x.zarr"]["errors"][0]
    report = json.loads((tmp_path / "site" / "report.json").read_text())
    row_errors = " | ".join(e["message"] for e in report["row_errors"])
    assert "'Not_A_Bucket' is not a valid bucket name" in row_errors
    assert "unsupported scheme 'ftp'" in row_errors
    assert "endpoint: unsupported scheme 'file'" in row_errors
    # the CORS probe: the requests carry a browser's Origin, and the bucket's rules answer
    assert got[SHARDED]["cors"] is True
    assert got[f"s3://{NOCORS}/x.zarr"]["status"] == "ok" and got[f"s3://{NOCORS}/x.zarr"]["cors"] is False
    assert len(got) == 6


def test_pages_link_the_https_form_and_snippets_keep_the_s3_url(store, tmp_path: Path) -> None:
    ep = store["endpoint"]
    _build(_config(_csv(tmp_path / "s.csv", [f"{SHARDED},{ep}"]), tmp_path, thumbnails=False))
    d = _catalog(tmp_path / "site")[SHARDED]
    page = (tmp_path / "site" / "datasets" / d["id"] / "index.html").read_text()
    https = f"{ep}/{PUBLIC}/set/sharded.zarr"
    quoted = https.replace(":", "%3A").replace("/", "%2F")
    assert f"vizarr/?source={quoted}" in page
    assert f"?source={quoted}" in page.split("vizarr", 1)[0]  # the validator link, before vizarr's
    assert "s3%3A%2F%2F" not in page  # no viewer is handed the s3:// form
    assert "zarr.open_group(&#39;s3://public-ngff/set/sharded.zarr&#39;" in page
    assert f"&#34;endpoint_url&#34;: &#39;{ep}&#39;" in page
    assert f"AWS_ENDPOINT_URL_S3=&#39;{ep}&#39; napari --plugin napari-ome-zarr &#39;{SHARDED}&#39;" in page


def test_endpoint_from_the_environment(store, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", store["endpoint"])
    _build(_config(_csv(tmp_path / "s.csv", [V04], header="url"), tmp_path, thumbnails=False))
    d = _catalog(tmp_path / "site")[V04]
    assert d["status"] == "ok", d["errors"]
    assert d["endpoint"] == store["endpoint"]


def test_a_private_endpoint_address_is_refused_unless_allowed(store, tmp_path: Path) -> None:
    csv = _csv(tmp_path / "s.csv", [f"{V04},{store['endpoint']}"])
    store["server"].take()
    _build(_config(csv, tmp_path, thumbnails=False, allow_private_addresses=False))
    d = _catalog(tmp_path / "site")[V04]
    assert d["status"] == "unreachable"
    assert f"endpoint {store['endpoint']}: refusing loopback address 127.0.0.1" in d["errors"][0]
    assert store["server"].take() == []  # not one request reached it


def test_thumbnail_reads_partial_shards_within_1_2x_of_the_plane(store, tmp_path: Path) -> None:
    csv = _csv(tmp_path / "s.csv", [f"{SHARDED},{store['endpoint']}"])
    store["server"].take()
    _build(_config(csv, tmp_path))
    d = _catalog(tmp_path / "site")[SHARDED]
    assert d["thumbnail"], d["warnings"]
    log = store["server"].take()
    meta_names = ("zarr.json", "ro-crate-metadata.json")
    chunks = [e for e in log if e[0] == "GET" and "/c/" in e[1] and not e[1].endswith(meta_names)]
    assert chunks and all(e[2] is not None for e in chunks)  # every chunk read is a range: no whole shard
    assert any(e[2].startswith("bytes=-") for e in chunks)  # the shard index, by suffix range
    level_paths = {e[1].split("/")[4] for e in chunks}
    assert len(level_paths) == 1
    from generator.records import Dataset

    record = Dataset.from_dict({**d, "resolutions": d["resolutions"]})
    roles = get_axis_roles(record.axes, len(record.resolutions[0].shape))
    level = record.resolutions[choose_level(record.resolutions, roles, 256)]
    assert level_paths == {level.path}
    level_dir = store["local"] / "sharded.zarr" / level.path
    meta = json.loads((level_dir / "zarr.json").read_text())
    minimum = _plane_stored_bytes(level_dir, meta, get_plane_selection(meta["shape"], roles))
    fetched = sum(e[5] for e in chunks)
    assert 0 < fetched <= 1.2 * minimum, (fetched, minimum)


def test_a_warm_rebuild_asks_conditionally_and_reads_no_unchanged_document(store, tmp_path: Path) -> None:
    csv = _csv(tmp_path / "s.csv", [f"{SHARDED},{store['endpoint']}", f"{V04},{store['endpoint']}"])
    config = _config(csv, tmp_path, thumbnails=False)
    store["server"].take()
    _build(config)
    cold = [e for e in store["server"].take() if e[0] == "GET"]
    assert cold and all(e[3] is None for e in cold)
    _build(config)
    warm = [e for e in store["server"].take() if e[0] == "GET"]
    read_again = [e for e in warm if e[4] == 200]
    assert warm and read_again == [], read_again
    assert all(e[3] for e in warm if e[4] == 304)
    assert sum(1 for e in warm if e[4] == 304) == sum(1 for e in cold if e[4] == 200)
    assert all(d["status"] == "ok" for d in _catalog(tmp_path / "site").values())
    # a changed document is read again
    store["fs"].pipe(f"{PUBLIC}/set/v04.zarr/.zattrs", store["fs"].cat(f"{PUBLIC}/set/v04.zarr/.zattrs") + b" ")
    store["server"].take()
    _build(config)
    changed = [e for e in store["server"].take() if e[0] == "GET" and e[4] == 200]
    assert [e[1] for e in changed] == [f"/{PUBLIC}/set/v04.zarr/.zattrs"]


def test_no_credentials_are_written_anywhere(store, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASECRETLOOKINGKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value")
    store["server"].take()
    _build(_config(_csv(tmp_path / "s.csv", [f"{V04},{store['endpoint']}"]), tmp_path, thumbnails=False))
    assert _catalog(tmp_path / "site")[V04]["status"] == "ok"
    for path in [*(tmp_path / "site").rglob("*"), *(tmp_path / "cache").rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert b"AKIASECRETLOOKINGKEY" not in data and b"very-secret-value" not in data, path
    sent = store["server"].take()
    assert sent and not any(e[6] for e in sent)  # the data was read, and no request was signed


@pytest.mark.parametrize(
    "url, endpoint, https",
    [
        ("s3://idr-public/a b.zarr", None, "https://idr-public.s3.amazonaws.com/a%20b.zarr"),
        ("s3://idr.public/x.zarr", None, "https://s3.amazonaws.com/idr.public/x.zarr"),
        ("s3://idr/x.zarr", "https://uk1s3.embassy.ebi.ac.uk", "https://uk1s3.embassy.ebi.ac.uk/idr/x.zarr"),
        ("gs://ucsc-data/x.zarr", None, "https://storage.googleapis.com/ucsc-data/x.zarr"),
        ("https://h.org/x.zarr", None, "https://h.org/x.zarr"),
    ],
)
def test_public_https_url(url: str, endpoint: str | None, https: str) -> None:
    assert get_public_url(parse_dataset_url(url), endpoint) == https


@pytest.mark.parametrize(
    "url, message",
    [
        ("s3://ab/x.zarr", "not a valid bucket name"),
        ("s3://under_score/x.zarr", "not a valid bucket name"),
        ("s3://192.168.1.1/x.zarr", "it is an IP address"),
        ("s3://user:pw@bucket/x.zarr", "credentials"),
        ("s3://bucket/x.zarr?versionId=1", "no query"),
        ("gopher://h/x", "unsupported scheme 'gopher'"),
    ],
)
def test_bad_object_urls_are_row_errors(url: str, message: str) -> None:
    with pytest.raises(UrlError, match=message):
        parse_dataset_url(url)


def test_check_takes_s3_urls_on_the_command_line(store, tmp_path: Path, capsys, monkeypatch) -> None:
    from generator.cli import main

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", store["endpoint"])
    code = main(["check", "--allow-private-addresses", V04, f"s3://{PRIVATE}/secret.zarr", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 1, out  # the private dataset fails the check
    assert any("PASS" in line and "v04.zarr" in line for line in out.splitlines()), out
    assert "access denied" in out, out
