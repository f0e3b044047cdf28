"""The streamed build: listings spooled to disk, records made and written a span at a time.

An offline build of a million rows must not hold them in memory, and must
write the same site as records held in memory would: the listings are read
back from a scratch file, duplicates found from hashes of their URLs, and the
site written in one pass over spans, each span's pages by a forked writer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import filecmp
import weakref
from pathlib import Path

import pytest

import generator.site.pages as pages
import generator.sources.spool as spool
from generator.build import build
from generator.config import BuildConfig, SourceLimits
from generator.offline import ListedDatasets
from generator.records import Catalog
from generator.site.pages import SiteWriter
from generator.sources.read import get_entries, stream_entries
from generator.write import write_build


def _tree(root: Path) -> Path:
    """A root CSV and two children that share datasets: across files, within one file, and past the listings cap."""
    (root / "a").mkdir(parents=True)
    (root / "a" / "one.csv").write_text(
        "url,name,written\n"
        + "".join(f"https://h.example/one/{i}.zarr,one {i},{i * 10}\n" for i in range(40))
        + "https://h.example/shared.zarr,shared from one,\n"
        + "https://h.example/one/3.zarr,again,\n"  # a duplicate row in the same file
        + "file:///etc/passwd,bad,\n",
        encoding="utf-8",
    )
    (root / "a" / "two.csv").write_text(
        "url,name,description\n"
        + "".join(f"https://h.example/two/{i}.zarr,two {i},\n" for i in range(30))
        + "https://h.example/shared.zarr,,described in two\n"
        + "https://h.example/one/5.zarr,,five seen again\n",
        encoding="utf-8",
    )
    (root / "a" / "three.csv").write_text(
        "url\nhttps://h.example/shared.zarr\nhttps://h.example/three/0.zarr\n", encoding="utf-8"
    )
    root_csv = root / "submissions.csv"
    root_csv.write_text("url,source\na/one.csv,first\na/two.csv,second\na/three.csv,third\n", encoding="utf-8")
    return root_csv


async def test_spooled_entries_read_back_whole_and_in_order(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    limits = SourceLimits(listings=2)
    sources = await get_entries(str(root), None, limits=limits)
    urls = [e.url for e in sources.entries]
    assert len(urls) == len(set(urls)) == 40 + 1 + 30 + 1
    assert urls[:3] == [f"https://h.example/one/{i}.zarr" for i in range(3)]  # first-listed order
    shared = next(e for e in sources.entries if e.url.endswith("/shared.zarr"))
    # Listed three times with a cap of two: the third listing is a row error.
    assert [x.collection for x in shared.listings] == ["one", "two"]
    assert shared.columns["name"] == "shared from one" and shared.columns["description"] == "described in two"
    five = next(e for e in sources.entries if e.url.endswith("/one/5.zarr"))
    assert five.columns["description"] == "five seen again" and len(five.listings) == 2
    messages = [(Path(e.file).name, e.line, e.message) for e in sources.errors]
    assert [m[:2] for m in messages] == [("one.csv", 43), ("one.csv", 44), ("three.csv", 2)]
    assert "duplicate row" in messages[0][2] and "file:" in messages[1][2] and "already listed 2 times" in messages[2][2]

    streamed = await stream_entries(str(root), None, limits=limits)
    spans = list(streamed.entries.spans(size=16))
    assert [len(s) for s in spans] == [16, 16, 16, 16, 8]
    assert [e for s in spans for e in s] == list(sources.entries)
    assert list(streamed.entries) == list(sources.entries)  # read back again, the same
    streamed.entries.close()


async def test_urls_sharing_a_hash_are_told_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tree(tmp_path)
    expected = await get_entries(str(root), None)
    monkeypatch.setattr(spool, "_hash", lambda url: 7)  # every URL collides
    collided = await get_entries(str(root), None)
    assert collided.entries == expected.entries and collided.errors == expected.errors


def _offline_config(csv: Path, out: Path) -> BuildConfig:
    return BuildConfig(source=str(csv), out=out, cache=None, offline=True, verbose=-1)


def test_offline_build_streams_the_site_a_memory_build_would_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans of 7 records, each span's pages by a forked writer: the same files, byte for byte,
    as the same catalog held in memory and written in one process."""
    root = _tree(tmp_path / "csv")
    monkeypatch.setattr(spool, "SPAN", 7)
    monkeypatch.setattr(pages, "PARALLEL_MIN", 1)
    gathered = asyncio.run(build(_offline_config(root, tmp_path / "streamed")))
    assert isinstance(gathered.catalog.datasets, ListedDatasets)
    assert [len(s) for s in gathered.catalog.datasets.spans()] == [7] * 10 + [2]
    forked: list[bool] = []
    real_init = pages.PageWriters.__init__

    def watch(self, writer, n):
        real_init(self, writer, n)
        forked.append(self.forked)

    monkeypatch.setattr(pages.PageWriters, "__init__", watch)
    result = write_build(gathered, _offline_config(root, tmp_path / "streamed"))
    assert result.tally.datasets == 72 and len(result.failed) == 0
    assert forked == [True]  # each span's pages by a forked writer

    in_memory = dataclasses.replace(result.catalog, datasets=tuple(result.catalog.datasets))
    SiteWriter(in_memory, tmp_path / "memory", workers=1).write()
    SiteWriter(in_memory, tmp_path / "memory", workers=1).write_reports(result.tally)  # as the build writes them, with its sizes
    _same_tree(tmp_path / "streamed", tmp_path / "memory", skip={"report.html", "report.json"})


