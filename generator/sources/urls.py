"""Pure URL rules of the sources stage: what a cell names, and one canonical form per URL.

``parse_http_url`` is why ``Tonsil 1.zarr`` and ``Tonsil%201.zarr`` are one
dataset, and why a ``file:`` or ``javascript:`` cell is a row error, not a
read; ``parse_object_url`` does the same for ``s3://`` and ``gs://`` rows,
``parse_endpoint`` for the ``endpoint`` column. Nothing here does I/O.
"""

from __future__ import annotations

import functools
import re
from typing import Mapping
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from generator.object_urls import OBJECT_SCHEMES, get_bucket_problem

HTTP_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}

# Runs of characters to percent-encode in a path or a query: all but the
# RFC 3986 reserved and unreserved sets and "%" (existing escapes stay).
_PATH_UNSAFE = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]+")
_QUERY_UNSAFE = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/%?]+")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# RFC 3986 unreserved characters: percent-encoding one changes nothing.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
# Canonical but for its path's escapes and dot segments (lower-case host, no
# port, only characters that need no encoding, no query, fragment or trailing
# slash): most real URLs, which skip urlsplit.
_CANONICAL = re.compile(r"(https?://[a-z0-9](?:[a-z0-9.\-]*[a-z0-9])?)(/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*)")


class UrlError(ValueError):
    """A URL cell that cannot name a dataset or CSV; the message is user-facing."""


# --- pure parsing --------------------------------------------------------------


def is_csv_reference(ref: str) -> bool:
    """A child CSV: its path (query string ignored) ends in ``.csv``, any case."""
    if ".csv" not in ref.lower():  # the common case, decided without urlsplit
        return False
    return urlsplit(ref.strip()).path.lower().endswith(".csv")


def is_url(ref: str) -> bool:
    """Has a scheme (``https:``, ``file:``, ``javascript:``); a Windows drive is not one."""
    m = _SCHEME.match(ref)
    return bool(m) and len(m.group(1)) > 1


def parse_http_url(raw: str, *, keep_trailing_slash: bool = False, keep_dot_segments: bool = False) -> str:
    """Validate an http(s) URL and put it in one canonical form.

    The scheme and host are lower-cased, a default port dropped, the path and
    query percent-encoded without touching existing ``%XX`` escapes (so
    ``Tonsil 1.zarr`` and ``Tonsil%201.zarr`` are one URL), the fragment
    dropped (never sent to the server) and trailing slashes removed so
    ``x.zarr/`` and ``x.zarr`` match. Spellings that RFC 3986 (section 6.2)
    calls equivalent become one: ``/./`` and ``/x/../`` are removed, an
    escaped unreserved character (``%64``) is decoded and other escapes are
    upper-cased. What stays is significant, as first written: the path's
    case, reserved escapes such as ``%2F``, the query. ``keep_dot_segments``
    leaves ``.`` and ``..`` in place: the URL as written, to tell where it points from.
    """
    url = raw.strip()
    if not url:
        raise UrlError("empty url")
    m = _CANONICAL.fullmatch(url)
    if m and url[-1] != "/" and (("%" not in url) or not _LONE_PERCENT.search(url)):
        return m.group(1) + _normalise_path(m.group(2), keep_trailing_slash, keep_dot_segments)
    if CONTROL_CHARACTERS.search(url):
        raise UrlError(f"url contains control characters: {url!r}")
    if "?" not in url and "#" not in url:
        # Encoding first lets URLs whose only flaw is a space take the fast path.
        candidate = _encode(url, _PATH_UNSAFE)
        m = _CANONICAL.fullmatch(candidate)
        if m and candidate[-1] != "/":
            return m.group(1) + _normalise_path(m.group(2), keep_trailing_slash, keep_dot_segments)
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
    netloc = host if port is None or port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = _normalise_path(_encode(parts.path, _PATH_UNSAFE), keep_trailing_slash, keep_dot_segments)
    query = _normalise_escapes(_encode(parts.query, _QUERY_UNSAFE))
    return urlunsplit((scheme, netloc, path, query, ""))


