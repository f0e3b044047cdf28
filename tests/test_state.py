"""The build state: validators, last-known-good records, merge policy, crash safety."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from generator.history import decide_status, merge_with_history
from generator.records import (
    Axis,
    Channel,
    Dataset,
    Documents,
    Entry,
    Level,
    Listing,
    Term,
    Thumbnail,
)
from generator.state import State
from generator.state_schema import DB_NAME, SCHEMA_VERSION
from generator.validate import validate

T0 = datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc)


def good_dataset(url: str = "https://example.org/a.zarr", **kw) -> Dataset:
    base = Dataset(
        url=url,
        source="lab",
        collection="lab/set1",
        listings=(Listing("subs.csv", 3, "lab", "lab/set1"),),
        kind="image",
        status="ok",
        ngff_version="0.5",
        zarr_format=3,
        name="Nuclei",
        organism=Term("NCBITaxon:9606", "Homo sapiens"),
        axes=(Axis("c", "channel"), Axis("y", "space", "micrometer"), Axis("x", "space", "micrometer")),
        resolutions=(
            Level("0", (2, 512, 512), "uint16", (1, 256, 256), metadata={"zarr_format": 3, "shape": [2, 512, 512]}),
            Level("1", (2, 256, 256), "uint16", (1, 256, 256)),
        ),
        channels=(Channel("DAPI", "0000FF", 0, 1000),),
        thumbnail=Thumbnail("abc123", "thumbnails/abc123-256.webp", "thumbnails/abc123-1024.webp", 256, 256),
        documents=Documents(image={"version": "0.5", "multiscales": []}, container={"plate": {}}, container_kind="plate"),
    )
    return dataclasses.replace(base, **kw)


def unreachable(url: str = "https://example.org/a.zarr", message: str = "HTTP 503 after retries") -> Dataset:
    return Dataset(
        url=url,
        source="lab",
        collection="lab/set1",
        listings=(Listing("subs.csv", 4, "lab", "lab/set1"),),
        status="unreachable",
        reached=False,
        errors=(message,),
        name="Nuclei (from CSV)",
    )


# -- validators --------------------------------------------------------------


def test_absent_optional_documents_are_remembered_with_their_time(tmp_path: Path) -> None:
    url = "https://h/x.zarr/ro-crate-metadata.json"
    with State(tmp_path) as st:
        assert st.get_absent_since(url) is None
        before = time.time()
        st.put_absent(url, present=False)
        since = st.get_absent_since(url)
        assert since is not None and before <= since <= time.time()
    with State(tmp_path) as st:  # survives a reopen, like every other fact of the state
        assert st.get_absent_since(url) == since
        st.put_absent(url, present=True)  # it appeared: nothing left to believe
        assert st.get_absent_since(url) is None


def test_validators_round_trip_compressed(tmp_path: Path) -> None:
    body = b'{"zarr_format": 3, "node_type": "group", "attributes": {"ome": {}}}' * 50
    with State(tmp_path) as st:
        assert st.get_validators("https://h/x/zarr.json") is None
        st.put_validators("https://h/x/zarr.json", '"etag-1"', "Mon, 05 Jan 2026 10:00:00 GMT", body)
        assert st.get_validators("https://h/x/zarr.json") == ('"etag-1"', "Mon, 05 Jan 2026 10:00:00 GMT", body)
        # Replaced, not duplicated, when the document changes.
        st.put_validators("https://h/x/zarr.json", '"etag-2"', None, b"{}")
        assert st.get_validators("https://h/x/zarr.json") == ('"etag-2"', None, b"{}")
    raw = sqlite3.connect(tmp_path / DB_NAME)
    st2 = State(tmp_path)
    assert st2.get_validators("https://h/x/zarr.json") == ('"etag-2"', None, b"{}")
    st2.put_validators("https://h/big", None, "date", body)
    stored = raw.execute("SELECT length(body) FROM validators WHERE url='https://h/big'").fetchone()[0]
    assert stored < len(body) / 5  # zlib, repetitive JSON
    st2.close()
    raw.close()


def test_open_sets_wal_and_schema_version(tmp_path: Path) -> None:
    with State(tmp_path) as st:
        assert st.schema_version == SCHEMA_VERSION
        assert st._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert st._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert st.thumbnail_cache_dir == tmp_path / "thumbnails"
        assert st.thumbnail_cache_dir.is_dir()


def test_refuses_state_from_a_newer_version(tmp_path: Path) -> None:
    State(tmp_path).close()
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(Exception, match="schema version 99"):
        State(tmp_path)


def test_garbage_state_file_is_set_aside(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with State(tmp_path) as st:
        assert st.integrity_check() == "ok"
        assert st.get_dataset("x") is None
    assert list(tmp_path.glob(f"{DB_NAME}.corrupt-*"))


# -- dataset records -------------------------------------------------------------


def test_dataset_round_trip_keeps_internal_fields(tmp_path: Path) -> None:
    ds = good_dataset(first_seen="2026-01-01T02:00:00+00:00", last_ok="2026-01-09T02:00:00+00:00")
    with State(tmp_path) as st:
        st.save_dataset(ds, "2026-01-09T02:00:00+00:00")
    with State(tmp_path) as st:
        back = st.get_dataset(ds.url)
        assert back == ds  # level metadata, attributes and thumbnail record included
        assert st.first_seen(ds.url) == "2026-01-01T02:00:00+00:00"
        assert st.last_ok(ds.url) == "2026-01-09T02:00:00+00:00"
        assert st.get_thumbnail_key(ds.url) == "abc123"
        assert st.get_dataset("https://example.org/other.zarr") is None


def test_a_state_written_before_the_documents_record_still_reads(tmp_path: Path) -> None:
    """CI restores last night's cache: its records hold one 'attributes' object with the container packed in."""
    ds = good_dataset(kind="plate", image_path="A/1/0")
    legacy = ds.to_dict(internal=True)
    del legacy["documents"], legacy["reached"]
    legacy["attributes"] = {"version": "0.5", "multiscales": [], "_container": {"plate": {}}, "_container_kind": "plate"}
    with State(tmp_path) as st:
        st._db.execute(
            "INSERT INTO datasets (url, record, good, status, first_seen, last_ok, last_seen) VALUES (?, ?, 1, 'ok', ?, ?, ?)",
            (ds.url, json.dumps(legacy), "2026-01-01", "2026-01-01", "2026-01-01"),
        )
        back = st.get_dataset(ds.url)
    assert back is not None and back.documents == ds.documents and back.reached
    assert dataclasses.replace(back, first_seen=None, last_ok=None) == ds
    assert validate(back) == validate(ds)


