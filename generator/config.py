"""Build settings: one frozen record made by the CLI and read by every stage."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import quote

from generator.fetch.hosts import HOST_FAILURE_LIMIT

# Time bounds. A real dataset is harvested in a few round trips and a real
# thumbnail reads a few dozen chunks; these are hit by hanging or crawling
# hosts only, and then bound what one of them can cost the build.
DATASET_SECONDS = 120.0  # wall clock for one dataset's harvest (all its documents)
THUMBNAIL_SECONDS = 120.0  # wall clock for one thumbnail (all its chunks and the render)
# Chunk requests one thumbnail may need, judged from the chunk grid before any
# is made: a plane of 4,096 tiny chunks costs a slow host hours, not pixels.
THUMBNAIL_MAX_CHUNKS = 1024
# The build stops harvesting and drawing after this long and writes the site
# from what it has: below the Pages workflow's 180-minute timeout, with time
# left for setup, the site, the cache and the upload.
DEADLINE_SECONDS = 150 * 60.0
# A plate's wells whose documents harvest reads, spread across it (``--plate-wells``;
# None: every well). With one field image each, a 384-well plate costs ~50 documents.
PLATE_WELLS = 24
# Records a span: what a forked page writer takes at a time, and what the
# writing process holds of a catalog that streams from disk.
SPAN = 5000


def default_cache_dir(source: str | None = None) -> Path:
    """``~/.cache/ngff-catalog``, with one state per root CSV below it.

    The state forgets datasets its CSVs no longer list, so two catalogs must
    not share one: the root CSV (resolved when it is a path) names the folder.
    """
    base = Path(os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")) / "ngff-catalog"
    if source is None:
        return base
    key = source if "://" in source else str(Path(source).resolve())
    return base / hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class ThumbnailConfig:
    card_size: int = 256
    detail_size: int = 1024
    max_bytes: int = 64 * 1024 * 1024  # chunk bytes read per thumbnail
    max_pixels: int = 64 * 1024 * 1024  # pixels decoded per thumbnail
    max_chunks: int = THUMBNAIL_MAX_CHUNKS  # chunk requests per thumbnail (plates: all wells together)
    seconds: float = THUMBNAIL_SECONDS  # wall clock per thumbnail
    workers: int = max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class SourceLimits:
    """Bounds on what the submission CSVs may make a build hold, walk or write.

    Each is hit by a hostile or broken CSV, never by a real one (the
    challenge's largest CSV has 14 columns and about 1,000 rows); hitting one
    is a row error at the file and line where it happened.
    """

    depth: int = 16  # CSVs nested below the root
    files: int = 10_000  # distinct CSVs read per build (each is read once)
    columns: int = 100  # columns kept per CSV; the url column is always kept
    rows: int = 100_000  # non-blank rows read per CSV
    items: int = 200_000  # rows (datasets and CSV links) read per build, over all CSVs
    cell_chars: int = 8_192  # characters in one cell; a longer cell is ignored
    # An inherited cell longer than this is shortened, with a note naming the
    # row that holds it in full: a collection's text is not copied into every
    # one of its datasets' pages.
    inherited_chars: int = 500
    listings: int = 50  # listings kept per dataset
    errors_per_csv: int = 50  # row errors reported per CSV; the rest are summarised


@dataclass(frozen=True)
class GitHubSource:
    """The checkout a build in GitHub Actions reads its CSVs from: listings link to their lines."""

    server: str  # GITHUB_SERVER_URL: https://github.com
    repository: str  # GITHUB_REPOSITORY: owner/name
    sha: str  # GITHUB_SHA: the commit built
    workspace: str  # GITHUB_WORKSPACE: the checkout's folder ("": the root CSV's folder)

    def get_blob(self, path: str) -> str:
        """A file of the checkout on GitHub (add ``#L<line>``), or "" when ``path`` is outside it."""
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(self.workspace)).replace(os.sep, "/")
        if rel == ".." or rel.startswith("../"):
            return ""
        return f"{self.server.rstrip('/')}/{self.repository}/blob/{self.sha}/{quote(rel)}"


def parse_github_env(environ: Mapping[str, str]) -> GitHubSource | None:
    """The Actions checkout from its environment variables, or None outside Actions."""
    keys = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA")
    server, repository, sha = (environ.get(k, "").strip() for k in keys)
    if not (server and repository and sha):
        return None
    return GitHubSource(server, repository, sha, environ.get("GITHUB_WORKSPACE", "").strip())


@dataclass(frozen=True)
class BuildConfig:
    source: str  # path or http(s) URL of the root submissions CSV
    out: Path
    cache: Path | None = None  # None: no build state is kept
    offline: bool = False
    thumbnails: bool = True
    concurrency: int = 64
    per_host: int = 16
    timeout: float = 20.0
    retries: int = 3
    dataset_seconds: float = DATASET_SECONDS  # wall clock per dataset's harvest
    host_failures: int = HOST_FAILURE_LIMIT  # consecutive failures before a host is skipped (0: never)
    deadline: float | None = DEADLINE_SECONDS  # seconds after the start: stop fetching, write the site
    # Loopback, private and link-local addresses are refused unless this is
    # set: for local catalogs, the demo and tests, never for a public build.
    allow_private_addresses: bool = False
    strict: bool = False
    resolve_terms: bool = False
    stale_days: int = 30  # a dataset failing this long is reported as gone
    # (URL prefix, local directory) pairs: read matching CSV URLs from disk.
    url_map: tuple[tuple[str, str], ...] = ()
    site_title: str = "OME-Zarr catalog"
    site_url: str = ""  # public base URL; makes sitemap locations absolute
    thumbnail: ThumbnailConfig = ThumbnailConfig()
    sources: SourceLimits = SourceLimits()
    github: GitHubSource | None = None  # set in Actions: listings link to their line on GitHub
    verbose: int = 0  # -1 quiet, 0 normal, 1 verbose
    plate_wells: int | None = PLATE_WELLS  # wells read per plate (None: all)
    # Harvest and thumbnails on Dask distributed: a scheduler address, or
    # "local[:N]" for a local cluster of N worker processes (None: in this process).
    dask: str | None = None
    dask_batch: int = 200  # datasets per cluster task
    dask_retries: int = 3  # times a batch that raised is run again (a dead worker's batch always is)
    site_budget: int | None = None  # bytes the written site may take (--site-budget); None: no limit
