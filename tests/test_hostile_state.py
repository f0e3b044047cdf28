"""Issue 10, case 6 and the locking half of case 7: the build state and its locks.

A damaged ``state.sqlite`` (random 4 KB pages overwritten, at rest or while
the build runs) is moved aside with a message and the build goes on cold; a
newer schema or a cache path that is not a folder is a clear error (exit 2);
two builds never share an output folder or a cache, and a build killed with
SIGKILL leaves no lock behind. Every build here harvests real OME-Zarr written
by zarr-python from a real local server, and every test shows the good
datasets come out ``ok`` with their thumbnails.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest
from aiohttp import web

from generator.cli import main
from generator.dev.samples import gradient, write_image, write_plate
from generator.dev.server import BackgroundServer, make_app
from generator.guarded_db import CORRUPT_KEPT, CORRUPT_SUFFIX
from generator.lock import get_lock_path
from generator.state import State
from generator.state_schema import DB_NAME

REPO = Path(__file__).resolve().parents[1]
PAGE = 4096  # SQLite's default page size, which the state uses
NAMES = ("a.zarr", "b.zarr", "p.zarr")  # the good datasets of every build here


class Hook:
    """Fault injection for the data host: one action on the first request for ``path``."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.action = lambda: None
        self.hold = False  # keep that request open until ``release`` is set
        self.entered = threading.Event()
        self.release = threading.Event()

    async def __call__(self, request: web.Request) -> web.StreamResponse | None:
        if request.path != self.path or self.entered.is_set():
            return None
        self.entered.set()
        self.action()
        if self.hold:
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
        return None


