"""``ngff-catalog publish DIR URL``: a built site to any fsspec-writable place.

Only what changed is uploaded: the destination keeps ``publish-manifest.json``
(site path -> sha256 of the content), written last, and a file whose hash it
already lists is kept. Each file gets a Content-Type and a Cache-Control
(``get_headers``). The order is what a visitor needs never to see a
half-published site: every new or changed file but the entry pages first,
then the entry pages (``index.html``, the index and the catalog manifest,
which point at the rest), then the files the new site no longer has are
deleted, then the manifest. Credentials come from the environment the
storage library reads (AWS_*, GOOGLE_*); nothing here writes them anywhere.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import fsspec

MANIFEST = "publish-manifest.json"
# What a visitor opens first, and what points at everything else: written after the rest.
ENTRY = re.compile(r"index\.html|index\.json|catalog\.json|sitemap(-\d+)?\.xml")
IMMUTABLE = "public, max-age=31536000, immutable"  # the name changes when the content does
SHORT = "public, max-age=300"  # pages, the index and exports change every build
ASSETS = "public, max-age=3600"  # fixed names whose content a new version changes
BATCH = 256  # files per upload call: bounded memory, concurrent requests on async stores
_TYPES = {".webp": "image/webp", ".svg": "image/svg+xml", ".js": "text/javascript", ".mjs": "text/javascript",
          ".json": "application/json", ".csv": "text/csv", ".xml": "application/xml", ".gz": "application/gzip",
          ".html": "text/html", ".css": "text/css", ".txt": "text/plain"}


class PublishError(Exception):
    """The site folder or the destination is unusable."""


@dataclass(frozen=True)
class PublishResult:
    uploaded: tuple[str, ...]
    kept: tuple[str, ...]
    deleted: tuple[str, ...]
    uploaded_bytes: int

    def describe(self) -> str:
        return (f"published: {len(self.uploaded)} files uploaded ({self.uploaded_bytes} bytes), "
                f"{len(self.kept)} unchanged kept, {len(self.deleted)} deleted")


def get_headers(rel: str) -> tuple[str, str]:
    """(Content-Type, Cache-Control) of a site-relative path."""
    suffix = Path(rel).suffix.lower()
    ctype = _TYPES.get(suffix) or mimetypes.guess_type(rel)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/json", "application/xml", "image/svg+xml"):
        ctype += "; charset=utf-8"
    if rel.startswith("thumbnails/") or rel.startswith("assets/vendor/"):
        return ctype, IMMUTABLE  # content-addressed thumbnails; vendored files carry their version
    if rel.startswith("assets/"):
        return ctype, ASSETS
    return ctype, SHORT


def is_entry(rel: str) -> bool:
    return ENTRY.fullmatch(rel) is not None


def hash_site(root: Path) -> dict[str, str]:
    """Every file of the site: path relative to ``root`` (with "/") -> sha256 hex."""
    hashes = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if rel == MANIFEST:
                continue
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            hashes[rel] = h.hexdigest()
    return hashes


def get_storage_options(url: str, endpoint: str | None, environ: Mapping[str, str]) -> dict[str, Any]:
    """fsspec options for ``url``: an S3-compatible endpoint from ``--endpoint`` or the standard variables."""
    if not url.startswith(("s3://", "s3a://")):
        return {}
    endpoint = endpoint or environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    return {"endpoint_url": endpoint} if endpoint else {}


def _write_options(protocol: str, ctype: str, cache: str) -> dict[str, Any]:
    """The headers in the words of each store's library."""
    if protocol in ("s3", "s3a"):
        return {"ContentType": ctype, "CacheControl": cache}
    if protocol in ("gs", "gcs"):
        return {"content_type": ctype, "fixed_key_metadata": {"cache_control": cache}}
    return {}


def parse_manifest(data: bytes) -> dict[str, str]:
    """The destination's manifest; an unreadable one is an empty one (everything is uploaded again)."""
    try:
        doc = json.loads(data)
        files = doc["files"]
        return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}
    except (ValueError, KeyError, TypeError):
        return {}


def publish(site: Path, url: str, *, endpoint: str | None = None, environ: Mapping[str, str] | None = None,
            storage_options: Mapping[str, Any] | None = None) -> PublishResult:
    """Upload ``site`` to ``url``: what changed, entry pages last, then deletions, then the manifest."""
    site = Path(site)
    if not (site / "index.html").is_file():
        raise PublishError(f"{site} has no index.html (run 'ngff-catalog build' first)")
    options = {**get_storage_options(url, endpoint, os.environ if environ is None else environ), **(storage_options or {})}
    fs, root = fsspec.core.url_to_fs(url, **options)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    root = root.rstrip("/")
    local = hash_site(site)
    manifest_path = f"{root}/{MANIFEST}"
    remote = parse_manifest(fs.cat_file(manifest_path)) if fs.exists(manifest_path) else {}
    changed = [rel for rel, h in local.items() if remote.get(rel) != h]
    kept = tuple(rel for rel in local if rel not in set(changed))
    _upload(fs, protocol, site, root, [r for r in changed if not is_entry(r)])
    _upload(fs, protocol, site, root, [r for r in changed if is_entry(r)])
    gone = tuple(sorted(rel for rel in remote if rel not in local))
    if gone:
        fs.rm([f"{root}/{rel}" for rel in gone])
    doc = json.dumps({"schema_version": 1, "files": local}, separators=(",", ":"), sort_keys=True).encode()
    fs.pipe_file(manifest_path, doc, **_write_options(protocol, "application/json; charset=utf-8", "no-cache"))
    return PublishResult(tuple(changed), kept, gone, sum((site / r).stat().st_size for r in changed))


def _upload(fs: Any, protocol: str, site: Path, root: str, rels: Iterable[str]) -> None:
    by_headers: dict[tuple[str, str], list[str]] = {}
    for rel in rels:
        by_headers.setdefault(get_headers(rel), []).append(rel)
    local_fs = protocol in ("file", "local")
    for (ctype, cache), group in by_headers.items():
        options = _write_options(protocol, ctype, cache)
        for i in range(0, len(group), BATCH):
            batch = group[i : i + BATCH]
            if local_fs:
                for parent in {f"{root}/{rel}".rsplit("/", 1)[0] for rel in batch}:
                    fs.makedirs(parent, exist_ok=True)
            # A dict: async stores (s3fs, gcsfs) send the batch concurrently.
            fs.pipe({f"{root}/{rel}": (site / rel).read_bytes() for rel in batch}, **options)
