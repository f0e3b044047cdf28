"""How values read on the page: sizes, times, counts, safe links, viewer URLs."""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from datetime import datetime, timezone
from typing import Any, Sequence
from urllib.parse import quote, urlsplit

from generator.records import Dataset
from generator.sources.columns import url_name

PAGE_SIZE = 60  # cards per page, in index.html and in the JS pager


CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"
)


def get_csp(style_hashes: Sequence[str] = ()) -> str:
    """The policy, allowing exactly the inline <style> blocks with these sha256 hashes
    (index.html inlines site.css: first paint needs only the HTML round trip).
    Still no inline script, no style attribute, no 'unsafe-inline'."""
    extra = "".join(f" 'sha256-{h}'" for h in style_hashes)
    return CSP.replace("style-src 'self';", f"style-src 'self'{extra};")


VALIDATOR = "https://ome.github.io/ome-ngff-validator/?source="


VIZARR = "https://hms-dbmi.github.io/vizarr/?source="


NEUROGLANCER = "https://neuroglancer-demo.appspot.com/#!"


_HEX = re.compile(r"^[0-9a-fA-F]{6}$")


def safe_url(value: str | None) -> str | None:
    """The URL if it is absolute http(s) with a host, else None: only such URLs become hrefs."""
    if not value or not isinstance(value, str):
        return None
    value = value.strip()
    if any(c in value for c in "\x00\r\n\t"):
        return None
    # Fast path for the common plain-ASCII "http(s)://host/..." (a 100,000-page
    # build asks three times per page); anything unusual goes through urlsplit.
    head = value[:8].lower()
    rest = value[8:] if head == "https://" else value[7:] if head.startswith("http://") else None
    if rest is not None and rest.isascii():
        end = len(rest)
        for sep in "/?#":
            i = rest.find(sep, 0, end)
            if i >= 0:
                end = i
        netloc = rest[:end]
        if netloc and "[" not in netloc and "]" not in netloc:
            return value
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return value


def format_bytes(n: float | None) -> str:
    if n is None:
        return "–"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


@lru_cache(maxsize=4096)  # a build's records share their harvest times
def format_time(iso: str) -> str:
    """"2026-11-22 01:42 UTC" from an ISO 8601 timestamp; anything else unchanged."""
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M UTC")


def format_count(n: int) -> str:
    return f"{n:,}"


def format_tuple(values: Sequence[Any] | None) -> str:
    return " × ".join(str(v) for v in values) if values else "–"


def _product(values: Sequence[int] | None) -> int:
    return math.prod(int(v) for v in values) if values else 0


def term_label(term: Any) -> str | None:
    if term is None:
        return None
    return term.label or term.id


def display_name(d: Dataset) -> str:
    """The name a card and a page show: the stated name, else what the sources
    stage names an unnamed listing by (the URL's last segment)."""
    if d.name and d.name.strip():
        return d.name.strip()
    return url_name(d.url)


def axis_names(d: Dataset) -> list[str]:
    shape = d.shape or ()
    names = [a.name for a in d.axes]
    if len(names) != len(shape):
        names = [f"d{i}" for i in range(len(shape))]
    return names


def get_axis_sizes(d: Dataset) -> list[tuple[str, int]]:
    return list(zip(axis_names(d), d.shape or ()))


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-")


# Indexed by code point (a tuple translates faster than a mapping): each ASCII character quoted or kept.
_QUOTE_ASCII = tuple(chr(c) if chr(c) in _UNRESERVED else f"%{c:02X}" for c in range(128))


def quote_component(text: str) -> str:
    """``urllib.parse.quote(text, safe="")``; str.translate makes the ASCII case several times faster."""
    if text.isascii():
        return text.translate(_QUOTE_ASCII)
    return quote(text, safe="")


def get_validator_url(url: str) -> str:
    return VALIDATOR + quote_component(url)



# The quoted state around the source URL and the name (quoting is per character).
_NG_SOURCE = quote_component('{"layers":[{"type":"image","source":"zarr://')
_NG_NAME = quote_component('","name":')
_NG_END = quote_component('}],"layout":"4panel"}')


def get_neuroglancer_url(url: str, name: str, quoted_url: str | None = None) -> str:
    """``quoted_url``: ``quote_component(url)``, when the caller has it already."""
    # Equal to quoting json.dumps({"layers": [...], "layout": "4panel"}, separators=(",", ":")),
    # built from two string dumps: a dict dump per page is measurable at 100,000 pages.
    # A URL JSON leaves as it is (printable ASCII, no quote or backslash) is
    # quoted once for the page, not again inside the state.
    if quoted_url is not None and url.isascii() and url.isprintable() and '"' not in url and "\\" not in url:
        return NEUROGLANCER + _NG_SOURCE + quoted_url + _NG_NAME + quote_component(json.dumps(name[:80])) + _NG_END
    state = (
        '{"layers":[{"type":"image","source":' + json.dumps(f"zarr://{url}") + ',"name":'
        + json.dumps(name[:80]) + '}],"layout":"4panel"}'
    )
    return NEUROGLANCER + quote_component(state)


# json.dumps with options builds an encoder per call: one, made once.
_SCRIPT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def json_for_script(value: Any) -> str:
    """JSON safe inside <script type="application/ld+json">: no "<" can close the element."""
    text = _SCRIPT_JSON.encode(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def is_failure(d: Dataset) -> bool:
    return d.status != "ok"


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _shell_quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"
