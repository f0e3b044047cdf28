"""Pure URL rules of the sources stage: what a cell names, and one canonical form per URL.

``parse_http_url`` is why ``Tonsil 1.zarr`` and ``Tonsil%201.zarr`` are one
dataset, and why a ``file:`` or ``javascript:`` cell is a row error, not a
read. Nothing here does I/O.
"""

from __future__ import annotations

import functools
import re
from typing import Mapping
from urllib.parse import quote, unquote, urlsplit, urlunsplit

HTTP_SCHEMES = ("http", "https")

# Runs of characters to percent-encode in a path or a query: all but the
# RFC 3986 reserved and unreserved sets and "%" (existing escapes stay).
_PATH_UNSAFE = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]+")
_QUERY_UNSAFE = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/%?]+")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
# Already in canonical form (lower-case host, no port, only characters that
# need no encoding, no query, fragment or trailing slash): most real URLs.
_CANONICAL = re.compile(r"https?://[a-z0-9](?:[a-z0-9.\-]*[a-z0-9])?/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*")


class UrlError(ValueError):
    """A URL cell that cannot name a dataset or CSV; the message is user-facing."""


def is_csv_reference(ref: str) -> bool:
    """A child CSV: its path (query string ignored) ends in ``.csv``, any case."""
    if ".csv" not in ref.lower():  # the common case, decided without urlsplit
        return False
    return urlsplit(ref.strip()).path.lower().endswith(".csv")


def is_url(ref: str) -> bool:
    """Has a scheme (``https:``, ``file:``, ``javascript:``); a Windows drive is not one."""
    m = _SCHEME.match(ref)
    return bool(m) and len(m.group(1)) > 1


def parse_http_url(raw: str, *, keep_trailing_slash: bool = False) -> str:
    """Validate an http(s) URL and put it in one canonical form.

    The scheme and host are lower-cased, the path and query percent-encoded
    without touching existing ``%XX`` escapes (so ``Tonsil 1.zarr`` and
    ``Tonsil%201.zarr`` are one URL), the fragment dropped (never sent to the
    server) and trailing slashes removed so ``x.zarr/`` and ``x.zarr`` match.
    """
    url = raw.strip()
    if not url:
        raise UrlError("empty url")
    if _CANONICAL.fullmatch(url) and url[-1] != "/" and (("%" not in url) or not _LONE_PERCENT.search(url)):
        return url
    if CONTROL_CHARACTERS.search(url):
        raise UrlError(f"url contains control characters: {url!r}")
    if "?" not in url and "#" not in url:
        # Encoding first lets URLs whose only flaw is a space take the fast path.
        candidate = _encode(url, _PATH_UNSAFE)
        if _CANONICAL.fullmatch(candidate) and candidate[-1] != "/":
            return candidate
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in HTTP_SCHEMES:
        raise UrlError(f"unsupported scheme {scheme or '(none)'!r} in {url!r}: only http(s) URLs are allowed")
    try:
        host = parts.hostname
        port = parts.port
    except ValueError as e:
        raise UrlError(f"invalid host or port in {url!r}: {e}") from None
    if not host:
        raise UrlError(f"url has no host: {url!r}")
    if parts.username is not None or parts.password is not None:
        # Credentials would end up in a public catalog.
        raise UrlError(f"url must not contain credentials: {url!r}")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise UrlError(f"invalid host name in {url!r}") from None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    path = _encode(parts.path, _PATH_UNSAFE)
    if not keep_trailing_slash:
        path = path.rstrip("/")
    query = _encode(parts.query, _QUERY_UNSAFE)
    return urlunsplit((scheme, netloc, path, query, ""))


@functools.lru_cache(maxsize=4096)
def _quote_run(run: str) -> str:
    return quote(run, safe="")


def _encode(text: str, unsafe: re.Pattern[str]) -> str:
    # Only the offending runs (mostly single spaces) are quoted, and remembered:
    # quote() on a whole URL works character by character.
    if "%" in text:
        text = _LONE_PERCENT.sub("%25", text)
    return unsafe.sub(lambda m: _quote_run(m.group()), text)


def get_collection_name(ref: str) -> str:
    """The readable name of a CSV: its file name without ``.csv`` (``idr0004_samples``)."""
    path = urlsplit(ref).path if is_url(ref) else ref
    name = unquote(path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1])
    return name[:-4] if name.lower().endswith(".csv") else name


def parse_url_map(url_map: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """Prefixes in the canonical URL form, longest first so a specific mapping wins."""
    pairs = []
    for prefix, directory in (url_map or {}).items():
        try:
            prefix = parse_http_url(prefix, keep_trailing_slash=True)
        except UrlError:
            pass  # left as given: it can still match literally
        pairs.append((prefix, directory))
    return tuple(sorted(pairs, key=lambda kv: len(kv[0]), reverse=True))
