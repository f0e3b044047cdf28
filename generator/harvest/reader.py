"""Reads one dataset's Zarr documents over the fetcher (consolidated metadata first)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any, Mapping
from urllib.parse import urlsplit

from generator.fetch.base import FetchError, Response
from generator.fetch.http import Fetcher
from generator.fetch.urls import join_url
from generator.harvest.parse import (
    MAX_STRING,
    GroupDoc,
    HarvestProblem,
    _join_path,
    _json_size,
    _type_name,
    parse_channels,
    parse_json,
    parse_kept_attributes,
)
from generator.text import DocumentError, DocumentTooDeep, parse_json_document

NOT_FOUND = frozenset({404, 403, 410})  # S3 answers 403 for a missing key without list rights

# The documents of the Zarr format itself. Any other JSON a dataset serves
# (RO-Crate) is optional and judged by its own reader.
ZARR_DOCUMENTS = frozenset({"zarr.json", ".zattrs", ".zgroup", ".zarray"})
# A web page's content types: a host answering a Zarr document's URL with one
# of these is showing an error, login or maintenance page, not the dataset.
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Enough of a body to tell a web page from JSON without reading it all.
SNIFF_BYTES = 1024
# Keys of which a Zarr v3 document has at least one (zarr_format and node_type are required).
ZARR_V3_KEYS = ("zarr_format", "node_type", "attributes")


# Most datasets have no RO-Crate: with a build state, a "not found" is believed
# for a week instead of asked again every night (a third of a warm rebuild's
# requests). A crate added later shows up within a week, or at once with a fresh cache.
RECHECK_ABSENT_ROCRATE = 7 * 24 * 3600.0


@dataclass
class FormatMemory:
    """Which Zarr format worked under each host + path prefix (one per harvest run)."""

    formats: dict[str, int] = field(default_factory=dict)
    # The first dataset under a prefix probes; the others wait for its answer
    # instead of all paying for the wrong guess at once.
    pending: dict[str, asyncio.Event] = field(default_factory=dict)

    @staticmethod
    def key(url: str) -> str:
        parts = urlsplit(url)
        path = parts.path.rstrip("/")
        return f"{parts.scheme}://{parts.netloc}{path.rsplit('/', 1)[0]}"

    def order(self, url: str) -> tuple[int, int]:
        return (2, 3) if self.formats.get(self.key(url)) == 2 else (3, 2)

    def remember(self, url: str, zarr_format: int) -> None:
        self.formats[self.key(url)] = zarr_format

    async def wait_or_lead(self, url: str) -> asyncio.Event | None:
        """Wait for a probe already under way for this prefix, or lead one (returns its Event)."""
        key = self.key(url)
        if key in self.formats:
            return None
        event = self.pending.get(key)
        if event is None:
            event = self.pending[key] = asyncio.Event()
            return event
        try:
            await asyncio.wait_for(event.wait(), timeout=5.0)
        except asyncio.TimeoutError:
            pass
        return None


async def optional(coro: Any) -> Any:
    """A document whose absence is normal: None instead of a problem."""
    try:
        return await coro
    except HarvestProblem:
        return None


class Reader:
    """Reads the documents of one dataset, from consolidated metadata when it has them."""

    def __init__(self, url: str, fetcher: Fetcher, memory: FormatMemory):
        self.url = url
        self.fetcher = fetcher
        self.memory = memory
        self.zarr_format: int | None = None
        self.consolidated: Mapping[str, Any] = {}

    async def fetch(
        self, rel: str, *, allow_missing: bool = False, recheck_absent_after: float | None = None
    ) -> tuple[Any, Response] | None:
        url = join_url(self.url, rel)
        try:
            resp = await self.fetcher.get(url, allow_status=NOT_FOUND, recheck_absent_after=recheck_absent_after)
        except FetchError as e:
            raise HarvestProblem(_fetch_message(rel, e), unreachable=e.transient or rel in ("zarr.json", ".zattrs")) from None
        if resp.status in NOT_FOUND:
            if allow_missing:
                return None
            raise HarvestProblem(f"{rel}: not found (HTTP {resp.status})")
        if rel.rsplit("/", 1)[-1] in ZARR_DOCUMENTS:
            return parse_zarr_document(resp.body, resp.headers.get("Content-Type", ""), rel), resp
        return parse_json(resp.body, rel), resp

    async def fetch_raw(self, rel: str) -> bytes | None:
        """A non-JSON document (OME-XML); None when missing."""
        url = join_url(self.url, rel)
        try:
            resp = await self.fetcher.get(url, allow_status=NOT_FOUND)
        except FetchError as e:
            raise HarvestProblem(_fetch_message(rel, e), unreachable=e.transient) from None
        return None if resp.status in NOT_FOUND else resp.body

    async def root(self, known_format: int | None = None) -> GroupDoc:
        """The dataset's root group. ``known_format`` is the Zarr format the build
        state saw this dataset in: asked first, it beats the neighbours' guess and
        needs no probe to wait for."""
        if known_format is not None:
            return await self._root((3, 2) if known_format == 3 else (2, 3))
        lead = await self.memory.wait_or_lead(self.url)
        try:
            return await self._root(self.memory.order(self.url))
        finally:
            if lead is not None:
                lead.set()

    async def _root(self, formats: tuple[int, int]) -> GroupDoc:
        tried = []
        denied = False
        for fmt in formats:
            name = "zarr.json" if fmt == 3 else ".zattrs"
            url = join_url(self.url, name)
            try:
                resp = await self.fetcher.get(url, allow_status=NOT_FOUND)
            except FetchError as e:
                raise HarvestProblem(_fetch_message(name, e), unreachable=True) from None
            if resp.status in NOT_FOUND:
                # An object store says why (a refusal, a missing key); a web server only its status.
                tried.append(f"{name} ({resp.reason or f'HTTP {resp.status}'})")
                denied = denied or (resp.reason or "").startswith("access denied")
                continue
            self.zarr_format = fmt
            self.memory.remember(self.url, fmt)
            doc = parse_zarr_document(resp.body, resp.headers.get("Content-Type", ""), name)
            group = self._group("", fmt, doc, resp)
            if group.consolidated:
                self.consolidated = group.consolidated
            return group
        if denied:
            raise HarvestProblem("access denied: no Zarr group readable at this URL (tried " + ", ".join(tried) + ")", unreachable=True)
        raise HarvestProblem("not found: no Zarr group at this URL (tried " + ", ".join(tried) + ")", unreachable=True)

    def _group(self, rel: str, fmt: int, doc: Any, resp: Response | None) -> GroupDoc:
        name = _join_path(rel, "zarr.json" if fmt == 3 else ".zattrs")
        if not isinstance(doc, dict):
            raise HarvestProblem(f"{name}: expected a JSON object, got {_type_name(doc)}")
        consolidated = None
        if fmt == 3:
            node_type = doc.get("node_type")
            if node_type == "array":
                raise HarvestProblem(f"{name}: is a Zarr array, not a group: not an OME-Zarr dataset")
            attrs = doc.get("attributes") or {}
            if not isinstance(attrs, dict):
                raise HarvestProblem(f"{name}: 'attributes' is {_type_name(attrs)}, expected an object")
            ome = attrs.get("ome")
            if ome is not None and not isinstance(ome, dict):
                raise HarvestProblem(f"{name}: 'ome' attribute is {_type_name(ome)}, expected an object")
            cm = doc.get("consolidated_metadata")
            if isinstance(cm, dict) and isinstance(cm.get("metadata"), dict):
                consolidated = cm["metadata"]
        else:
            attrs = doc
            ome = attrs
        # Bounded as it enters, so an 18 MB "omero" block is dropped before the
        # rest of the harvest holds it (and never reaches the record or the state).
        channels = parse_channels(ome or {})
        kept, found = parse_kept_attributes(ome or {}, f"{rel} attributes" if rel else "attributes")
        kept = kept or {}
        attrs = kept if fmt == 2 else {**_small_attributes(attrs), **({"ome": kept} if ome is not None else {})}
        # Only the headers are read later (CORS): a parsed body must not stay alive twice.
        headers_only = replace(resp, body=b"") if resp is not None else None
        return GroupDoc(rel, fmt, attrs, kept, headers_only, consolidated, found, channels)

    async def group(self, rel: str) -> GroupDoc:
        assert self.zarr_format is not None
        if rel in self.consolidated:
            doc = self.consolidated[rel]
            if self.zarr_format == 3 and isinstance(doc, dict):
                return self._group(rel, 3, doc, None)
        got = await self.fetch(_join_path(rel, "zarr.json" if self.zarr_format == 3 else ".zattrs"))
        assert got is not None
        return self._group(rel, self.zarr_format, got[0], got[1])

    async def array(self, rel: str) -> Any:
        assert self.zarr_format is not None
        if rel in self.consolidated:
            return self.consolidated[rel]
        got = await self.fetch(_join_path(rel, "zarr.json" if self.zarr_format == 3 else ".zarray"))
        assert got is not None
        return got[0]


def _fetch_message(name: str, e: FetchError) -> str:
    kind = "temporary failure (host trouble, will retry next build)" if e.transient else "failed"
    return f"{name}: {kind}: {e.message}"


def parse_zarr_document(body: bytes, content_type: str, name: str) -> dict[str, Any]:
    """A Zarr document (``zarr.json``, ``.zattrs``, ``.zarray``, ``.zgroup``) as a JSON object.

    Raises a ``not_a_document`` HarvestProblem when the answer is no Zarr
    document at all: anything that does not parse as a JSON object (an HTML
    page, random bytes, a JSON array), or a ``zarr.json`` object with none
    of the Zarr keys. Such an answer is the host's fault (a proxy's error
    page, a login wall, a wrong file behind the URL), not the dataset's: it
    must not replace what a good answer taught us. A JSON object that breaks
    the spec is a Zarr document, judged later as today.
    """
    what = get_non_document(body, content_type)
    if what is not None:
        raise HarvestProblem(f"{name}: the host answered with {what}, not a Zarr document", not_a_document=True)
    try:
        doc = parse_json_document(body, name)
    except DocumentTooDeep as e:
        raise HarvestProblem(str(e)) from None  # well-formed, and served on purpose: the dataset's fault
    except DocumentError as e:
        raise HarvestProblem(f"{e}, not a Zarr document", not_a_document=True) from None
    if not isinstance(doc, dict):
        raise HarvestProblem(
            f"{name}: the host answered with JSON that is {_type_name(doc)}, not a Zarr document", not_a_document=True
        )
    if name.rsplit("/", 1)[-1] == "zarr.json" and not any(k in doc for k in ZARR_V3_KEYS):
        raise HarvestProblem(
            f"{name}: the host answered with a JSON object that has none of "
            + ", ".join(repr(k) for k in ZARR_V3_KEYS)
            + ", not a Zarr document",
            not_a_document=True,
        )
    return doc


def get_non_document(body: bytes, content_type: str) -> str | None:
    """What ``body`` is, when a glance shows it is no JSON object; None when it may be one.

    The body decides, not the header: a JSON object served as ``text/html``
    by a misconfigured server is still read.
    """
    head = body[:SNIFF_BYTES].lstrip(b" \t\r\n")
    if head.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark, which json.loads accepts
        head = head[3:].lstrip(b" \t\r\n")
    if head.startswith(b"{"):
        return None
    if not head:
        return "an empty body"
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in HTML_TYPES or head.startswith(b"<"):
        return "an HTML page" if media_type in HTML_TYPES or b"html" in head.lower() else "an XML document"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data (not UTF-8 text)"
    return None  # other text: the JSON parser says what is wrong with it


def _small_attributes(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """A v3 group's attributes beside "ome": small ones kept (the challenge's stats), others
    reduced to their key (only their presence is read: OME keys misplaced at the top level)."""
    return {k: (v if _json_size(v) <= MAX_STRING else None) for k, v in attrs.items() if k != "ome"}
