"""Read the submission CSVs: local paths or http(s) URLs, nested to any depth.

A row's ``url`` is either a dataset or another CSV (its path ends in ``.csv``).
The other columns of a row that points to a CSV are inherited by every row
below it, the nearest non-empty value winning; the collection of a dataset is
the CSV it was listed in. The same dataset listed in several files becomes one
``Entry`` that keeps every listing.

Nothing here raises on bad input: an unreadable CSV, a cycle, an empty or
unsafe URL each become a ``RowError`` at the row that caused it (the root CSV
itself fails at line 0), and the other rows carry on.

Bounds (``SourceLimits``): each CSV is read once however often it is listed
(a second listing is a row error, not a second walk), and columns per CSV,
rows per CSV, rows per build, characters per cell, listings per dataset and
row errors per CSV are capped, so a build's memory and output follow its
settings, not what a CSV says.

Trust between providers: the root CSV names the sources. A child CSV's rows
keep the source its CSV was registered under; a child may give a row or a
CSV of its own a new source name, but never one another CSV already
registered. A dataset listed several times takes its columns from the
listing on its own host (the CSV served from the dataset's host), or else
the first listing in the root's order; the other listings only fill cells
that one leaves empty.

Outputs never see a path of the build machine: each CSV is named as the
repository sees it (a path relative to the root CSV's folder, or its URL).

Trust: a CSV fetched over HTTP (or read through ``url_map`` in its place) may
only point at http(s) URLs; local paths are honoured only in CSVs the operator
gave us from disk, so a submission can never make the build read the build
machine's files. Datasets must be http(s), ``s3://`` or ``gs://`` everywhere
(``file:``, ``javascript:`` ... are row errors).

Endpoints: the ``endpoint`` column (inherited like ``source``) names the
S3-compatible service a row's ``s3://`` URL is read from; rows without one
take ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` from the environment,
else AWS. An endpoint is checked as any http(s) URL is, and settled here, so
every later stage finds it in the entry's columns.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, replace
from typing import Mapping, Union
from urllib.parse import urlsplit

from generator.config import GitHubSource, SourceLimits
from generator.fetch.base import FetchError, FetchIO
from generator.fetch.local import LocalFiles, map_url
from generator.object_urls import get_env_endpoint
from generator.records import Entry, Listing, RowError
from generator.sources.csv_file import (
    MAX_CSV_BYTES,
    _Csv,
    describe_read_error,
    read_csv_text,
)
from generator.sources.merge import _Listed
from generator.sources.spool import Entries, Walk, merge_walk
from generator.sources.rows import Row, get_inherited, parse_csv_text
from generator.sources.urls import (  # noqa: F401  (re-exported: the check and tests import them from here)
    CONTROL_CHARACTERS,
    UrlError,
    get_collection_name,
    is_csv_reference,
    is_url,
    parse_dataset_url,
    parse_endpoint,
    parse_http_url,
    parse_url_map,
)

MAX_DEPTH = SourceLimits.depth
# Child CSVs fetched ahead of the walk, per CSV being walked: concurrency
# without holding every sibling's text at once.
PREFETCH_AHEAD = 8


@dataclass(frozen=True)
class Sources:
    """What the CSVs list: unique datasets in first-listed order, and the row errors."""

    entries: tuple[Entry, ...]
    errors: tuple[RowError, ...]
    csv_files: tuple[str, ...]  # every CSV read, as referenced, in reading order


@dataclass(frozen=True, slots=True)
class _Read:
    file: str


# A row of a CSV being walked: its dataset URL, child CSV or reason it is neither, and its cells.
_Planned = tuple[Row, Union[str, _Csv, UrlError], dict[str, str]]


class _Reader:
    """One walk of the CSVs: depth first in listed order, each CSV read once.

    The walk itself is sequential, so which listing of a CSV counts, which
    CSV registers a source name first and where a cap is hit do not depend
    on which host answers first; the next few child CSVs are fetched ahead
    of it, so slow hosts still overlap.
    """

    def __init__(
        self,
        fetcher: FetchIO | None,
        url_map: tuple[tuple[str, str], ...],
        root_source: str,
        root_dir: str,
        limits: SourceLimits,
        github: GitHubSource | None,
    ) -> None:
        self.fetcher = fetcher
        # Local CSVs and --map-url targets are read through the same boundary as remote ones.
        self.files = LocalFiles(url_map, max_bytes=MAX_CSV_BYTES)
        self.url_map = url_map
        self.root_source = root_source
        self.root_dir = root_dir
        self.limits = limits
        self.github = github
        self.texts: dict[str, asyncio.Future[str]] = {}  # fetched ahead of the walk, taken once
        self.walked: dict[str, str] = {}  # CSV key -> where it was listed ("name:line")
        self.owners: dict[str, _Csv] = {}  # source name -> the CSV that registered it first
        self.items = Walk()  # what the walk finds, spooled to disk
        self.count = 0  # rows walked, over all CSVs
        self.full = False  # ``limits.items`` was hit: nothing more is read
        self.env_endpoint: tuple[str, str] | None = None  # (variable, value) for s3:// rows without an endpoint

    def locate_url(self, url: str, file: str) -> _Csv:
        host = urlsplit(url).netloc.lower()
        try:
            target = map_url(url, self.url_map)
        except ValueError:
            # The folder is a path of the build machine: never in a message.
            raise UrlError(f"{url!r} maps outside its --map-url folder") from None
        if target is None and self.url_map and ("/." in file or "%" in file):
            # Written under a mapped prefix but climbing out of it ("prefix/../x"):
            # a mistake or a probe, refused rather than fetched in the folder's place.
            written = parse_http_url(file, keep_trailing_slash=True, keep_dot_segments=True)
            if any(written.startswith(prefix) for prefix, _ in self.url_map):
                raise UrlError(f"{file!r} maps outside its --map-url folder")
        return _Csv(file=file, key=url, remote=True, local_path=target, name=file, host=host)

    def locate_path(self, path: str) -> _Csv:
        key = os.path.abspath(path)
        name = os.path.relpath(key, self.root_dir).replace(os.sep, "/") if self.root_dir else os.path.basename(key)
        blob = self.github.get_blob(key) if self.github else ""
        return _Csv(file=path, key=key, remote=False, local_path=path, name=name, blob=blob)

    def prefetch(self, csv_ref: _Csv) -> None:
        # Never beyond the cap on CSV files: what is fetched ahead counts as read.
        if len(self.walked) + len(self.texts) >= self.limits.files:
            return
        if csv_ref.key not in self.texts and csv_ref.key not in self.walked:
            self.texts[csv_ref.key] = asyncio.ensure_future(read_csv_text(csv_ref, self.files, self.fetcher))

    async def take_text(self, csv_ref: _Csv) -> str:
        task = self.texts.pop(csv_ref.key, None)
        return await (task if task is not None else read_csv_text(csv_ref, self.files, self.fetcher))

    def drop_prefetched(self) -> None:
        """Texts fetched ahead that the walk never took (a cap was hit): cancelled, their errors read."""
        for task in self.texts.values():
            if task.done() and not task.cancelled():
                task.exception()
            task.cancel()
        self.texts.clear()

    async def expand(
        self, csv_ref: _Csv, inherited: Mapping[str, str], ancestors: tuple[str, ...], at: tuple[_Csv, int]
    ) -> None:
        """Walk ``csv_ref`` and every CSV below it into ``self.items``, depth first in listed order.

        ``at`` is the CSV and line that listed this one: where its own
        failures are reported.
        """
        try:
            text = await self.take_text(csv_ref)
        except (OSError, FetchError) as e:
            parent, line = at
            self.items.append(parent.error(line, f"cannot read CSV {csv_ref.name}: {describe_read_error(e)}", csv_ref.name))
            return
        rows, parse_errors = parse_csv_text(text, csv_ref.file, limits=self.limits, name=csv_ref.name)
        del text
        self.items.append(_Read(csv_ref.name))
        self.items.extend(parse_errors)
        planned = self.plan(csv_ref, rows, inherited)
        del rows
        collection = get_collection_name(csv_ref.file)
        ancestors = ancestors + (csv_ref.key,)
        children = [ref for _, ref, _ in planned if isinstance(ref, _Csv)]
        next_child = 0
        for row, ref, columns in planned:
            self.count += 1
            if self.count > self.limits.items:
                self.full = True
                msg = f"more than {self.limits.items} listed rows in this build (--max-rows); this row and all after it are not read"
                self.items.append(csv_ref.error(row.line, msg, row.url or None))
                return
            if isinstance(ref, UrlError):
                self.items.append(csv_ref.error(row.line, str(ref), row.url or None))
            elif isinstance(ref, str):
                source = columns.get("source") or self.root_source
                link = f"{csv_ref.blob}#L{row.line}" if csv_ref.blob else ""
                listing = Listing(csv_ref.file, row.line, source, collection, csv_ref.name, link)
                self.items.append(_Listed(ref, listing, columns, csv_ref.host))
            else:
                for ahead in children[next_child : next_child + PREFETCH_AHEAD]:
                    if self.get_refusal(ahead, ancestors) is None:
                        self.prefetch(ahead)
                next_child += 1
                refusal = self.get_refusal(ref, ancestors)
                if refusal is not None:
                    self.items.append(csv_ref.error(row.line, refusal, ref.name))
                    continue
                self.walked[ref.key] = f"{csv_ref.name}:{row.line}"
                handed_down = get_inherited(columns, self.limits.inherited_chars, f"{csv_ref.name}:{row.line}")
                await self.expand(ref, handed_down, ancestors, (csv_ref, row.line))
                if self.full:
                    return

    def plan(self, csv_ref: _Csv, rows: list[Row], inherited: Mapping[str, str]) -> list[_Planned]:
        """Each row's reference and cells, inherited values and the row's source settled.

        Every row's source name is settled before any child CSV is walked, so
        the names a CSV registers are its own before anything below it can
        claim them.
        """
        own = inherited.get("source") or self.root_source
        is_root = self.walked.get(csv_ref.key) == ""  # the root names any source it likes
        fill = [(k, v) for k, v in inherited.items() if v]
        refused: dict[str, tuple[int, int]] = {}  # source name -> (first line, rows)
        planned: list[_Planned] = []
        for row in rows:
            columns = {**inherited, **row.columns} if inherited else row.columns
            for k, v in fill:
                if not columns[k]:
                    columns[k] = v
            cell = row.columns.get("source", "")
            if cell and cell != own:
                # The first CSV to use a new name registers it (the root's rows come first).
                owner = self.owners.setdefault(cell, csv_ref)
                if not is_root and owner.key != csv_ref.key:
                    first, n = refused.get(cell, (row.line, 0))
                    refused[cell] = (first, n + 1)
                    columns["source"] = own
            try:
                ref: str | _Csv | UrlError = self.parse_reference(row.url, csv_ref)
                self.settle_endpoint(columns, ref)
            except UrlError as e:
                ref = e
            planned.append((row, ref, columns))
        for cell, (line, n) in refused.items():
            msg = (
                f"source {cell!r} ignored on {n} row{'s' if n > 1 else ''}: "
                f"{self.owners[cell].name} registered that name; "
                f"the rows of {csv_ref.name} keep the source {own!r} it was registered under"
            )
            self.items.append(csv_ref.error(line, msg))
        return planned

    def settle_endpoint(self, columns: dict[str, str], ref: str | _Csv) -> None:
        """Put the row's endpoint in canonical form, or the environment's for an ``s3://`` row
        without one; raises ``UrlError`` for an endpoint that is no http(s) URL."""
        cell = columns.get("endpoint", "").strip()
        if cell:
            columns["endpoint"] = parse_endpoint(cell)
        elif isinstance(ref, str) and ref.startswith("s3://") and self.env_endpoint is not None:
            variable, value = self.env_endpoint
            try:
                columns["endpoint"] = parse_endpoint(value)
            except UrlError as e:
                raise UrlError(f"{e} (from the environment variable {variable})") from None

    def get_refusal(self, child: _Csv, ancestors: tuple[str, ...]) -> str | None:
        """Why a child CSV is not walked (a cycle, too deep, listed before, too many CSVs), or None."""
        if child.key in ancestors:
            chain = " -> ".join(get_collection_name(k) for k in ancestors[ancestors.index(child.key):])
            return f"cycle: {child.name} is already being read ({chain} -> {get_collection_name(child.key)})"
        if len(ancestors) > self.limits.depth:
            return f"CSVs nested deeper than {self.limits.depth} levels; {child.name} not read"
        if child.key in self.walked:
            first = self.walked[child.key]
            return f"{child.name} is already listed at {first}; a CSV is read once, so this listing is ignored"
        if len(self.walked) >= self.limits.files:
            return f"more than {self.limits.files} CSV files in this build; {child.name} not read"
        return None

    def parse_reference(self, ref: str, parent: _Csv) -> str | _Csv:
        """A dataset URL (canonical) or a child CSV, or ``UrlError`` when not allowed."""
        if not ref:
            raise UrlError("empty url")
        if not is_csv_reference(ref):
            if not is_url(ref):
                raise UrlError(f"dataset url is not an http(s), s3:// or gs:// URL: {ref!r}")
            return parse_dataset_url(ref)
        if is_url(ref):
            url = parse_http_url(ref, keep_trailing_slash=True)
            return self.locate_url(url, ref)
        if parent.remote:
            raise UrlError(f"a CSV fetched over HTTP may only list http(s) URLs, not the path {ref!r}")
        if CONTROL_CHARACTERS.search(ref):
            raise UrlError(f"path contains control characters: {ref!r}")
        base = os.path.dirname(parent.local_path or "")
        return self.locate_path(os.path.normpath(os.path.join(base, os.path.expanduser(ref))))


def get_root(root: str, reader: _Reader) -> _Csv:
    if is_url(root):
        url = parse_http_url(root, keep_trailing_slash=True)
        return reader.locate_url(url, root)
    return reader.locate_path(root)


async def get_entries(
    root: str,
    fetcher: FetchIO | None,
    *,
    url_map: Mapping[str, str] | None = None,
    limits: SourceLimits = SourceLimits(),
    github: GitHubSource | None = None,
    environ: Mapping[str, str] | None = None,
) -> Sources:
    """``stream_entries``, the entries in memory."""
    streamed = await stream_entries(root, fetcher, url_map=url_map, limits=limits, github=github, environ=environ)
    try:
        return Sources(tuple(streamed.entries), streamed.errors, streamed.csv_files)
    finally:
        streamed.entries.close()


@dataclass(frozen=True)
class StreamedSources:
    """``Sources`` with the entries on disk (``spool.Entries``): ``entries.close()`` when done."""

    entries: Entries
    errors: tuple[RowError, ...]
    csv_files: tuple[str, ...]


async def stream_entries(
    root: str,
    fetcher: FetchIO | None,
    *,
    url_map: Mapping[str, str] | None = None,
    limits: SourceLimits = SourceLimits(),
    github: GitHubSource | None = None,
    environ: Mapping[str, str] | None = None,
) -> StreamedSources:
    """Read ``root`` (a path or an http(s) URL) and every CSV below it; the entries
    stay on disk, read back a span at a time (``spool.Entries``).

    ``url_map`` maps URL prefixes to local directories (``--map-url``): CSV
    URLs under a prefix are read from disk, as if fetched. Dataset URLs are
    never mapped. Child CSVs are fetched ahead of the walk through
    ``fetcher``; ``fetcher`` may be None when every CSV is local or mapped.
    ``github`` (a build in Actions) links each listing to its line; local
    CSVs are named relative to the root CSV's folder. ``environ`` (default:
    the process's) names the endpoint of ``s3://`` rows without one.
    """
    root = root.strip()
    root_dir = "" if is_url(root) else os.path.dirname(os.path.abspath(root))
    if github is not None and not github.workspace:
        github = replace(github, workspace=root_dir)
    reader = _Reader(fetcher, parse_url_map(url_map), get_collection_name(root), root_dir, limits, github)
    reader.env_endpoint = get_env_endpoint(os.environ if environ is None else environ)
    try:
        try:
            root_csv = get_root(root, reader)
        except UrlError as e:
            reader.items.append(RowError(root, 0, str(e), root))
        else:
            reader.walked[root_csv.key] = ""  # the root: not listed by any row
            reader.owners[reader.root_source] = root_csv
            try:
                await reader.expand(root_csv, {}, (), (root_csv, 0))
            finally:
                reader.drop_prefetched()
        entries, errors, csv_files = merge_walk(reader.items, limits)
    except BaseException:
        reader.items.close()
        raise
    return StreamedSources(entries, tuple(errors), tuple(csv_files))
