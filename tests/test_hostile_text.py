"""Hostile text: strings that cannot be written out, and JSON nested too deeply.

Each test builds a small catalog against a real local server: one good
dataset beside the hostile one, which must stay ``ok`` with its thumbnail.
Also the shared helpers of the ``test_hostile_*`` content tests.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Callable

import pytest
from aiohttp import web

from generator.cli import run_build as cli_run_build
from generator.config import BuildConfig
from generator.dev.samples import gradient, write_image, write_rocrate
from generator.harvest.parse import HarvestProblem, parse_json
from generator.records import Dataset
from generator.state import State
from generator.text import MAX_JSON_DEPTH, DocumentError, parse_json_document
from tests.conftest import Host

# ---------------------------------------------------------------- shared helpers




def write_good(root: Path, name: str = "good.zarr") -> Path:
    return write_image(root / name, gradient((1, 64, 64), "uint8"), version="0.5", name="Good")


def edit_json(path: Path, fn: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))  # ensure_ascii: "\ud800" stays a (valid JSON) escape


def run_build(tmp_path: Path, urls: list[str], *, cache: bool = True, **kw: Any) -> dict[str, dict[str, Any]]:
    """Build ``urls`` into ``tmp_path/site`` (one event loop per build, as the CLI does); the datasets by URL."""
    csv = tmp_path / "submissions.csv"
    csv.write_text("url\n" + "\n".join(urls) + "\n", encoding="utf-8")
    config = BuildConfig(
        source=str(csv), out=tmp_path / "site", cache=tmp_path / "cache" if cache else None, timeout=5, retries=0,
        allow_private_addresses=True, **kw
    )
    cli_run_build(config)
    index = tmp_path / "site" / "index.html"
    assert index.stat().st_size > 0, "the site was written"
    doc = json.loads((tmp_path / "site" / "catalog.json").read_text(encoding="utf-8"))
    return {d["url"]: d for d in doc["datasets"]}


def assert_good(tmp_path: Path, datasets: dict[str, dict[str, Any]], url: str) -> None:
    """The good dataset beside a hostile one is untouched: ok, no errors, a thumbnail on disk."""
    good = datasets[url]
    assert good["status"] == "ok" and not good["errors"], good["errors"]
    assert good["thumbnail"] and (tmp_path / "site" / good["thumbnail"]).is_file()


def page_of(tmp_path: Path, d: dict[str, Any]) -> str:
    return (tmp_path / "site" / "datasets" / d["id"] / "index.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------- 1. valid text


def test_json_documents_come_out_as_valid_text() -> None:
    body = json.dumps({"name": "bad \ud800 name", "k\x00ey": "a\x00b\x1b[31m\r\nc\u0085", "ok": "tab\there"}).encode()
    doc = parse_json_document(body, "zarr.json")
    assert doc == {"name": "bad \ufffd name", "key": "ab[31m\nc", "ok": "tab\there"}
    # UTF-8 bytes of a surrogate (json.loads decodes them with "surrogatepass").
    assert parse_json_document(b'{"a": "x\xed\xa0\x80y"}', "zarr.json") == {"a": "x\ufffdy"}
    # A valid pair (an emoji, escaped) is kept.
    assert parse_json_document(b'"\\ud83d\\ude00"', "zarr.json") == "\U0001f600"


def test_lone_surrogate_and_controls_do_not_crash_the_site(host: Host, www: Path, tmp_path: Path) -> None:
    write_good(www)
    write_image(www / "bad.zarr", gradient((1, 64, 64), "uint8"), version="0.5", name="x")
    edit_json(www / "bad.zarr" / "zarr.json", lambda d: d["attributes"]["ome"]["multiscales"][0].update(name="bad \ud800 name"))
    write_rocrate(www / "bad.zarr", name="crate \ud800\x00 name", license="CC-BY\x07")
    edit_json(
        www / "bad.zarr" / "ro-crate-metadata.json",
        lambda d: next(x for x in d["@graph"] if x.get("@id") == "./").update(description="line one\nline\x1b two \udfff"),
    )
    good, bad = host.url("good.zarr"), host.url("bad.zarr")

    datasets = run_build(tmp_path, [good, bad])

    assert_good(tmp_path, datasets, good)
    d = datasets[bad]
    assert d["status"] == "ok", d["errors"]
    assert d["name"] == "crate \ufffd name"
    assert d["description"] == "line one\nline two \ufffd", "newlines kept in descriptions, controls dropped"
    assert d["license"] == "CC-BY"
    assert "crate \ufffd name" in page_of(tmp_path, d)
    assert d["thumbnail"], "the record is otherwise untouched"


def test_poisoned_record_in_the_state_is_cleaned_when_replayed(www: Path, tmp_path: Path) -> None:
    """A record an older build stored with a lone surrogate, replayed as stale while its host is down."""
    write_good(www)
    write_image(www / "bad.zarr", gradient((1, 64, 64), "uint8"), version="0.5", name="Bad")
    down = {"on": False}

    async def hook(request: web.Request) -> web.StreamResponse | None:
        if down["on"] and request.path.startswith("/bad.zarr"):
            return web.Response(status=503, text="down")
        return None

    h = Host(www, hook)
    try:
        good, bad = h.url("good.zarr"), h.url("bad.zarr")
        first = run_build(tmp_path, [good, bad])
        assert first[bad]["status"] == "ok"
        # What an older build kept: the same record with a poisoned name.
        with State(tmp_path / "cache") as state:
            record = state.get_dataset(bad)
            assert record is not None
            poisoned = Dataset.from_dict({**record.to_dict(internal=True), "name": "bad \ud800\x00 name"})
            with state.transaction():
                state.save_dataset(poisoned, "2024-01-01T00:00:00+00:00")
        down["on"] = True

        datasets = run_build(tmp_path, [good, bad])
    finally:
        h.server.stop()

    assert_good(tmp_path, datasets, good)
    d = datasets[bad]
    assert d["status"] == "stale" and d["name"] == "bad \ufffd name"
    assert "bad \ufffd name" in page_of(tmp_path, d)


def test_csv_text_loses_control_characters(tmp_path: Path) -> None:
    from generator.sources.read import get_entries

    csv = tmp_path / "s.csv"
    csv.write_bytes(b"url,name\nhttps://example.org/a.zarr,na\x00me\x1b[2J\n")
    sources = asyncio.run(get_entries(str(csv), None))
    assert [e.columns["name"] for e in sources.entries] == ["name[2J"]


# ---------------------------------------------------------------- 2. JSON depth


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_depth_cap_is_64_levels() -> None:
    ok = json.dumps({"x": nested(MAX_JSON_DEPTH - 1)}).encode()  # 64 levels with the outer object
    assert parse_json_document(ok, "zarr.json")["x"] == nested(MAX_JSON_DEPTH - 1)
    too_deep = json.dumps({"x": nested(MAX_JSON_DEPTH)}).encode()
    with pytest.raises(DocumentError, match=r"^zarr\.json: JSON nested deeper than 64 levels$"):
        parse_json_document(too_deep, "zarr.json")
    # Deeper than Python's own recursion limit: the same message.
    with pytest.raises(HarvestProblem, match=r"^0/zarr\.json: JSON nested deeper than 64 levels$"):
        parse_json(b"[" * 100_000 + b"]" * 100_000, "0/zarr.json")


@pytest.mark.parametrize("document", ["zarr.json", "0/zarr.json"])
def test_deep_attributes_are_an_error_not_a_crashed_cached_build(
    host: Host, www: Path, tmp_path: Path, document: str
) -> None:
    write_good(www)
    write_image(www / "deep.zarr", gradient((1, 64, 64), "uint8"), version="0.5")
    edit_json(www / "deep.zarr" / document, lambda d: d["attributes"].update(x="DEEP"))
    path = www / "deep.zarr" / document
    path.write_text(path.read_text().replace('"DEEP"', "[" * 980 + "1" + "]" * 980))
    good, deep = host.url("good.zarr"), host.url("deep.zarr")

    for _ in range(2):  # cold, then warm from the state the first build wrote
        datasets = run_build(tmp_path, [good, deep])
        assert_good(tmp_path, datasets, good)
        d = datasets[deep]
        assert d["status"] == "invalid"
        assert f"{document}: JSON nested deeper than 64 levels" in d["errors"]
