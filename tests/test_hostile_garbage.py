"""Issue 10, case 5: a garbage answer does not erase the last good record.

A host that answers a Zarr document's URL with 200 and something that is no
Zarr document at all (an HTML page, random bytes, a JSON array) is at fault,
not the dataset: a dataset that was good before keeps its last good facts
and thumbnail as ``stale``, with the reason, and the build state keeps the
good record, so the build after the host recovers is ``ok`` again with the
same thumbnail. A dataset never seen good that answers garbage is reported
as ``invalid``, saying what the host sent. Every build here harvests real
OME-Zarr written by zarr-python from a real local server, next to a good
dataset that stays ``ok`` with its thumbnail.
"""

from __future__ import annotations

import json
import random
import sqlite3
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest
from aiohttp import web

from generator.cli import main
from generator.dev.samples import gradient, write_image
from generator.dev.server import BackgroundServer, make_app
from generator.state_schema import DB_NAME

HTML = b"<!DOCTYPE html>\n<html><head><title>Maintenance</title></head><body><h1>Back soon</h1></body></html>\n"
RANDOM = b"\xff" + random.Random(5).randbytes(4095)  # never starts like JSON


@dataclass
class Garbage:
    """The data host's hook: answers the listed paths itself, with 200 and a body."""

    answers: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> (body, content type)
    status: dict[str, int] = field(default_factory=dict)  # path -> an HTTP error status instead

    async def __call__(self, request: web.Request) -> web.StreamResponse | None:
        if request.path in self.status:
            return web.Response(status=self.status[request.path], text="unavailable")
        if request.path in self.answers:
            body, content_type = self.answers[request.path]
            return web.Response(status=200, body=body, headers={"Content-Type": content_type})
        return None

    def clear(self) -> None:
        self.answers.clear()
        self.status.clear()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Garbage]]:
    root = tmp_path_factory.mktemp("www")
    write_image(root / "good.zarr", gradient((1, 96, 96), "uint8"), version="0.5", name="Good")
    write_image(root / "v3.zarr", gradient((2, 128, 128)), version="0.5", chunks=(1, 64, 64), name="Three")
    write_image(root / "v2.zarr", gradient((1, 80, 80), "uint8", seed=1), version="0.4", name="Two")
    write_image(root / "new.zarr", gradient((1, 64, 64), "uint8", seed=2), version="0.5", name="New")
    hook = Garbage()
    background = BackgroundServer(make_app(root, hook=hook)).start()
    try:
        yield background.url, hook
    finally:
        background.stop()


@pytest.fixture
def host(server: tuple[str, Garbage]) -> Iterator[tuple[str, Garbage]]:
    url, hook = server
    hook.clear()
    try:
        yield url, hook
    finally:
        hook.clear()


@pytest.fixture
def www_doc(server: tuple[str, Garbage]) -> bytes:
    """new.zarr's real zarr.json, as zarr-python wrote it."""
    with urllib.request.urlopen(f"{server[0]}/new.zarr/zarr.json", timeout=30) as r:
        return r.read()


def _build(tmp_path: Path, url: str, names: tuple[str, ...]) -> dict[str, dict]:
    csv = tmp_path / "submissions.csv"
    csv.write_text("url\n" + "".join(f"{url}/{n}\n" for n in names), encoding="utf-8")
    args = ["build", str(csv), "--out", str(tmp_path / "site"), "--cache", str(tmp_path / "cache"), "--timeout", "30", "-q", "--allow-private-addresses"]
    assert main(args) == 0
    return {d["url"]: d for d in json.loads((tmp_path / "site" / "catalog.json").read_text())["datasets"]}


def _stored(tmp_path: Path, url: str) -> tuple[str, int]:
    """The state's record of ``url`` as stored (its JSON text) and whether it is a good one."""
    db = sqlite3.connect(f"file:{tmp_path / 'cache' / DB_NAME}?mode=ro", uri=True)
    try:
        return db.execute("SELECT record, good FROM datasets WHERE url=?", (url,)).fetchone()
    finally:
        db.close()


def _assert_good(site: Path, d: dict) -> None:
    assert d["status"] == "ok" and not d["errors"], d["errors"]
    assert d["thumbnail"] and (site / d["thumbnail"]).is_file()