def _same_tree(a: Path, b: Path, skip: set[str]) -> None:
    files_a = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 72
    compared = [f for f in files_a if f not in skip]
    _, mismatch, errors = filecmp.cmpfiles(a, b, compared, shallow=False)
    assert mismatch == [] and errors == []


class _Span(list):
    """A list that can be watched with a weak reference (by identity)."""

    __hash__ = object.__hash__
    __eq__ = object.__eq__


class _Stream:
    """Records a span at a time, as an offline build's come, noting which spans are still alive."""

    def __init__(self, datasets: tuple, size: int) -> None:
        self.datasets, self.size = datasets, size
        self.alive: weakref.WeakSet[_Span] = weakref.WeakSet()
        self.most_alive = 0

    def __len__(self) -> int:
        return len(self.datasets)

    def spans(self):
        for start in range(0, len(self.datasets), self.size):
            span = _Span(self.datasets[start : start + self.size])
            self.alive.add(span)
            self.most_alive = max(self.most_alive, len(self.alive))
            yield span
            del span


def test_the_writer_lets_each_span_go(tmp_path: Path) -> None:
    """However many spans stream by, the writer holds a few: the one it is on and those its page writers have."""
    from tests.site_fixtures import make_catalog

    catalog = make_catalog(tmp_path / "fixtures")
    many = tuple(dataclasses.replace(d, url=f"{d.url}/{i}") for i in range(8) for d in catalog.datasets)
    stream = _Stream(many, size=5)
    streamed = dataclasses.replace(catalog, datasets=stream)
    written = SiteWriter(streamed, tmp_path / "site", workers=2, parallel_min=1).write()
    assert written.tally.datasets == len(many) and len(many) // 5 >= 10
    assert stream.most_alive <= 2 + 1
    assert len(list((tmp_path / "site" / "datasets").iterdir())) == len({d.id for d in many})


def test_a_failed_page_writer_fails_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.site_fixtures import make_catalog

    catalog = make_catalog(tmp_path / "fixtures")

    def broken(self, span, fs_lock=None):
        raise OSError("disk full")

    monkeypatch.setattr(SiteWriter, "write_pages", broken)
    with pytest.raises(RuntimeError, match="page writer failed"):
        SiteWriter(catalog, tmp_path / "site", workers=2, parallel_min=1).write()


def test_an_empty_catalog_writes_a_whole_site(tmp_path: Path) -> None:
    written = SiteWriter(Catalog(generated_at="2026-01-01T00:00:00Z", datasets=()), tmp_path / "site").write()
    assert written.tally.datasets == 0
    for name in ("index.html", "catalog.json", "catalog.csv", "sitemap.xml", "report.html", "search/meta.json"):
        assert (tmp_path / "site" / name).is_file(), name


def test_a_plan_is_applied_to_streamed_records_a_span_at_a_time(tmp_path: Path) -> None:
    """Over its budget, a streamed catalog is written again with the plan applied as each span passes."""
    from generator.site.budget import BudgetPlan
    from generator.site.fit import FittedSpans, apply_plan
    from tests.site_fixtures import make_catalog

    catalog = make_catalog(tmp_path / "fixtures")
    stream = _Stream(catalog.datasets, size=3)
    plan = BudgetPlan(compress_exports=True, drop_large=True)
    fitted = apply_plan(dataclasses.replace(catalog, datasets=stream), plan, (tmp_path / "fixtures",), tmp_path / "thumbs")
    assert isinstance(fitted.datasets, FittedSpans) and stream.most_alive == 0  # nothing planned yet
    planned = list(fitted.datasets)
    assert len(planned) == len(catalog.datasets) and stream.most_alive <= 2
    assert any(d.thumbnail and d.thumbnail.detail for d in catalog.datasets)
    assert all(d.thumbnail is None or d.thumbnail.detail is None for d in planned)
    assert [d.url for d in planned] == [d.url for d in catalog.datasets]
