"""sources: the real challenge CSVs offline, nested CSVs over real HTTP, local quirks."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest
from aiohttp import web

from generator.fetch.http import Fetcher
from generator.sources.read import MAX_DEPTH, get_entries
from generator.sources.rows import parse_csv_text
from generator.sources.urls import parse_http_url
from tests.conftest import start_static_server

RAW = "https://raw.githubusercontent.com/ome/ome2024-ngff-challenge/main/samples/"


# --- the real corpus -------------------------------------------------------------


def _scan_corpus(directory: Path, first: str) -> tuple[set[str], list[str]]:
    """Expected dataset URLs, by a deliberately simple walk of the corpus.

    Follows the ``.csv`` links by file name, takes the ``url`` column (or the
    first one), and writes the only quirks the corpus has in canonical form:
    spaces, surrounding blanks, trailing slashes.
    """
    urls: set[str] = set()
    unreachable: list[str] = []
    todo = [first]
    while todo:
        name = todo.pop()
        with open(directory / name, encoding="utf-8-sig", newline="") as f:
            rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
        header = [c.strip().lower() for c in rows[0]]
        col = header.index("url") if "url" in header else 0
        for row in rows[1:] if "url" in header else rows:
            value = row[col].strip()
            if value.lower().endswith(".csv"):
                child = value.rsplit("/", 1)[-1]
                if (directory / child).exists():
                    todo.append(child)
                else:
                    unreachable.append(value)
            else:
                urls.add(value.replace(" ", "%20").rstrip("/"))
    return urls, unreachable


@pytest.mark.corpus
async def test_whole_corpus_offline(corpus: Path) -> None:
    samples = corpus / "challenge-samples"
    expected, unreachable = _scan_corpus(samples, "ngff_samples.csv")
    assert len(expected) > 1000  # the scan itself found the corpus

    sources = await get_entries(RAW + "ngff_samples.csv", None, url_map={RAW: str(samples)})

    urls = [e.url for e in sources.entries]
    assert len(urls) == len(set(urls)) == len(expected)
    assert set(urls) == expected
    # Only the JAX CSVs live outside the corpus: offline, they are row errors
    # at their row of jax_samples.csv, and nothing else fails.
    assert sorted(unreachable) == sorted(e.url for e in sources.errors)
    assert [(e.file, e.line) for e in sources.errors] == [(RAW + "jax_samples.csv", 1), (RAW + "jax_samples.csv", 2)]
    # Every reachable CSV was read once: the root, 6 indexes/leaves, and so on.
    assert sources.csv_files[0] == RAW + "ngff_samples.csv"
    assert len(sources.csv_files) == len(set(sources.csv_files))
    assert {f.rsplit("/", 1)[-1] for f in sources.csv_files} >= {"n4bi.csv", "fzj.csv", "idr0157_samples.csv"}

    by_url = {e.url: e for e in sources.entries}
    voi1 = by_url["https://radosgw.public.os.wwu.de/n4bi-fzj/ome2024-ngff-challenge/1micron_reconstructions_VOI1.zarr"]
    assert voi1.source == "Jülich"  # from n4bi.csv, not "NFDI4BIOIMAGE" from the root
    assert voi1.collection == "fzj"
    assert voi1.listings[0].file == RAW + "fzj.csv" and voi1.listings[0].line == 2
    assert voi1.columns["shape"] == "6000,6000,6000" and voi1.columns["dimension_names"] == "z,y,x"

    # "LIN Magdeburg, https://..." in n4bi.csv: the leading space is not part of the URL.
    lin = [e for e in sources.entries if e.collection == "lin_samples"]
    assert lin and all(e.source == "LIN Magdeburg" for e in lin)

    tonsil = by_url["https://livingobjects.ebi.ac.uk/idr/share/ome2024-ngff-challenge/idr0054/Tonsil%201.zarr"]
    assert tonsil.source == "IDR" and tonsil.collection == "idr0054_samples"
    assert tonsil.listings[0].line == 2
    # Already-encoded URLs are left alone (no %2520).
    assert any("The%20Rockefeller%20University" in u for u in urls)
    assert not any("%25" in u or " " in u for u in urls)

    flamingo = [e for e in sources.entries if e.collection == "flamingo"]
    assert flamingo and all(e.columns["series0"] == "setup0/timepoint0" and e.source == "Göttingen" for e in flamingo)
    other = [e for e in sources.entries if e.collection == "other_samples"]
    assert other and all(e.source == "IDR" for e in other)


@pytest.mark.corpus
async def test_every_corpus_leaf_with_duplicates(corpus: Path, tmp_path: Path) -> None:
    """All leaf CSVs, unreferenced headerless ones included, from one local root."""
    samples = corpus / "challenge-samples"
    leaves = sorted(p for p in samples.glob("*.csv") if ".csv" not in p.read_text(encoding="utf-8").lower())
    expected: dict[str, int] = {}
    for leaf in leaves:
        found, _ = _scan_corpus(samples, leaf.name)
        for url in found:
            expected[url] = expected.get(url, 0) + 1
    root = tmp_path / "all.csv"
    root.write_text("url\n" + "".join(f"{p}\n" for p in leaves), encoding="utf-8")

    sources = await get_entries(str(root), None)

    assert sources.errors == ()
    assert len(sources.entries) == len(expected)
    assert {e.url: len(e.listings) for e in sources.entries} == expected
    # idr0044 is listed in other_samples.csv (with columns) and in the headerless
    # idr0044_samples.csv (without): one entry, both listings, columns kept.
    dup = next(e for e in sources.entries if e.url.endswith("/idr0044/4007801.zarr"))
    assert {(Path(x.file).name, x.line) for x in dup.listings} == {("other_samples.csv", 5), ("idr0044_samples.csv", 1)}
    assert dup.columns["written"] == "65024277657"
    assert dup.source == "all"  # nothing above sets a source: the root's name
    headerless = [e for e in sources.entries if e.collection == "idr0013_samples"]
    assert len(headerless) == sum(1 for line in (samples / "idr0013_samples.csv").open() if line.strip())


# --- nested CSVs over HTTP -------------------------------------------------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


async def test_nested_over_http(static_server) -> None:
    www, base = static_server.root, static_server.url
    _write(
        www / "root.csv",
        f"source,url,license\n"
        f"Alpha,{base}/a.csv,CC-BY-4.0\n"
        f"\n"
        f"Gamma,{base}/c.csv,\n"
        f"Delta,{base}/missing.csv,\n"
        f",{base}/data/root-level.zarr,\n",
    )
    _write(www / "a.csv", f"url,name\n{base}/data/one.zarr,One\n{base}/b.csv,\n")
    _write(
        www / "b.csv",
        f"url,source,name\n"
        f"{base}/data/two.zarr,,Two\n"
        f"{base}/data/shared.zarr/,Bravo,\n"
        f"{base}/a.csv,,\n",
    )
    _write(
        www / "c.csv",
        f"name,url,extra\n"
        f"Shared again,{base}/data/shared.zarr,kept\n"
        f"Empty,,\n"
        f"P,file:///etc/passwd,\n"
        f"J,javascript:alert(1),\n"
        f"L,/etc/passwd,\n"
        f"Local,../secret.csv,\n"
        f"Three,  {base}/data/three.zarr  ,\n",
    )

    async with Fetcher(allow_private_addresses=True, retries=0) as fetcher:
        sources = await get_entries(f"{base}/root.csv", fetcher)

    assert [e.url for e in sources.entries] == [
        f"{base}/data/one.zarr",
        f"{base}/data/two.zarr",
        f"{base}/data/shared.zarr",
        f"{base}/data/three.zarr",
        f"{base}/data/root-level.zarr",
    ]
    one, two, shared, three, root_level = sources.entries
    assert (one.source, one.collection, one.columns["name"], one.columns["license"]) == ("Alpha", "a", "One", "CC-BY-4.0")
    # Two levels down, the root row's columns still reach the dataset.
    assert (two.source, two.collection, two.columns["license"]) == ("Alpha", "b", "CC-BY-4.0")
    assert shared.source == "Bravo"  # its own row's value beats the inherited one
    assert [(x.file, x.line, x.source, x.collection) for x in shared.listings] == [
        (f"{base}/b.csv", 3, "Bravo", "b"),
        (f"{base}/c.csv", 2, "Gamma", "c"),
    ]
    assert shared.columns["name"] == "Shared again"  # first non-empty value wins
    assert shared.columns["extra"] == "kept" and shared.columns["license"] == "CC-BY-4.0"
    assert (three.source, three.listings[0].line) == ("Gamma", 8)
    assert (root_level.source, root_level.collection) == ("root", "root")

    errors = {(e.file, e.line): e.message for e in sources.errors}
    assert set(errors) == {
        (f"{base}/b.csv", 4),
        (f"{base}/root.csv", 5),
        (f"{base}/c.csv", 3),
        (f"{base}/c.csv", 4),
        (f"{base}/c.csv", 5),
        (f"{base}/c.csv", 6),
        (f"{base}/c.csv", 7),
    }
    # a.csv -> b.csv -> a.csv
    assert "cycle" in errors[(f"{base}/b.csv", 4)] and "a -> b -> a" in errors[(f"{base}/b.csv", 4)]
    assert "HTTP 404" in errors[(f"{base}/root.csv", 5)]
    assert errors[(f"{base}/c.csv", 3)] == "empty url"
    assert "'file'" in errors[(f"{base}/c.csv", 4)] and "'javascript'" in errors[(f"{base}/c.csv", 5)]
    assert "http(s)" in errors[(f"{base}/c.csv", 6)] and "http(s)" in errors[(f"{base}/c.csv", 7)]
    assert sources.csv_files == tuple(f"{base}/{n}.csv" for n in ("root", "a", "b", "c"))
    # The cycle did not fetch a.csv again, and nothing outside the server was read.
    assert sorted(p for p in static_server.log.paths()) == sorted(
        ["/root.csv", "/a.csv", "/b.csv", "/c.csv", "/missing.csv"]
    )


async def test_children_are_read_concurrently(tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    in_flight = 0
    peak = 0

    async def hook(request: web.Request) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return None

    server, info = start_static_server(www, hook=hook)
    try:
        for i in range(6):
            _write(www / f"child{i}.csv", f"{info.url}/data/{i}.zarr\n")
        _write(www / "root.csv", "".join(f"{info.url}/child{i}.csv\n" for i in range(6)))
        async with Fetcher(allow_private_addresses=True) as fetcher:
            sources = await get_entries(f"{info.url}/root.csv", fetcher)
    finally:
        server.stop()
    assert [e.url for e in sources.entries] == [f"{info.url}/data/{i}.zarr" for i in range(6)]
    assert [e.collection for e in sources.entries] == [f"child{i}" for i in range(6)]
    assert peak >= 2


# --- local files ------------------------------------------------------------------


async def test_local_relative_children_and_file_quirks(tmp_path: Path) -> None:
    _write(
        tmp_path / "subs" / "root.csv",
        "url,source\r\n"
        "sub/child.csv,Local Lab\r\n"
        f"{tmp_path / 'abs.csv'},Absolute\r\n",
    )
    # BOM, CRLF, blank lines (one made of empty cells), header in a different order.
    (tmp_path / "subs" / "sub").mkdir(parents=True, exist_ok=True)
    (tmp_path / "subs" / "sub" / "child.csv").write_bytes(
        "\ufeffname,url\r\n\r\nFirst,https://Example.ORG/a b.zarr/\r\n,\r\n\"Multi\r\nline\",https://example.org/c.zarr\r\n"
        "Leaf list,../../leaves/headerless.csv\r\n".encode("utf-8")
    )
    # Headerless single column, LF, trailing blank lines, an already-encoded URL.
    _write(tmp_path / "leaves" / "headerless.csv", "https://example.org/a%20b.zarr\n\nhttps://example.org/d.zarr\n\n\n")
    _write(tmp_path / "abs.csv", "https://example.org/e.zarr\n/data/local.zarr\nftp://bucket/x.zarr\n")

    sources = await get_entries(str(tmp_path / "subs" / "root.csv"), None)

    assert [e.url for e in sources.entries] == [
        "https://example.org/a%20b.zarr",
        "https://example.org/c.zarr",
        "https://example.org/d.zarr",
        "https://example.org/e.zarr",
    ]
    ab, c, d, e = sources.entries
    assert ab.source == "Local Lab" and ab.collection == "child" and ab.columns["name"] == "First"
    child = str(tmp_path / "subs" / "sub" / "child.csv")
    headerless = str(tmp_path / "leaves" / "headerless.csv")
    assert [(x.file, x.line, x.collection) for x in ab.listings] == [(child, 3, "child"), (headerless, 1, "headerless")]
    assert c.listings[0].line == 5 and c.columns["name"] == "Multi\r\nline"
    assert d.listings[0].line == 3 and d.source == "Local Lab"
    assert e.source == "Absolute" and e.collection == "abs"
    assert [(x.file, x.line) for x in sources.errors] == [(str(tmp_path / "abs.csv"), 2), (str(tmp_path / "abs.csv"), 3)]
    assert "'ftp'" in sources.errors[1].message


async def test_depth_limit_and_unreadable_root(tmp_path: Path) -> None:
    for i in range(MAX_DEPTH + 3):
        _write(tmp_path / f"level{i}.csv", f"url\nhttps://example.org/{i}.zarr\nlevel{i + 1}.csv\n")
    sources = await get_entries(str(tmp_path / "level0.csv"), None)
    assert len(sources.entries) == MAX_DEPTH + 1  # levels 0..MAX_DEPTH are read
    assert [(Path(e.file).name, e.line) for e in sources.errors] == [(f"level{MAX_DEPTH}.csv", 3)]
    assert "deeper" in sources.errors[0].message

    missing = await get_entries(str(tmp_path / "nope.csv"), None)
    assert missing.entries == () and missing.csv_files == ()
    assert [(e.file, e.line) for e in missing.errors] == [(str(tmp_path / "nope.csv"), 0)]


async def test_url_map_stays_inside_its_directory(tmp_path: Path) -> None:
    (tmp_path / "secret.csv").write_text("https://example.org/secret.zarr\n")
    mapped = tmp_path / "mapped"
    _write(
        mapped / "root.csv",
        "https://host.test/samples/../secret.csv\nhttps://host.test/samples/%2e%2e/secret.csv\nhttps://host.test/samples/ok.csv\n",
    )
    _write(mapped / "ok.csv", "https://example.org/ok.zarr\n")
    sources = await get_entries("https://HOST.test/samples/root.csv", None, url_map={"https://host.test/samples/": str(mapped)})
    assert [e.url for e in sources.entries] == ["https://example.org/ok.zarr"]
    assert [e.line for e in sources.errors] == [1, 2]
    assert all("outside" in e.message for e in sources.errors)


def test_parse_http_url() -> None:
    assert parse_http_url(" HTTPS://Example.ORG:8443/a b/c%20d/x.zarr/// ") == "https://example.org:8443/a%20b/c%20d/x.zarr"
    assert parse_http_url("https://example.org/100%/é.zarr?q=a b") == "https://example.org/100%25/%C3%A9.zarr?q=a%20b"
    assert parse_http_url("https://example.org/x.zarr#frag") == "https://example.org/x.zarr"
    for bad in ["", "ftp://example.org/x", "https:///x.zarr", "https://user:pw@example.org/x", "https://e.org/a\nb"]:
        with pytest.raises(ValueError):
            parse_http_url(bad)


def test_parse_csv_text_header_detection() -> None:
    rows, errors = parse_csv_text("name,URL,extra\nN,https://e.org/x,1,surplus\nshort\n", "f.csv")
    assert errors == []
    assert [(r.line, r.url, dict(r.columns)) for r in rows] == [
        (2, "https://e.org/x", {"name": "N", "extra": "1"}),
        (3, "", {"name": "short", "extra": ""}),
    ]
    rows, errors = parse_csv_text("dataset,title\nx,y\n", "f.csv")
    assert rows == [] and [(e.line, "no 'url' column" in e.message) for e in errors] == [(1, True)]
