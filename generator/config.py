"""Build settings: one frozen record made by the CLI and read by every stage."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path


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
    workers: int = max(1, os.cpu_count() or 1)


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
    strict: bool = False
    resolve_terms: bool = False
    stale_days: int = 30  # a dataset failing this long is reported as gone
    # (URL prefix, local directory) pairs: read matching CSV URLs from disk.
    url_map: tuple[tuple[str, str], ...] = ()
    site_title: str = "OME-Zarr catalog"
    site_url: str = ""  # public base URL; makes sitemap locations absolute
    thumbnail: ThumbnailConfig = ThumbnailConfig()
    verbose: int = 0  # -1 quiet, 0 normal, 1 verbose
