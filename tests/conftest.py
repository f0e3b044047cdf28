"""Shared fixtures: a real aiohttp static server on 127.0.0.1 and the shared corpus."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from generator.dev.server import BackgroundServer, Hook, RequestLog, make_app

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# Debian's chromium, never a downloaded one (no `playwright install`).
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CORPUS = REPO.parent / "shared" / "corpus"


@dataclass
class StaticServer:
    root: Path
    url: str
    log: RequestLog

    def url_for(self, rel: str) -> str:
        return f"{self.url}/{rel.lstrip('/')}"


def start_static_server(root: Path, **kw) -> tuple[BackgroundServer, StaticServer]:
    log = RequestLog()
    server = BackgroundServer(make_app(root, log=log, **kw)).start()
    return server, StaticServer(root=root, url=server.url, log=log)


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[StaticServer]:
    """Serves ``tmp_path / "www"`` with Range support, CORS and a request log."""
    root = tmp_path / "www"
    root.mkdir()
    server, info = start_static_server(root)
    try:
        yield info
    finally:
        server.stop()


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    return CORPUS


class Host:
    """A real local server over ``root``; ``hook`` may answer requests itself."""

    def __init__(self, root: Path, hook: Hook | None = None) -> None:
        self.root = root
        self.server = BackgroundServer(make_app(root, hook=hook)).start()

    def url(self, name: str) -> str:
        return f"{self.server.url}/{name}"


@pytest.fixture
def www(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    return root


@pytest.fixture
def host(www: Path) -> Iterator[Host]:
    h = Host(www)
    yield h
    h.server.stop()


def run_git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def new_git_repo(repo: Path) -> Path:
    """A throwaway git repository (the PR check's ``--changed`` reads its diff)."""
    repo.mkdir()
    run_git(repo, "init", "-q", "-b", "main")
    run_git(repo, "config", "user.email", "t@example.org")
    run_git(repo, "config", "user.name", "t")
    return repo



@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for a test module; skips where Playwright or Chromium is missing."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()
