"""Issue 10, case 7 (the atomic half): a killed build leaves the previous site complete.

The site is written into a staging folder beside ``--out`` and swapped in at
the end. Here a real build (OME-Zarr written by zarr-python, served on
127.0.0.1, thumbnails and all) makes the previous site; a second build, a
``python -m generator build`` subprocess with thousands of datasets, is
killed with SIGKILL while it writes its pages, once with the page writer in
the build's own process and once with forked page writers. The previous site
must be byte for byte what it was, and the next build must run (the killed
build's workers hold no lock), succeed, and leave no staging folder behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from generator.cli import main
from generator.dev.samples import gradient, write_image, write_plate
from generator.dev.server import BackgroundServer, make_app
from generator.lock import get_lock_path
from generator.site.pages import PARALLEL_MIN
from generator.staging import _rename_over, get_staging_path, remove_leftovers

REPO = Path(__file__).resolve().parents[1]
NAMES = ("a.zarr", "b.zarr", "p.zarr")


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("www")
    write_image(root / "a.zarr", gradient((2, 128, 128)), version="0.5", chunks=(1, 64, 64), name="A")
    write_image(root / "b.zarr", gradient((1, 96, 96), "uint8", seed=1), version="0.4", name="B")
    write_plate(root / "p.zarr", version="0.5", rows=("A",), columns=("1", "2"))
    with BackgroundServer(make_app(root)) as server:
        yield server.url


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path) and a digest of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _good_build(tmp_path: Path, url: str) -> None:
    csv = tmp_path / "good.csv"
    csv.write_text("url\n" + "".join(f"{url}/{n}\n" for n in NAMES), encoding="utf-8")
    out, cache = tmp_path / "site", tmp_path / "cache"
    assert main(["build", str(csv), "--out", str(out), "--cache", str(cache), "--timeout", "30", "-q", "--allow-private-addresses"]) == 0
    datasets = {d["url"]: d for d in json.loads((out / "catalog.json").read_text())["datasets"]}
    for name in NAMES:
        d = datasets[f"{url}/{name}"]
        assert d["status"] == "ok", (name, d["errors"])
        assert d["thumbnail"] and (out / d["thumbnail"]).is_file()
    assert len(list((out / "datasets").iterdir())) == len(NAMES)


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.") and p.is_dir())


def _big_csv(path: Path, count: int) -> Path:
    # Offline rows: the build reads nothing but this file, and spends its time writing pages.
    rows = "".join(f'https://example.org/big/d{i:05d}.zarr,Dataset {i},"1,64,64"\n' for i in range(count))
    path.write_text("url,name,shape\n" + rows, encoding="utf-8")
    return path


def _kill_while_writing_pages(csv: Path, out: Path, logs: Path) -> tuple[subprocess.Popen, int]:
    """Start the build, SIGKILL it once its staging folder holds dataset pages; (process, pages then)."""
    with open(logs / "killed.err", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "generator", "build", str(csv), "--out", str(out), "--offline", "-q"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
        )
    pages = out.parent / f".{out.name}.tmp-{proc.pid}" / "datasets"
    deadline = time.monotonic() + 300
    written: list[str] = []
    while not written:
        assert proc.poll() is None, f"the build ended before it was killed: {(logs / 'killed.err').read_text()}"
        assert time.monotonic() < deadline, "no dataset page was written within 300 s"
        written = os.listdir(pages) if pages.is_dir() else []
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(60) == -signal.SIGKILL
    return proc, len(written)


def _wait_for_the_lock(out: Path) -> None:
    """Until the output folder's lock is free. Forked page writers get their SIGKILL as
    the build dies and exit a moment after it; a worker that outlived the build would
    hold the lock for good, and fail this."""
    fd = os.open(get_lock_path(out), os.O_RDWR)
    try:
        for _ in range(600):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                time.sleep(0.05)
                continue
            fcntl.flock(fd, fcntl.LOCK_UN)
            return
        raise AssertionError(f"the lock of {out} is still held 30 s after its build was killed")
    finally:
        os.close(fd)


@pytest.mark.parametrize("writers", ["one writer", "forked writers"])
def test_a_build_killed_while_writing_its_site_leaves_the_previous_site_complete(
    writers: str, host: str, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    _good_build(tmp_path, host)
    before = _snapshot(out)

    count = PARALLEL_MIN // 2 if writers == "one writer" else PARALLEL_MIN + 2000
    proc, pages = _kill_while_writing_pages(_big_csv(tmp_path / "big.csv", count), out, tmp_path)
    try:
        assert pages > 0
        _wait_for_the_lock(out)
        # The previous site, exactly: no page of the killed build beside its index.html.
        assert _snapshot(out) == before
        assert _leftovers(out) == [f".site.tmp-{proc.pid}"]  # killed before the swap

        # The next build runs (no worker of the killed one holds the lock), and tidies up.
        _good_build(tmp_path, host)
        assert _leftovers(out) == []
        assert _snapshot(out).keys() == before.keys()
    finally:
        try:  # anything of the killed build still alive is a test failure above; do not leave it running
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_build_writes_the_new_site_whole_and_leaves_no_staging_folder(host: str, tmp_path: Path) -> None:
    out = tmp_path / "site"
    _good_build(tmp_path, host)
    first = _snapshot(out)
    csv = _big_csv(tmp_path / "big.csv", 40)
    assert main(["build", str(csv), "--out", str(out), "--offline", "-q"]) == 0
    # The old site's pages are gone with it; the new one is complete.
    assert len(list((out / "datasets").iterdir())) == 40
    assert not (out / "thumbnails").exists() or not any((out / "thumbnails").iterdir())
    now = _snapshot(out)
    assert not [f for f in first if f.startswith("datasets/") and f in now]
    assert _leftovers(out) == []


def test_the_two_step_swap_and_a_build_killed_between_its_renames(host: str, tmp_path: Path) -> None:
    # Where folders cannot be exchanged in one step, the old site goes aside, the new one in.
    out = tmp_path / "site"
    _good_build(tmp_path, host)
    before = _snapshot(out)
    staging = get_staging_path(out)
    (staging / "datasets").mkdir(parents=True)
    (staging / "index.html").write_text("new", encoding="utf-8")
    _rename_over(staging, out)
    assert (out / "index.html").read_text() == "new"
    assert _snapshot(staging) == before  # the old one, for the caller to remove

    # Killed between the two renames: --out is missing and the old site is aside.
    aside = out.with_name(f".site.old-{os.getpid()}")
    out.rename(tmp_path / "new-site")
    staging.rename(aside)
    (tmp_path / "new-site").rename(out.with_name(".site.tmp-1"))
    remove_leftovers(out)
    assert _snapshot(out) == before, "the previous site is put back"
    assert _leftovers(out) == []


def test_an_out_path_that_is_a_file_is_a_clear_error_and_is_left_alone(tmp_path: Path, capsys) -> None:
    out = tmp_path / "site"
    out.write_text("not a site\n", encoding="utf-8")
    csv = _big_csv(tmp_path / "small.csv", 3)
    assert main(["build", str(csv), "--out", str(out), "--offline", "-q"]) == 2
    err = capsys.readouterr().err
    assert f"ngff-catalog: error: --out {out} is not a folder" in err and "Traceback" not in err
    assert out.read_text(encoding="utf-8") == "not a site\n"
    assert _leftovers(out) == []
