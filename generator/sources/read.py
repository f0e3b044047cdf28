"""Read the submission CSVs: local paths or http(s) URLs, nested to any depth.

A row's ``url`` is either a dataset or another CSV (its path ends in ``.csv``).
The other columns of a row that points to a CSV are inherited by every row
below it, the nearest non-empty value winning; the collection of a dataset is
the CSV it was listed in. The same dataset listed in several files becomes one
``Entry`` that keeps every listing.

Nothing here raises on bad input: an unreadable CSV, a cycle, an empty or
unsafe URL each become a ``RowError`` at the row that caused it (the root CSV
itself fails at line 0), and the other rows carry on.

Trust: a CSV fetched over HTTP (or read through ``url_map`` in its place) may
only point at http(s) URLs; local paths are honoured only in CSVs the operator
gave us from disk, so a submission can never make the build read the build
machine's files. Datasets must be http(s) everywhere (``file:``, ``s3:``,
``javascript:`` ... are row errors).
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import os
import re
from dataclasses import dataclass
from typing import Mapping, Union
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from generator.fetch import Fetcher, FetchError
from generator.records import Entry, Listing, RowError
from generator.text import strip_controls

MAX_CSV_BYTES = 50 * 1024 * 1024
MAX_DEPTH = 16
# Every reference to a CSV is expanded again (inheritance may differ), so a
# lattice of CSVs listing each other twice per level would grow exponentially:
# stop expanding after this many.
MAX_CSV_READS = 10_000
HTTP_SCHEMES = ("http", "https")

# Runs of characters to percent-encode in a path or a query: all but the
# RFC 3986 reserved and unreserved sets and "%" (existing escapes stay).
_PATH_UNSAFE = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]+")
_QUERY_UNSAFE = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/%?]+")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
# Already in canonical form (lower-case host, no port, only characters that
# need no encoding, no query, fragment or trailing slash): most real URLs.
_CANONICAL = re.compile(r"https?://[a-z0-9](?:[a-z0-9.\-]*[a-z0-9])?/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*")


@dataclass(frozen=True)
class Sources:
    """What the CSVs list: unique datasets in first-listed order, and the row errors."""

    entries: tuple[Entry, ...]
    errors: tuple[RowError, ...]
    csv_files: tuple[str, ...]  # every CSV read, as referenced, in reading order


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
    if _CONTROL.search(url):
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


@dataclass(frozen=True, slots=True)
class Row:
    """One non-blank CSV row: its 1-based first physical line and its cells by column."""

    line: int
    url: str
    columns: Mapping[str, str]


def parse_csv_text(text: str, file: str) -> tuple[list[Row], list[RowError]]:
    """Split a CSV into rows keyed by column name.

    A first row holding a ``url`` cell (any case, any position) is the header;
    otherwise the file is headerless and its first column is the URL (further
    cells are kept as ``column2``, ``column3`` ...). Blank rows, including
    rows of empty cells, are skipped; cells are stripped.
    """
    rows: list[Row] = []
    errors: list[RowError] = []
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""))
    keys: list[str] | None = None  # column names; "\0..." marks the url and skipped columns
    skipped: list[str] = []
    first = True
    prev_line = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            errors.append(RowError(file, prev_line + 1, f"unreadable CSV: {e}; the rest of the file is skipped"))
            break
        line = prev_line + 1  # a quoted cell may span lines: report where the row starts
        prev_line = reader.line_num
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if first:
            first = False
            lowered = [c.lower() for c in cells]
            if "url" in lowered:
                keys, skipped = _get_column_keys(cells, lowered.index("url"))
                continue
            if not _looks_like_reference(cells[0]):
                errors.append(
                    RowError(file, line, f"no 'url' column in the header ({', '.join(cells[:8])}); file skipped")
                )
                return [], errors
        if keys is not None:
            if len(cells) < len(keys):
                cells += [""] * (len(keys) - len(cells))
            columns = dict(zip(keys, cells))  # cells beyond the header are dropped
            url = columns.pop(_URL_KEY)
            for k in skipped:
                del columns[k]
        else:
            columns = {f"column{i + 1}": c for i, c in enumerate(cells) if i > 0}
            url = cells[0]
        rows.append(Row(line, url, columns))
    return rows, errors


_URL_KEY = "\0url"


def _get_column_keys(header: list[str], url_col: int) -> tuple[list[str], list[str]]:
    """Header names as dict keys: the url column, unnamed and repeated columns marked to drop."""
    keys: list[str] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(header):
        if i == url_col:
            keys.append(_URL_KEY)
        elif not name or name in seen or name.startswith("\0"):
            keys.append(f"\0{i}")  # the first column of a name wins
            skipped.append(keys[-1])
        else:
            keys.append(name)
            seen.add(name)
    return keys, skipped


def _looks_like_reference(cell: str) -> bool:
    return is_url(cell) or "/" in cell or "\\" in cell or is_csv_reference(cell)


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


@dataclass(frozen=True, slots=True)
class _Csv:
    """Where a CSV is and how far it is trusted."""

    file: str  # as referenced: the URL, or a local path
    key: str  # identity for cycle detection: canonical URL or absolute path
    remote: bool  # came from the web: may only point at http(s) URLs
    local_path: str | None  # where to read it (a local file, or a url_map target)


@dataclass(frozen=True, slots=True)
class _Listed:
    url: str
    listing: Listing
    columns: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class _Read:
    file: str


_Item = Union[_Listed, RowError, _Read]


class _Reader:
    def __init__(self, fetcher: Fetcher | None, url_map: tuple[tuple[str, str], ...], root_source: str) -> None:
        self.fetcher = fetcher
        self.url_map = url_map
        self.root_source = root_source
        self.texts: dict[str, asyncio.Task[str]] = {}
        self.reads = 0

    def locate_url(self, url: str, file: str) -> _Csv:
        for prefix, directory in self.url_map:
            if url.startswith(prefix):
                base = os.path.abspath(directory)
                rest = unquote(re.split(r"[?#]", url[len(prefix):], maxsplit=1)[0])
                target = os.path.normpath(os.path.join(base, rest)) if rest else base
                if target != base and not target.startswith(base.rstrip(os.sep) + os.sep):
                    raise UrlError(f"{url!r} maps outside {directory!r}")
                return _Csv(file=file, key=url, remote=True, local_path=target)
        return _Csv(file=file, key=url, remote=True, local_path=None)

    async def read_text(self, csv_ref: _Csv) -> str:
        # A CSV listed twice is fetched once; each listing is expanded on its own.
        task = self.texts.get(csv_ref.key)
        if task is None:
            task = self.texts[csv_ref.key] = asyncio.ensure_future(self._load(csv_ref))
        return await asyncio.shield(task)

    async def _load(self, csv_ref: _Csv) -> str:
        if csv_ref.local_path is not None:
            data = await asyncio.to_thread(_read_local, csv_ref.local_path)
        else:
            if self.fetcher is None:
                raise OSError("cannot fetch a remote CSV: offline (no fetcher, no --map-url for it)")
            data = (await self.fetcher.get(csv_ref.key)).body
            if len(data) > MAX_CSV_BYTES:
                raise OSError(f"CSV larger than {MAX_CSV_BYTES} bytes")
        try:
            # Control characters (NUL, escapes) go here, as for every harvested document.
            return strip_controls(data.decode("utf-8-sig"))
        except UnicodeDecodeError as e:
            raise OSError(f"not UTF-8 text ({e})") from None

    async def expand(
        self, csv_ref: _Csv, inherited: Mapping[str, str], ancestors: tuple[str, ...], at: tuple[str, int]
    ) -> list[_Item]:
        """Every item listed in ``csv_ref`` and below, in depth-first listed order.

        ``at`` is the (file, line) that referenced this CSV: where its own
        failures are reported.
        """
        self.reads += 1
        if self.reads > MAX_CSV_READS:
            return [RowError(*at, f"more than {MAX_CSV_READS} CSV reads; {csv_ref.file} not read", csv_ref.file)]
        try:
            text = await self.read_text(csv_ref)
        except (OSError, FetchError) as e:
            msg = e.message if isinstance(e, FetchError) else str(e)
            return [RowError(*at, f"cannot read CSV {csv_ref.file}: {msg}", csv_ref.file)]
        rows, parse_errors = parse_csv_text(text, csv_ref.file)
        collection = get_collection_name(csv_ref.file)
        ancestors = ancestors + (csv_ref.key,)

        # Inherited values fill the row's empty and missing cells.
        fill = [(k, v) for k, v in inherited.items() if v]
        out: list[_Item | None] = [_Read(csv_ref.file), *parse_errors]
        holes: list[int] = []  # where each child CSV's items go
        children = []
        for row in rows:
            columns = {**inherited, **row.columns} if inherited else row.columns
            for k, v in fill:
                if not columns[k]:
                    columns[k] = v
            try:
                child = self.parse_reference(row.url, csv_ref)
            except UrlError as e:
                out.append(RowError(csv_ref.file, row.line, str(e), row.url or None))
                continue
            if isinstance(child, str):
                source = columns.get("source") or self.root_source
                out.append(_Listed(child, Listing(csv_ref.file, row.line, source, collection), columns))
            elif child.key in ancestors:
                chain = " -> ".join(get_collection_name(k) for k in ancestors[ancestors.index(child.key):])
                msg = f"cycle: {child.file} is already being read ({chain} -> {get_collection_name(child.key)})"
                out.append(RowError(csv_ref.file, row.line, msg, child.file))
            elif len(ancestors) > MAX_DEPTH:
                msg = f"CSVs nested deeper than {MAX_DEPTH} levels; {child.file} not read"
                out.append(RowError(csv_ref.file, row.line, msg, child.file))
            else:
                holes.append(len(out))
                out.append(None)
                children.append(self.expand(child, columns, ancestors, (csv_ref.file, row.line)))
        if not children:
            return out  # type: ignore[return-value]
        expanded = await asyncio.gather(*children)
        result: list[_Item] = []
        last = 0
        for hole, items in zip(holes, expanded):
            result.extend(out[last:hole])  # type: ignore[arg-type]
            result.extend(items)
            last = hole + 1
        result.extend(out[last:])  # type: ignore[arg-type]
        return result

    def parse_reference(self, ref: str, parent: _Csv) -> str | _Csv:
        """A dataset URL (canonical) or a child CSV, or ``UrlError`` when not allowed."""
        if not ref:
            raise UrlError("empty url")
        if not is_csv_reference(ref):
            if not is_url(ref):
                raise UrlError(f"dataset url is not an http(s) URL: {ref!r}")
            return parse_http_url(ref)
        if is_url(ref):
            url = parse_http_url(ref, keep_trailing_slash=True)
            return self.locate_url(url, ref)
        if parent.remote:
            raise UrlError(f"a CSV fetched over HTTP may only list http(s) URLs, not the path {ref!r}")
        if _CONTROL.search(ref):
            raise UrlError(f"path contains control characters: {ref!r}")
        base = os.path.dirname(parent.local_path or "")
        path = os.path.normpath(os.path.join(base, os.path.expanduser(ref)))
        return _Csv(file=path, key=os.path.abspath(path), remote=False, local_path=path)


def _read_local(path: str) -> bytes:
    size = os.path.getsize(path)
    if size > MAX_CSV_BYTES:
        raise OSError(f"CSV larger than {MAX_CSV_BYTES} bytes ({size})")
    with open(path, "rb") as f:
        return f.read(MAX_CSV_BYTES + 1)


def get_root(root: str, reader: _Reader) -> _Csv:
    if is_url(root):
        url = parse_http_url(root, keep_trailing_slash=True)
        return reader.locate_url(url, root)
    return _Csv(file=root, key=os.path.abspath(root), remote=False, local_path=root)


def get_merged_entries(items: list[_Item]) -> tuple[list[Entry], list[RowError], list[str]]:
    """Fold the listings of one URL into one Entry; the first listing names source and collection."""
    errors: list[RowError] = []
    csv_files: dict[str, None] = {}
    listings: dict[str, list[Listing]] = {}
    columns: dict[str, dict[str, str]] = {}
    for item in items:
        if isinstance(item, _Listed):
            known = listings.get(item.url)
            if known is None:
                listings[item.url] = [item.listing]
                columns[item.url] = item.columns
                continue
            # The same CSV reached twice gives the same (file, line): one listing.
            if not any(x.file == item.listing.file and x.line == item.listing.line for x in known):
                known.append(item.listing)
            merged = columns[item.url]
            missing = {k: v for k, v in item.columns.items() if v and not merged.get(k)}
            if missing:
                columns[item.url] = {**merged, **missing}  # copied: row dicts are shared
        elif isinstance(item, RowError):
            errors.append(item)
        else:
            csv_files.setdefault(item.file)
    entries = [
        Entry(url=url, source=ls[0].source, collection=ls[0].collection, listings=tuple(ls), columns=columns[url])
        for url, ls in listings.items()
    ]
    return entries, errors, list(csv_files)


async def get_entries(root: str, fetcher: Fetcher | None, *, url_map: Mapping[str, str] | None = None) -> Sources:
    """Read ``root`` (a path or an http(s) URL) and every CSV below it.

    ``url_map`` maps URL prefixes to local directories (``--map-url``): CSV
    URLs under a prefix are read from disk, as if fetched. Dataset URLs are
    never mapped. Child CSVs of one file are read concurrently through
    ``fetcher``; ``fetcher`` may be None when every CSV is local or mapped.
    """
    reader = _Reader(fetcher, parse_url_map(url_map), get_collection_name(root.strip()))
    try:
        root_csv = get_root(root.strip(), reader)
    except UrlError as e:
        return Sources((), (RowError(root, 0, str(e), root),), ())
    items = await reader.expand(root_csv, {}, (), (root, 0))
    entries, errors, csv_files = get_merged_entries(items)
    return Sources(tuple(entries), tuple(errors), tuple(csv_files))