CASES = {
    # name: (dataset, path answered with garbage, body, content type, the error's head)
    "html page": ("v3.zarr", "zarr.json", HTML, "text/html", "zarr.json: the host answered with an HTML page"),
    "random bytes": ("v3.zarr", "zarr.json", RANDOM, "application/octet-stream", "zarr.json: the host answered with binary data (not UTF-8 text)"),
    "json array": ("v3.zarr", "zarr.json", b'[{"zarr_format": 3}]', "application/json", "zarr.json: the host answered with JSON that is a list"),
    "plain text": ("v3.zarr", "zarr.json", b"Service Unavailable\n", "text/plain", "zarr.json: invalid JSON at line 1 column 1 (Expecting value)"),
    "json error object": (
        "v3.zarr", "zarr.json", b'{"error": "AccessDenied"}', "application/json",
        "zarr.json: the host answered with a JSON object that has none of 'zarr_format', 'node_type', 'attributes'",
    ),
    "html for a level": ("v3.zarr", "0/zarr.json", HTML, "text/html; charset=utf-8", "0/zarr.json: the host answered with an HTML page"),
    "html for zarr v2": ("v2.zarr", ".zattrs", HTML, "text/html", ".zattrs: the host answered with an HTML page"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_garbage_answer_keeps_the_last_good_record_as_stale(case: str, host: tuple[str, Garbage], tmp_path: Path) -> None:
    url, hook = host
    name, path, body, content_type, head = CASES[case]
    names = ("good.zarr", name)
    victim, site = f"{url}/{name}", tmp_path / "site"

    first = _build(tmp_path, url, names)
    _assert_good(site, first[victim])
    stored = _stored(tmp_path, victim)
    assert stored[1] == 1

    # The host turns its answers into garbage: the last good record stands in.
    hook.answers[f"/{name}/{path}"] = (body, content_type)
    second = _build(tmp_path, url, names)
    d = second[victim]
    day = first[victim]["last_ok"][:10]
    assert d["status"] == "stale"
    assert d["errors"] == [f"{head}, not a Zarr document; kept the last good record of {day}"]
    assert f"last OK on {day}" in d["warnings"]
    for key in ("kind", "shape", "dtype", "chunks", "levels", "name", "ngff_version", "axes", "thumbnail", "first_seen", "last_ok"):
        assert d[key] == first[victim][key], key
    assert (site / d["thumbnail"]).is_file()
    assert _stored(tmp_path, victim) == stored, "the stored good record is not overwritten"
    report = json.loads((site / "report.json").read_text())
    assert [r["url"] for r in report["datasets"]] == [victim]
    _assert_good(site, second[f"{url}/good.zarr"])

    # It recovers: ok again, with the same thumbnail.
    hook.clear()
    third = _build(tmp_path, url, names)
    _assert_good(site, third[victim])
    assert third[victim]["thumbnail"] == first[victim]["thumbnail"]
    assert third[victim]["shape"] == first[victim]["shape"]
    assert not any(w.startswith("last OK on") for w in third[victim]["warnings"])
    _assert_good(site, third[f"{url}/good.zarr"])


def test_a_dataset_never_seen_good_that_answers_garbage_is_invalid_and_says_why(
    host: tuple[str, Garbage], tmp_path: Path
) -> None:
    url, hook = host
    names = ("good.zarr", "new.zarr")
    new, site = f"{url}/new.zarr", tmp_path / "site"
    hook.answers["/new.zarr/zarr.json"] = (HTML, "text/html")

    first = _build(tmp_path, url, names)
    d = first[new]
    # The host answered, so not unreachable; and no record of it is good to keep.
    assert d["status"] == "invalid"
    assert d["errors"] == ["zarr.json: the host answered with an HTML page, not a Zarr document"]
    assert d["thumbnail"] is None and d["shape"] is None and d["last_ok"] is None
    _assert_good(site, first[f"{url}/good.zarr"])

    # Its garbage record is nothing to fall back on: garbage again is invalid
    # again, and a host that is down is unreachable, not stale.
    assert _build(tmp_path, url, names)[new]["status"] == "invalid"
    hook.clear()
    hook.status["/new.zarr/zarr.json"] = 503
    second = _build(tmp_path, url, names)
    assert second[new]["status"] == "unreachable", second[new]["errors"]
    _assert_good(site, second[f"{url}/good.zarr"])

    hook.clear()
    third = _build(tmp_path, url, names)
    _assert_good(site, third[new])
    assert third[new]["name"] == "New"


def test_a_zarr_document_served_as_html_is_still_read(host: tuple[str, Garbage], www_doc: bytes, tmp_path: Path) -> None:
    url, hook = host
    # The body decides, not the header: a misconfigured server's content type is no garbage.
    hook.answers["/new.zarr/zarr.json"] = (www_doc, "text/html")
    catalog = _build(tmp_path, url, ("good.zarr", "new.zarr"))
    _assert_good(tmp_path / "site", catalog[f"{url}/new.zarr"])
    _assert_good(tmp_path / "site", catalog[f"{url}/good.zarr"])


def test_a_spec_breaking_zarr_document_still_replaces_the_record(host: tuple[str, Garbage], www_doc: bytes, tmp_path: Path) -> None:
    url, hook = host
    names = ("good.zarr", "new.zarr")
    first = _build(tmp_path, url, names)
    _assert_good(tmp_path / "site", first[f"{url}/new.zarr"])
    # A Zarr document without OME metadata is the dataset's own problem: invalid, as before.
    doc = json.loads(www_doc)
    doc["attributes"] = {"hello": "world"}
    hook.answers["/new.zarr/zarr.json"] = (json.dumps(doc).encode(), "application/json")
    d = _build(tmp_path, url, names)[f"{url}/new.zarr"]
    assert d["status"] == "invalid" and d["errors"] == ["no OME-NGFF metadata: zarr.json has no 'ome' attribute"]
    assert json.loads(_stored(tmp_path, f"{url}/new.zarr")[0])["status"] == "invalid"