@pytest.fixture(scope="module")
def www(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("www")
    write_image(root / "a.zarr", gradient((2, 128, 128)), version="0.5", chunks=(1, 64, 64), name="A")
    write_image(root / "b.zarr", gradient((1, 96, 96), "uint8", seed=1), version="0.4", name="B")
    write_plate(root / "p.zarr", version="0.5", rows=("A",), columns=("1", "2"))
    write_image(root / "slow.zarr", gradient((1, 64, 64), "uint8", seed=2), version="0.5", name="Slow")
    return root


class HookSlot:
    """The server's hook: each test installs a fresh :class:`Hook`."""

    def __init__(self) -> None:
        self.hook = Hook()

    async def __call__(self, request: web.Request) -> web.StreamResponse | None:
        return await self.hook(request)


@pytest.fixture(scope="module")
def server(www: Path) -> Iterator[tuple[str, HookSlot]]:
    """One data host for the module, so a state built by one test names the URLs of the next."""
    slot = HookSlot()
    background = BackgroundServer(make_app(www, hook=slot)).start()
    try:
        yield background.url, slot
    finally:
        slot.hook.release.set()
        background.stop()


@pytest.fixture
def host(server: tuple[str, HookSlot]) -> Iterator[tuple[str, Hook]]:
    url, slot = server
    slot.hook = Hook()
    try:
        yield url, slot.hook
    finally:
        slot.hook.release.set()  # never leave a handler waiting


def _csv(tmp_path: Path, url: str, names: tuple[str, ...] = NAMES) -> Path:
    csv = tmp_path / "submissions.csv"
    csv.write_text("url\n" + "".join(f"{url}/{n}\n" for n in names), encoding="utf-8")
    return csv


def _build_args(csv: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return ["build", str(csv), "--out", str(out), "--cache", str(cache), "--timeout", "30", "-q", "--allow-private-addresses", *extra]


def _assert_good_site(out: Path, url: str, names: tuple[str, ...] = NAMES) -> None:
    """Every good dataset is in the catalog, ok, with its thumbnail on disk."""
    datasets = {d["url"]: d for d in json.loads((out / "catalog.json").read_text())["datasets"]}
    for name in names:
        d = datasets[f"{url}/{name}"]
        assert d["status"] == "ok", (name, d["errors"])
        assert d["thumbnail"] and (out / d["thumbnail"]).is_file(), name
    assert (out / "index.html").stat().st_size > 0


def _overwrite_pages(db_file: Path, seed: int, count: int, first: int = 0) -> list[int]:
    """Overwrite ``count`` distinct random 4 KB pages (numbered from 0) with random bytes."""
    rng = random.Random(seed)
    pages = rng.sample(range(first, db_file.stat().st_size // PAGE), count)
    with open(db_file, "r+b") as f:
        for page in pages:
            f.seek(page * PAGE)
            f.write(rng.randbytes(PAGE))
    return pages


def _set_aside_files(cache: Path) -> list[Path]:
    return sorted(p for p in cache.glob(f"{DB_NAME}{CORRUPT_SUFFIX}*") if not p.name.endswith("-wal"))


def _urls_in_state(cache: Path) -> set[str]:
    with State(cache) as st:
        assert st.integrity_check() == "ok"
        return st.get_urls()


@pytest.fixture(scope="module")
def warm_cache(server: tuple[str, HookSlot], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cache folder of a real build of the good datasets."""
    work = tmp_path_factory.mktemp("warm")
    assert main(_build_args(_csv(work, server[0]), work / "site", work / "cache")) == 0
    db_file = work / "cache" / DB_NAME
    assert db_file.stat().st_size // PAGE >= 8  # enough pages for the damage to land in many places
    assert not Path(f"{db_file}-wal").exists() or Path(f"{db_file}-wal").stat().st_size == 0
    return work / "cache"


# -- case 6: a damaged state -------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_a_state_with_overwritten_pages_is_moved_aside_and_the_build_goes_on_cold(
    seed: int, warm_cache: Path, host: tuple[str, Hook], tmp_path: Path, capsys
) -> None:
    url, _ = host
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache, cache)
    capsys.readouterr()
    pages = _overwrite_pages(cache / DB_NAME, seed, count=2)

    assert main(_build_args(_csv(tmp_path, url), tmp_path / "site", cache)) == 0, pages
    err = capsys.readouterr().err
    aside = _set_aside_files(cache)
    assert len(aside) == 1, (pages, err)
    assert f"the build state {cache / DB_NAME} is damaged" in err
    assert f"moved it to {aside[0]}; this build runs as a cold build" in err
    assert "Traceback" not in err
    _assert_good_site(tmp_path / "site", url)
    # The cold build wrote a healthy state in its place: tomorrow is warm again.
    assert _urls_in_state(cache) == {f"{url}/{n}" for n in NAMES}


def test_damage_found_mid_build_moves_the_state_aside_and_the_site_is_still_written(
    warm_cache: Path, host: tuple[str, Hook], tmp_path: Path, capsys
) -> None:
    url, hook = host
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache, cache)
    capsys.readouterr()
    db_file = cache / DB_NAME

    def damage_the_open_state() -> None:
        # The build has opened the state (and passed quick_check) when the
        # first dataset request arrives. Overwrite every page but the header,
        # then commit a header-only change from another connection: SQLite
        # keeps the pages it has read, and that commit makes the build's
        # connection read them from disk again, as it does all the time with
        # a state larger than its page cache.
        _overwrite_pages(db_file, seed=7, count=db_file.stat().st_size // PAGE - 1, first=1)
        other = sqlite3.connect(db_file, isolation_level=None)
        other.execute("PRAGMA user_version = 7")
        other.close()

    hook.path, hook.action = "/a.zarr/zarr.json", damage_the_open_state
    assert main(_build_args(_csv(tmp_path, url), tmp_path / "site", cache)) == 0
    err = capsys.readouterr().err
    assert hook.entered.is_set()
    aside = _set_aside_files(cache)
    assert len(aside) == 1, err
    assert f"the build state {db_file} turned out damaged during the build" in err
    assert f"moved it to {aside[0]}; the rest of this build runs as a cold build" in err
    assert "Traceback" not in err
    _assert_good_site(tmp_path / "site", url)
    assert _urls_in_state(cache) == {f"{url}/{n}" for n in NAMES}


def test_a_state_with_a_newer_schema_is_a_clear_error_and_is_left_alone(
    host: tuple[str, Hook], tmp_path: Path, capsys
) -> None:
    url, _ = host
    csv, out, cache = _csv(tmp_path, url), tmp_path / "site", tmp_path / "cache"
    assert main(_build_args(csv, out, cache)) == 0
    db = sqlite3.connect(cache / DB_NAME)
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    before = (cache / DB_NAME).read_bytes()
    index_before = (out / "index.html").read_bytes()
    capsys.readouterr()

    assert main(_build_args(csv, out, cache)) == 2
    err = capsys.readouterr().err
    assert err.startswith("ngff-catalog: error: ")
    assert f"the build state {cache / DB_NAME} has schema version 99, newer than this ngff-catalog (1)" in err
    assert "Traceback" not in err
    assert (cache / DB_NAME).read_bytes() == before and not _set_aside_files(cache)
    # The last good site stays as it was.
    assert (out / "index.html").read_bytes() == index_before
    _assert_good_site(out, url)


@pytest.mark.parametrize("layout", ["cache is a file", "cache is under a file"])
def test_a_cache_path_that_is_not_a_folder_is_a_clear_error(
    layout: str, host: tuple[str, Hook], tmp_path: Path, capsys
) -> None:
    url, _ = host
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder\n")
    cache = blocker if layout == "cache is a file" else blocker / "cache"
    csv, out = _csv(tmp_path, url), tmp_path / "site"

    assert main(_build_args(csv, out, cache)) == 2
    err = capsys.readouterr().err
    if layout == "cache is a file":
        assert f"ngff-catalog: error: the build cache {cache} is not a writable folder (File exists)" in err
        assert "give another --cache folder, or --no-cache" in err
    else:  # its lock file, beside it, cannot be made either
        assert f"ngff-catalog: error: cannot lock the build cache (--cache) {cache}: {blocker} is not a writable folder" in err
    assert "Traceback" not in err
    assert blocker.read_text() == "not a folder\n"
    # The same catalog builds fine with a usable cache.
    assert main(_build_args(csv, out, tmp_path / "cache")) == 0
    _assert_good_site(out, url)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_cache_folder_is_a_clear_error(host: tuple[str, Hook], tmp_path: Path, capsys) -> None:
    url, _ = host
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        assert main(_build_args(_csv(tmp_path, url), tmp_path / "site", cache)) == 2
    finally:
        cache.chmod(0o755)
    err = capsys.readouterr().err
    assert "ngff-catalog: error: " in err and str(cache) in err and "Traceback" not in err


# -- case 7: one build per output folder and per cache ------------------------------------------------


def _start_holding_build(csv: Path, out: Path, cache: Path, hook: Hook, logs: Path) -> subprocess.Popen:
    """A build in another process, stopped while harvesting (so holding its locks)."""
    hook.path, hook.hold = "/slow.zarr/zarr.json", True
    stdout, stderr = open(logs / "holder.out", "wb"), open(logs / "holder.err", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from generator.cli import main; sys.exit(main(sys.argv[1:]))",
         *_build_args(csv, out, cache, "--timeout", "120")],
        cwd=REPO, stdout=stdout, stderr=stderr,
    )
    stdout.close()
    stderr.close()
    while not hook.entered.wait(0.2):
        assert proc.poll() is None, (logs / "holder.err").read_text()
    return proc


def _assert_refused(args: list[str], what: str, folder: Path, pid: int, capsys) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert (
        f"ngff-catalog: error: the {what} {folder} is in use by another ngff-catalog build "
        f"(pid {pid}, lock file {get_lock_path(folder)})"
    ) in err, err
    assert "Traceback" not in err


def test_a_second_build_on_the_same_out_or_cache_is_refused_naming_the_holder(
    host: tuple[str, Hook], tmp_path: Path, capsys
) -> None:
    url, hook = host
    names = (*NAMES, "slow.zarr")
    csv, out, cache = _csv(tmp_path, url, names), tmp_path / "site", tmp_path / "cache"
    holder = _start_holding_build(csv, out, cache, hook, tmp_path)
    try:
        _assert_refused(_build_args(csv, out, tmp_path / "cache2"), "output folder (--out)", out, holder.pid, capsys)
        _assert_refused(_build_args(csv, tmp_path / "site2", cache), "build cache (--cache)", cache, holder.pid, capsys)
        assert not (tmp_path / "site2").exists() and not (tmp_path / "cache2").exists()
    finally:
        hook.release.set()
        rc = holder.wait(120)
    assert rc == 0, (tmp_path / "holder.err").read_text()
    # The refused builds changed nothing: the holder's site is whole.
    _assert_good_site(out, url, names)
    assert _urls_in_state(cache) == {f"{url}/{n}" for n in names}
    # Its locks went with it: the next build runs.
    assert main(_build_args(csv, out, cache)) == 0
    _assert_good_site(out, url, names)


def test_a_build_killed_with_sigkill_leaves_no_lock_behind(host: tuple[str, Hook], tmp_path: Path, capsys) -> None:
    url, hook = host
    names = (*NAMES, "slow.zarr")
    csv, out, cache = _csv(tmp_path, url, names), tmp_path / "site", tmp_path / "cache"
    holder = _start_holding_build(csv, out, cache, hook, tmp_path)
    try:
        _assert_refused(_build_args(csv, out, cache), "output folder (--out)", out, holder.pid, capsys)
    finally:
        holder.send_signal(signal.SIGKILL)
        assert holder.wait(60) == -signal.SIGKILL
        hook.release.set()
    assert get_lock_path(out).is_file() and get_lock_path(cache).is_file()  # the files stay; no lock does

    assert main(_build_args(csv, out, cache)) == 0
    assert "Traceback" not in capsys.readouterr().err
    _assert_good_site(out, url, names)


def test_a_state_that_cannot_be_written_mid_build_goes_on_in_memory_and_is_left_alone(
    warm_cache: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache, cache)
    before = (cache / DB_NAME).read_bytes()
    warnings: list[str] = []
    with State(cache, warn=warnings.append) as st:
        (url,) = sorted(st.get_urls())[:1]
        kept = st.get_dataset(url)
        assert kept is not None
        # SQLite's own refusal to write (SQLITE_READONLY), as a read-only
        # mount or a full disk gives: the file is fine, the build cannot use it.
        st._db.db.execute("PRAGMA query_only = 1")
        with st.transaction():
            st.save_dataset(dataclasses.replace(kept, name="renamed"), "2026-02-01T02:00:00+00:00")
        assert warnings == [
            f"ngff-catalog: warning: the build state {cache / DB_NAME} failed during the build "
            "(attempt to write a readonly database); the rest of this build keeps its state in memory and saves nothing"
        ]
        assert st.get_dataset(url).name == "renamed"  # the rest of the build sees its own writes
    assert (cache / DB_NAME).read_bytes() == before and not _set_aside_files(cache)
    assert _urls_in_state(cache) == _urls_in_state(warm_cache)


def test_only_the_newest_damaged_states_are_kept(
    warm_cache: Path, host: tuple[str, Hook], tmp_path: Path, capsys
) -> None:
    url, _ = host
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache, cache)
    older = [cache / f"{DB_NAME}{CORRUPT_SUFFIX}20250101T000000Z{n}" for n in ("", "-2", "-10")]
    for path in older:
        shutil.copyfile(cache / DB_NAME, path)
    Path(f"{older[0]}-wal").write_bytes(b"")
    _overwrite_pages(cache / DB_NAME, seed=11, count=2)

    assert main(_build_args(_csv(tmp_path, url), tmp_path / "site", cache)) == 0
    kept = _set_aside_files(cache)
    assert len(kept) == CORRUPT_KEPT == 2
    assert kept[0] == older[2]  # -10 is newer than -2 within one second
    assert kept[1].name > older[0].name and f"moved it to {kept[1]}" in capsys.readouterr().err
    assert not Path(f"{older[0]}-wal").exists()
    _assert_good_site(tmp_path / "site", url)
