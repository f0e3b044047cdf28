"""The files the pages embed or point at, read once before any page is built:
the inlined stylesheet and its CSP hash, source logos, inlined thumbnails.

The context builders take the resulting ``SiteAssets`` and read nothing
themselves, so they are pure functions of the catalog.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from generator.records import Catalog
from generator.site.format import PAGE_SIZE
from generator.site.tally import Tally, tally_datasets

INLINE_THUMBNAILS = 12  # first-screen thumbnails inlined as data: URIs (one round trip to first paint)
INLINE_MAX_BYTES = 24 * 1024
LOGO_TYPES = ("svg", "png", "webp")
_MIME = MappingProxyType({"webp": "image/webp", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg"})


def _frozen(d: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True)
class SiteAssets:
    css: str  # assets/site.css, as the text of index.html's <style>
    css_hash: str  # its CSP hash (base64 sha256)
    logos: Mapping[str, str] = field(default_factory=_frozen)  # source name -> site-relative logo path
    inline: Mapping[str, str] = field(default_factory=_frozen)  # thumbnail path -> data: URI
    eager: int = 0  # leading cards on the first screen: thumbnails inlined (when small) and fetched first


def get_inline_css(css: str) -> tuple[str, str]:
    """site.css as the text of a <style> element, and its CSP hash (base64 sha256)."""
    # The HTML parser turns CR LF into LF before the browser hashes the element's text.
    css = css.replace("\r\n", "\n").replace("\r", "\n")
    if "</style" in css.lower():  # pragma: no cover - our own stylesheet
        raise ValueError("site.css cannot be inlined: it contains </style")
    return css, base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def find_logo(assets: Path, source: str) -> str | None:
    """``assets/logos/<slug>.<svg|png|webp>`` of a source, site-relative, if the file exists."""
    name = slug(source)
    for ext in LOGO_TYPES:
        if name and (assets / "logos" / f"{name}.{ext}").is_file():
            return f"assets/logos/{name}.{ext}"
    return None


def read_data_uri(path: Path, max_bytes: int = INLINE_MAX_BYTES) -> str | None:
    """The file as a data: URI; None when missing or larger than ``max_bytes``."""
    try:
        if path.stat().st_size > max_bytes:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    mime = _MIME.get(path.suffix.lower().lstrip("."), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def read_site_assets(catalog: Catalog, out: Path, assets: Path, *, inline_thumbnails: int = INLINE_THUMBNAILS,
                     tally: Tally | None = None) -> SiteAssets:
    """Everything the pages embed: ``assets`` is the assets folder, ``out`` the
    site folder holding the thumbnails; the first ``inline_thumbnails`` cards'
    thumbnails are inlined. ``tally``: the records' counts, when they were
    counted as they passed."""
    tally = tally or tally_datasets(catalog.datasets)
    css, css_hash = get_inline_css((assets / "site.css").read_text(encoding="utf-8"))
    logos = {}
    for source in tally.sources:
        logo = find_logo(assets, source)
        if logo:
            logos[source] = logo
    inline = {}
    for d in tally.first[: min(inline_thumbnails, PAGE_SIZE)]:
        if d.thumbnail is not None:
            uri = read_data_uri(out / d.thumbnail.card)
            if uri:
                inline[d.thumbnail.card] = uri
    return SiteAssets(css, css_hash, _frozen(logos), _frozen(inline), inline_thumbnails)
