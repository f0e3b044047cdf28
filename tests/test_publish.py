"""``ngff-catalog publish`` against a real S3-compatible server (moto, threaded, 127.0.0.1) and a folder."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Iterator

import pytest

s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

from generator.cli import main  # noqa: E402
from generator.publish import IMMUTABLE, MANIFEST, SHORT, publish  # noqa: E402
from generator.site.pages import write_site  # noqa: E402
from tests.site_fixtures import make_catalog  # noqa: E402

BUCKET = "catalog-site"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(endpoint: str, monkeypatch: pytest.MonkeyPatch):
    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, key="testing", secret="testing", skip_instance_cache=True)
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    for path in fs.find(BUCKET):
        fs.rm(path)
    fs.invalidate_cache()
    return fs


def site_of(src: Path, name: str, catalog) -> Path:
    """The catalog's site in ``src/name``, with the thumbnails it names from ``src``."""
    out = src / name
    for d in catalog.datasets:
        for rel in (d.thumbnail.card, d.thumbnail.detail) if d.thumbnail else ():
            if rel:
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src / rel, out / rel)
    write_site(catalog, out)
    return out


def head(fs, path: str) -> dict:
    return fs.call_s3("head_object", Bucket=BUCKET, Key=path.split("/", 1)[1])


def test_first_publish_uploads_everything_with_types_and_cache_headers(tmp_path, s3, endpoint):
    catalog = make_catalog(tmp_path / "src")
    site = site_of(tmp_path / "src", "site", catalog)
    result = publish(site, f"s3://{BUCKET}/cat", endpoint=endpoint)
    files = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert sorted(result.uploaded) == files and result.kept == () and result.deleted == ()
    s3.invalidate_cache()
    assert s3.cat_file(f"{BUCKET}/cat/index.html") == (site / "index.html").read_bytes()

    index = head(s3, f"{BUCKET}/cat/index.html")
    assert index["ContentType"] == "text/html; charset=utf-8" and index["CacheControl"] == SHORT
    thumb = next(f for f in files if f.startswith("thumbnails/") and f.endswith(".webp"))
    t = head(s3, f"{BUCKET}/cat/{thumb}")
    assert t["ContentType"] == "image/webp" and t["CacheControl"] == IMMUTABLE
    assert head(s3, f"{BUCKET}/cat/catalog.json")["ContentType"] == "application/json; charset=utf-8"
    assert head(s3, f"{BUCKET}/cat/assets/site.css")["ContentType"] == "text/css; charset=utf-8"
    assert head(s3, f"{BUCKET}/cat/catalog.csv")["ContentType"] == "text/csv; charset=utf-8"
    manifest = json.loads(s3.cat_file(f"{BUCKET}/cat/{MANIFEST}"))
    assert set(manifest["files"]) == set(files)


def test_second_publish_uploads_only_what_changed_and_deletes_what_is_gone(tmp_path, s3, endpoint):
    catalog = make_catalog(tmp_path / "src")
    first = site_of(tmp_path / "src", "site1", catalog)
    publish(first, f"s3://{BUCKET}/cat", endpoint=endpoint)

    # The same site again: nothing is uploaded.
    again = publish(first, f"s3://{BUCKET}/cat", endpoint=endpoint)
    assert again.uploaded == () and again.deleted == () and len(again.kept) > 10

    # A dataset removed: its page goes, the pages that list it change.
    removed = catalog.datasets[0]
    smaller = dataclasses.replace(catalog, datasets=catalog.datasets[1:])
    second = site_of(tmp_path / "src", "site2", smaller)
    result = publish(second, f"s3://{BUCKET}/cat", endpoint=endpoint)
    page = f"datasets/{removed.id}/index.html"
    assert page in result.deleted
    assert removed.thumbnail.card in result.deleted
    # Only files whose bytes differ were sent: the other dataset pages are kept.
    changed = {p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file()
               and (first / p.relative_to(second)).is_file() is False
               or (p.is_file() and (first / p.relative_to(second)).read_bytes() != p.read_bytes())}
    assert set(result.uploaded) == changed
    assert "index.html" in result.uploaded and f"datasets/{smaller.datasets[0].id}/index.html" in result.kept
    s3.invalidate_cache()
    assert not s3.exists(f"{BUCKET}/cat/{page}")
    assert s3.exists(f"{BUCKET}/cat/datasets/{smaller.datasets[0].id}/index.html")


def test_publish_cli_reads_the_endpoint_from_the_environment(tmp_path, s3, endpoint, monkeypatch, capsys):
    site = site_of(tmp_path, "site", make_catalog(tmp_path))
    assert any((site / "thumbnails").iterdir())
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    assert main(["publish", str(site), f"s3://{BUCKET}/env"]) == 0
    out = capsys.readouterr().out
    assert "files uploaded" in out and "0 deleted" in out
    s3.invalidate_cache()
    assert s3.exists(f"{BUCKET}/env/index.html")


def test_publish_to_a_local_folder(tmp_path):
    catalog = make_catalog(tmp_path / "src")
    site = site_of(tmp_path / "src", "site", catalog)
    dest = tmp_path / "dest"
    first = publish(site, str(dest))
    assert (dest / "index.html").read_bytes() == (site / "index.html").read_bytes()
    assert len(first.uploaded) == sum(1 for p in site.rglob("*") if p.is_file())
    second = publish(site, str(dest))
    assert second.uploaded == () and second.deleted == ()
    smaller = site_of(tmp_path / "src", "site2", dataclasses.replace(catalog, datasets=catalog.datasets[1:]))
    third = publish(smaller, str(dest))
    gone = dest / "datasets" / catalog.datasets[0].id / "index.html"
    assert f"datasets/{catalog.datasets[0].id}/index.html" in third.deleted and not gone.exists()


def test_publish_refuses_a_folder_that_is_no_site(tmp_path, capsys):
    assert main(["publish", str(tmp_path), str(tmp_path / "dest")]) == 2
    assert "has no index.html" in capsys.readouterr().err