def test_records_hold_read_only_mappings_that_pickle_and_serialise() -> None:
    ds = good_dataset(physical_sizes={"y": 0.5}, rocrate={"name": "crate"})
    for mapping in (ds.documents.image, ds.documents.container["plate"], ds.physical_sizes, ds.rocrate, ds.level0.metadata):
        with pytest.raises(TypeError, match="read-only"):
            mapping["x"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        ds.physical_sizes.update(x=1.0)  # type: ignore[attr-defined]
    entry = Entry(url="https://h/a.zarr", source="s", collection="c", listings=(), columns={"name": "a"})
    with pytest.raises(TypeError):
        entry.columns["name"] = "b"  # type: ignore[index]
    assert pickle.loads(pickle.dumps(ds)) == ds and pickle.loads(pickle.dumps(entry)) == entry
    assert Dataset.from_dict(json.loads(json.dumps(ds.to_dict(internal=True)))) == ds
    # The raw documents are internal: catalog.json never carries them.
    assert not {"documents", "reached", "attributes"} & set(ds.to_dict())


def test_root_formats_of_the_last_build(tmp_path: Path) -> None:
    with State(tmp_path) as st:
        st.put_validators("https://h/a.zarr/zarr.json", '"e"', None, b"{}")
        st.put_validators("https://h/b.zarr/.zattrs", '"e"', None, b"{}")
        st.put_validators("https://h/c.zarr/0/.zarray", '"e"', None, b"{}")  # a level, not a root
        urls = [f"https://h/{n}.zarr" for n in "abc"] + [f"https://h/many/{i}.zarr" for i in range(600)]
        assert st.get_root_formats(urls) == {"https://h/a.zarr": 3, "https://h/b.zarr": 2}


def test_status_is_decided_from_reach_errors_and_history() -> None:
    prev = good_dataset(first_seen="2025-12-01T02:00:00+00:00", last_ok="2026-01-05T02:00:00+00:00")
    assert decide_status(good_dataset()) == "ok"
    assert decide_status(good_dataset(errors=("bad",))) == "invalid"
    assert decide_status(unreachable()) == "unreachable"
    assert decide_status(unreachable(), prev) == "stale"
    assert decide_status(unreachable(), dataclasses.replace(prev, last_ok=None)) == "unreachable"
    # What a harvest record says of its own status is not consulted.
    assert decide_status(good_dataset(status="unreachable")) == "ok"


def test_outage_does_not_overwrite_the_last_good_record(tmp_path: Path) -> None:
    ds = good_dataset(first_seen="2026-01-01T02:00:00+00:00", last_ok="2026-01-01T02:00:00+00:00")
    with State(tmp_path) as st:
        st.save_dataset(ds, "2026-01-01T02:00:00+00:00")
        st.save_dataset(unreachable(), "2026-01-02T02:00:00+00:00")
        back = st.get_dataset(ds.url)
        assert back is not None and back.status == "ok" and back.resolutions == ds.resolutions
        assert st.get_thumbnail_key(ds.url) == "abc123"
        # A URL that never worked stores what it has (for first_seen).
        st.save_dataset(unreachable("https://down/b.zarr"), "2026-01-02T02:00:00+00:00")
        never = st.get_dataset("https://down/b.zarr")
        assert never is not None and never.status == "unreachable" and never.last_ok is None
        assert never.first_seen == "2026-01-02T02:00:00+00:00"


def test_failure_history(tmp_path: Path) -> None:
    with State(tmp_path) as st:
        assert st.get_failures("u") == []
        st.record_failure("u", "2026-01-02T02:00:00Z", "timed out")
        st.record_failure("u", "2026-01-03T02:00:00Z", "HTTP 502 after retries")
        st.record_failure("v", "2026-01-03T02:00:00Z", "connection failed")
        assert st.get_failures("u") == [
            ("2026-01-02T02:00:00Z", "timed out"),
            ("2026-01-03T02:00:00Z", "HTTP 502 after retries"),
        ]
        for i in range(80):
            st.record_failure("w", f"2026-02-{i:02d}", f"fail {i}")
        w = st.get_failures("w")
        assert len(w) == 50 and w[-1][1] == "fail 79" and w[0][1] == "fail 30"


def test_forget_missing(tmp_path: Path) -> None:
    with State(tmp_path) as st:
        for name in ("a", "b", "c"):
            st.save_dataset(good_dataset(f"https://h/{name}.zarr"), "2026-01-01T00:00:00+00:00")
        st.record_failure("https://h/b.zarr", "2026-01-02", "timed out")
        removed = st.forget_missing({"https://h/a.zarr", "https://h/c.zarr", "https://h/new.zarr"})
        assert removed == ["https://h/b.zarr"]
        assert st.get_urls() == {"https://h/a.zarr", "https://h/c.zarr"}
        assert st.get_dataset("https://h/b.zarr") is None
        assert st.get_failures("https://h/b.zarr") == []
        assert st.forget_missing({"https://h/a.zarr", "https://h/c.zarr"}) == []


def test_forget_missing_drops_the_documents_of_a_removed_dataset(tmp_path: Path) -> None:
    with State(tmp_path) as st:
        for url in ("https://h/b.zarr", "https://h/b.zarr2", "https://h/p.zarr", "https://h/p.zarr/0"):
            st.save_dataset(good_dataset(url), "2026-01-01T00:00:00+00:00")
            st.put_validators(url + "/zarr.json", '"e"', None, b"{}")
            st.put_absent(url + "/ro-crate-metadata.json", present=False)
        # b.zarr and p.zarr leave the CSVs; b.zarr2 stays, and so does p.zarr/0, which lives inside p.zarr.
        assert st.forget_missing({"https://h/b.zarr2", "https://h/p.zarr/0"}) == ["https://h/b.zarr", "https://h/p.zarr"]
        assert st.get_validators("https://h/b.zarr/zarr.json") is None
        assert st.get_absent_since("https://h/b.zarr/ro-crate-metadata.json") is None
        assert st.get_validators("https://h/b.zarr2/zarr.json") is not None, "a sibling that shares the prefix is kept"
        assert st.get_validators("https://h/p.zarr/zarr.json") is not None, "kept: a listed dataset is inside"
        assert st.get_validators("https://h/p.zarr/0/zarr.json") is not None


def test_term_labels(tmp_path: Path) -> None:
    with State(tmp_path) as st:
        assert st.get_term_label("NCBITaxon:1") is None
        st.put_term_label("NCBITaxon:1", "root")
        st.put_term_label("NCBITaxon:1", "root node")
    with State(tmp_path) as st:
        assert st.get_term_label("NCBITaxon:1") == "root node"


# -- merge policy -----------------------------------------------------------------


def test_first_ok_sets_first_seen_and_last_ok() -> None:
    merged, gone = merge_with_history(good_dataset(), None, T0, 30)
    assert not gone
    assert merged.status == "ok"
    assert merged.first_seen == merged.last_ok == T0.isoformat()


def test_ok_again_keeps_first_seen_and_moves_last_ok() -> None:
    prev = good_dataset(first_seen="2025-12-01T02:00:00+00:00", last_ok="2026-01-09T02:00:00+00:00")
    merged, gone = merge_with_history(good_dataset(name="renamed"), prev, T0, 30)
    assert not gone
    assert merged.name == "renamed"
    assert merged.first_seen == "2025-12-01T02:00:00+00:00"
    assert merged.last_ok == T0.isoformat()


def test_invalid_counts_as_reached() -> None:
    prev = good_dataset(first_seen="2025-12-01T02:00:00+00:00", last_ok="2025-12-02T02:00:00+00:00")
    current = good_dataset(status="invalid", errors=("multiscales: field required",))
    merged, gone = merge_with_history(current, prev, T0, 30)
    assert (merged.status, merged.last_ok, gone) == ("invalid", T0.isoformat(), False)
    assert merged.errors == ("multiscales: field required",)


def test_ok_then_unreachable_is_stale_with_previous_facts() -> None:
    prev = good_dataset(first_seen="2025-12-01T02:00:00+00:00", last_ok="2026-01-05T02:00:00+00:00")
    merged, gone = merge_with_history(unreachable(), prev, T0, 30)
    assert not gone
    assert merged.status == "stale"
    assert merged.errors == ("HTTP 503 after retries",)
    assert "last OK on 2026-01-05" in merged.warnings
    # The facts are last week's, not tonight's empty record.
    assert merged.name == "Nuclei"
    assert merged.resolutions == prev.resolutions and merged.axes == prev.axes
    assert merged.channels == prev.channels and merged.organism == prev.organism
    assert merged.thumbnail == prev.thumbnail
    assert merged.documents == prev.documents
    assert merged.first_seen == prev.first_seen and merged.last_ok == prev.last_ok
    # Provenance comes from tonight's CSVs.
    assert merged.listings == unreachable().listings


def test_stale_twice_does_not_pile_up_warnings(tmp_path: Path) -> None:
    prev = good_dataset(first_seen="2025-12-01T02:00:00+00:00", last_ok="2026-01-05T02:00:00+00:00")
    first, _ = merge_with_history(unreachable(), prev, T0, 30)
    second, gone = merge_with_history(unreachable(message="timed out"), first, T0 + timedelta(days=1), 30)
    assert [w for w in second.warnings if w.startswith("last OK")] == ["last OK on 2026-01-05"]
    assert second.errors == ("timed out",) and second.status == "stale" and not gone


def test_stale_beyond_stale_days_is_gone() -> None:
    prev = good_dataset(first_seen="2025-10-01T02:00:00+00:00", last_ok="2025-12-01T02:00:00+00:00")
    merged, gone = merge_with_history(unreachable(), prev, T0, 30)
    assert gone
    assert merged.status == "stale" and "last OK on 2025-12-01" in merged.warnings
    # Exactly at the limit it is still kept.
    at_limit = T0.replace(year=2025, month=12, day=31)
    assert merge_with_history(unreachable(), prev, at_limit, 30)[1] is False
    assert merge_with_history(unreachable(), prev, at_limit + timedelta(seconds=1), 30)[1] is True


def test_recovered_after_stale_is_ok_again() -> None:
    prev = good_dataset(first_seen="2025-12-01T02:00:00+00:00", last_ok="2026-01-05T02:00:00+00:00")
    stale, _ = merge_with_history(unreachable(), prev, T0, 30)
    back, gone = merge_with_history(good_dataset(), stale, T0 + timedelta(days=1), 30)
    assert not gone
    assert back.status == "ok" and back.errors == ()
    assert not any(w.startswith("last OK") for w in back.warnings)
    assert back.first_seen == "2025-12-01T02:00:00+00:00"
    assert back.last_ok == (T0 + timedelta(days=1)).isoformat()


def test_never_seen_and_unreachable_stays_unreachable() -> None:
    current = unreachable()
    merged, gone = merge_with_history(current, None, T0, 30)
    assert not gone
    assert merged.status == "unreachable" and merged.errors == current.errors
    assert merged.last_ok is None and merged.first_seen == T0.isoformat()
    # ... and a URL that never worked stays so, however long ago it was first seen.
    old = dataclasses.replace(current, first_seen="2024-01-01T00:00:00+00:00")
    merged, gone = merge_with_history(current, old, T0, 30)
    assert (merged.status, gone, merged.first_seen) == ("unreachable", False, "2024-01-01T00:00:00+00:00")


def test_merge_through_the_state(tmp_path: Path) -> None:
    """Three nightly builds sharing one state: ok, host down, host back."""
    url = "https://example.org/a.zarr"
    nights = [T0, T0 + timedelta(days=1), T0 + timedelta(days=2)]
    harvests = [good_dataset(), unreachable(), good_dataset(name="Nuclei v2")]
    statuses = []
    for night, current in zip(nights, harvests):
        with State(tmp_path) as st:
            merged, gone = merge_with_history(current, st.get_dataset(url), night, 30)
            assert not gone
            if current.status == "unreachable":
                st.record_failure(url, night.isoformat(), current.errors[0])
            st.save_dataset(merged, night.isoformat())
            statuses.append((merged.status, merged.name, merged.first_seen, merged.last_ok))
    assert statuses == [
        ("ok", "Nuclei", T0.isoformat(), T0.isoformat()),
        ("stale", "Nuclei", T0.isoformat(), T0.isoformat()),
        ("ok", "Nuclei v2", T0.isoformat(), nights[2].isoformat()),
    ]
    with State(tmp_path) as st:
        assert st.get_failures(url) == [(nights[1].isoformat(), "HTTP 503 after retries")]


# -- crash safety -------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys, dataclasses
    sys.path.insert(0, {repo!r})
    from generator.state import State
    from tests.test_state import good_dataset
    st = State({cache!r})
    i = 0
    while True:
        url = f"https://h/{{i}}.zarr"
        st.save_dataset(good_dataset(url, name=f"n{{i}}"), "2026-01-01T00:00:00+00:00")
        st.put_validators(url + "/zarr.json", f'"e{{i}}"', None, b"x" * 2000)
        st.record_failure(url, "2026-01-01", "timed out")
        print(i, flush=True)
        i += 1
    """
)


def test_sigkill_mid_build_leaves_a_consistent_state(tmp_path: Path) -> None:
    repo = str(Path(__file__).resolve().parents[1])
    script = tmp_path / "writer.py"
    script.write_text(_WRITER.format(repo=repo, cache=str(tmp_path / "cache")))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=repo)
    acknowledged = -1
    deadline = time.monotonic() + 30
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            acknowledged = int(line)
            if acknowledged >= 300 or time.monotonic() > deadline:
                break
    finally:
        # Killed while it is still writing: no close(), no checkpoint.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert acknowledged >= 1, "the writer never got going"
    assert (tmp_path / "cache" / (DB_NAME + "-wal")).exists()  # it died with a live WAL

    with State(tmp_path / "cache") as st:
        assert st.integrity_check() == "ok"
        # Every save it reported before the kill is there, in full.
        for i in range(acknowledged + 1):
            url = f"https://h/{i}.zarr"
            ds = st.get_dataset(url)
            assert ds is not None and ds.name == f"n{i}", url
            assert st.get_validators(url + "/zarr.json") == (f'"e{i}"', None, b"x" * 2000)
            assert st.get_failures(url) == [("2026-01-01", "timed out")]
        # And the database still takes writes.
        st.save_dataset(good_dataset("https://h/after.zarr"), "2026-01-02T00:00:00+00:00")
        assert st.get_dataset("https://h/after.zarr") is not None