def _normalise_path(path: str, keep_trailing_slash: bool, keep_dot_segments: bool) -> str:
    path = _normalise_escapes(path)
    if not keep_dot_segments:
        path = _remove_dot_segments(path)
    return path if keep_trailing_slash else path.rstrip("/")


def _normalise_escapes(text: str) -> str:
    """Decode escaped unreserved characters, upper-case the other escapes (RFC 3986 6.2.2.1-2)."""
    if "%" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        char = chr(int(m.group()[1:], 16))
        return char if char in _UNRESERVED else m.group().upper()

    return _ESCAPE.sub(one, text)


def _remove_dot_segments(path: str) -> str:
    """``/a/./b/../c`` -> ``/a/c`` (RFC 3986 5.2.4), never above the root; linear in the path."""
    if "/." not in path:
        return path
    segments = path.split("/")
    out: list[str] = []
    for segment in segments:
        if segment == ".":
            continue
        if segment == "..":
            if len(out) > 1:  # out[0] is the empty text before the leading "/"
                out.pop()
            continue
        out.append(segment)
    if segments[-1] in (".", ".."):
        out.append("")  # "/a/b/.." names the folder "/a/"
    return "/".join(out)


@functools.lru_cache(maxsize=4096)
def _quote_run(run: str) -> str:
    return quote(run, safe="")


def _encode(text: str, unsafe: re.Pattern[str]) -> str:
    # Only the offending runs (mostly single spaces) are quoted, and remembered:
    # quote() on a whole URL works character by character.
    if "%" in text:
        text = _LONE_PERCENT.sub("%25", text)
    return unsafe.sub(lambda m: _quote_run(m.group()), text)


def parse_dataset_url(raw: str) -> str:
    """A dataset URL in canonical form: http(s) (``parse_http_url``), ``s3://`` or ``gs://``."""
    url = raw.strip()
    m = _SCHEME.match(url)
    scheme = m.group(1).lower() if m else ""
    if scheme in OBJECT_SCHEMES:
        return parse_object_url(url)
    if scheme and scheme not in HTTP_SCHEMES:
        raise UrlError(f"unsupported scheme {scheme!r} in {url!r}: dataset URLs may be http(s), s3:// or gs://")
    return parse_http_url(url)


def parse_object_url(raw: str) -> str:
    """Validate an ``s3://`` or ``gs://`` URL and put it in one canonical form.

    The scheme is lower-cased, the bucket name checked against its store's
    rules (a name that is not one is a row error, not a failed request), and
    the key normalised as an http(s) path is (escapes, dot segments, trailing
    slash), so each object has one spelling. Object URLs carry no port,
    credentials, query or fragment.
    """
    url = raw.strip()
    if CONTROL_CHARACTERS.search(url):
        raise UrlError(f"url contains control characters: {url!r}")
    scheme, rest = url.split("://", 1) if "://" in url else (url.split(":", 1)[0], "")
    scheme = scheme.lower()
    if "?" in rest or "#" in rest:
        raise UrlError(f"{scheme}:// URLs have no query or fragment: {url!r}")
    bucket, _, path = rest.partition("/")
    if "@" in bucket:
        raise UrlError(f"url must not contain credentials: {url!r}")
    problem = get_bucket_problem(scheme, bucket)
    if problem is not None:
        raise UrlError(f"{problem}: {url!r}")
    key = _normalise_path(_encode("/" + path, _PATH_UNSAFE), False, False)
    return f"{scheme}://{bucket}{key}"


def parse_endpoint(raw: str) -> str:
    """An ``endpoint`` cell (an S3-compatible service): an http(s) URL like any other, no query."""
    try:
        url = parse_http_url(raw)
    except UrlError as e:
        raise UrlError(f"endpoint: {e}") from None
    if "?" in url:
        raise UrlError(f"endpoint: an S3 endpoint has no query: {raw.strip()!r}")
    return url


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


# --- reading -------------------------------------------------------------------
