"""The one HTTP boundary: every remote byte the build reads comes through here.

A ``Fetcher`` owns one aiohttp session with a global and a per-host
concurrency limit, timeouts, retries with exponential backoff on 5xx,
429 and transport errors, a size cap on every body, and conditional GETs
backed by an optional validator store (the build cache).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol
from urllib.parse import urlsplit

import aiohttp

from generator.text import DocumentError, parse_json_document

ALLOWED_SCHEMES = ("http", "https")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Sent so that the response tells whether a browser viewer on another origin
# could read the data (Access-Control-Allow-Origin).
PROBE_ORIGIN = "https://ngff-catalog.example"
USER_AGENT = "ngff-catalog/0.1 (+https://github.com/ome/ngff-catalog)"


class FetchError(Exception):
    """A request that failed for good: transport error, timeout, or an HTTP error.

    ``transient`` tells whether the failure says anything about the dataset
    (404, bad JSON: no) or only about the host tonight (timeouts, 5xx: yes).
    """

    def __init__(self, url: str, message: str, *, status: int | None = None, transient: bool = False):
        super().__init__(f"{message} ({url})")
        self.url = url
        self.message = message
        self.status = status
        self.transient = transient


class ValidatorStore(Protocol):
    """Remembers ETag / Last-Modified and the body they validate."""

    def get_validators(self, url: str) -> tuple[str | None, str | None, bytes] | None: ...

    def put_validators(self, url: str, etag: str | None, last_modified: str | None, body: bytes) -> None: ...

    def get_absent_since(self, url: str) -> float | None:
        """When (Unix time) an optional document last answered "not found"; None if it did not."""
        ...

    def put_absent(self, url: str, present: bool) -> None: ...


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    body: bytes
    headers: Mapping[str, str]
    not_modified: bool = False  # served from the validator store after a 304

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def cors(self) -> bool:
        allow = self.headers.get("Access-Control-Allow-Origin", "")
        return allow == "*" or allow == PROBE_ORIGIN

    def json(self) -> Any:
        """The body as JSON with valid text and bounded depth (see ``text.parse_json_document``)."""
        try:
            return parse_json_document(self.body, urlsplit(self.url).path.rsplit("/", 1)[-1] or "document")
        except DocumentError as e:
            raise FetchError(self.url, str(e)) from None


@dataclass
class FetchStats:
    requests: int = 0
    not_modified: int = 0
    absent_remembered: int = 0  # optional documents not asked for: recently not found
    bytes: int = 0
    retries: int = 0
    by_host: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def is_fetchable(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ALLOWED_SCHEMES


class Fetcher:
    def __init__(
        self,
        *,
        concurrency: int = 64,
        per_host: int = 16,
        timeout: float = 20.0,
        connect_timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_bytes: int = 32 * 1024 * 1024,
        validators: ValidatorStore | None = None,
    ) -> None:
        self.concurrency = concurrency
        self.per_host = per_host
        self.timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self.retries = retries
        self.backoff = backoff
        self.max_bytes = max_bytes
        self.validators = validators
        self.stats = FetchStats()
        self._global = asyncio.Semaphore(concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        connector = aiohttp.TCPConnector(limit=self.concurrency, limit_per_host=self.per_host, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self.timeout,
            headers={"User-Agent": USER_AGENT, "Origin": PROBE_ORIGIN},
            # Hostile servers may answer with gzip bombs: bodies are read in
            # bounded pieces below, so auto-decompression stays safe.
            auto_decompress=True,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Fetcher used outside 'async with'")
        return self._session

    def _host_limit(self, host: str) -> asyncio.Semaphore:
        sem = self._hosts.get(host)
        if sem is None:
            sem = self._hosts[host] = asyncio.Semaphore(self.per_host)
        return sem

    async def get(
        self,
        url: str,
        *,
        byte_range: tuple[int | None, int | None] | None = None,
        conditional: bool = True,
        allow_status: frozenset[int] = frozenset(),
        recheck_absent_after: float | None = None,
    ) -> Response:
        """GET with retries. Raises ``FetchError`` unless 2xx or in ``allow_status``.

        ``byte_range`` is (start, end_exclusive); (None, n) asks for the last n bytes.
        ``recheck_absent_after`` (seconds) is for optional documents that most
        datasets lack: a "not found" (an allowed 4xx) is remembered, and for that
        long answered from memory without a request.
        """
        parts = urlsplit(url)
        if parts.scheme.lower() not in ALLOWED_SCHEMES:
            raise FetchError(url, f"refusing to fetch scheme {parts.scheme or '(none)'!r}")
        headers: dict[str, str] = {}
        cached = None
        # Whole documents are revalidated and remembered; byte ranges (chunks) are not.
        validators = self.validators if conditional and byte_range is None else None
        remember_absent = validators is not None and recheck_absent_after is not None
        since = validators.get_absent_since(url) if remember_absent else None
        if remember_absent:
            if since is not None and time.time() - since < recheck_absent_after:
                self.stats.absent_remembered += 1
                return Response(url, 404, b"", {})
        if byte_range is not None:
            start, end = byte_range
            headers["Range"] = f"bytes=-{end}" if start is None else f"bytes={start}-{'' if end is None else end - 1}"
        elif validators is not None:
            cached = validators.get_validators(url)
            if cached is not None:
                etag, last_modified, _ = cached
                # Last-Modified has one-second resolution: a document rewritten
                # within that second would look unchanged, so prefer the ETag.
                if etag:
                    headers["If-None-Match"] = etag
                elif last_modified:
                    headers["If-Modified-Since"] = last_modified

        attempt = 0
        while True:
            try:
                resp = await self._request_once(url, parts.netloc, headers)
            except FetchError as e:
                if not e.transient or attempt >= self.retries:
                    raise
            else:
                if resp.status == 304 and cached is not None:
                    self.stats.not_modified += 1
                    return Response(url, 200, cached[2], resp.headers, not_modified=True)
                if resp.status not in RETRY_STATUSES or attempt >= self.retries:
                    break
            attempt += 1
            self.stats.retries += 1
            await asyncio.sleep(self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))

        if resp.ok:
            if validators is not None:
                etag = resp.headers.get("ETag")
                last_modified = resp.headers.get("Last-Modified")
                if etag or last_modified:
                    validators.put_validators(url, etag, last_modified, resp.body)
                if since is not None:  # it was missing and is back: drop the mark (no write otherwise)
                    validators.put_absent(url, present=True)
            return resp
        if resp.status in allow_status:
            if remember_absent and 400 <= resp.status < 500:
                validators.put_absent(url, present=False)
            return resp
        raise FetchError(
            url,
            f"HTTP {resp.status}" + (" after retries" if resp.status in RETRY_STATUSES else ""),
            status=resp.status,
            transient=resp.status in RETRY_STATUSES,
        )

    async def _request_once(self, url: str, host: str, headers: Mapping[str, str]) -> Response:
        async with self._global, self._host_limit(host):
            self.stats.requests += 1
            self.stats.by_host[host] += 1
            try:
                async with self.session.get(url, headers=headers, allow_redirects=True, max_redirects=5) as r:
                    # A redirect must not take us to file:// or another scheme.
                    if r.history and not is_fetchable(str(r.url)):
                        raise FetchError(url, f"redirected to a non-http(s) URL {r.url}")
                    body = b""
                    if r.status < 300:
                        body = await self._read_capped(url, r)
                    self.stats.bytes += len(body)
                    return Response(url, r.status, body, r.headers)
            except FetchError:
                raise
            except asyncio.TimeoutError:
                raise FetchError(url, "timed out", transient=True) from None
            except (aiohttp.NonHttpUrlRedirectClientError, aiohttp.InvalidUrlRedirectClientError) as e:
                raise FetchError(url, f"redirected to a non-http(s) URL: {e}") from None
            except aiohttp.TooManyRedirects:
                raise FetchError(url, "too many redirects") from None
            except aiohttp.ClientResponseError as e:
                raise FetchError(url, f"bad response: {e.message}", transient=True) from None
            except (aiohttp.ClientError, OSError) as e:
                raise FetchError(url, f"connection failed: {type(e).__name__}: {e}", transient=True) from None

    async def _read_capped(self, url: str, r: aiohttp.ClientResponse) -> bytes:
        declared = r.content_length
        if declared is not None and declared > self.max_bytes:
            raise FetchError(url, f"response too large ({declared} bytes > {self.max_bytes})")
        if declared is not None and "Content-Encoding" not in r.headers:
            # The length is known and nothing is decompressed: one read is safe.
            return await r.read()
        # Unknown length or a compressed body (a possible bomb): read in pieces.
        chunks = []
        size = 0
        async for chunk in r.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(url, f"response too large (over {self.max_bytes} bytes after decoding)")
            chunks.append(chunk)
        return b"".join(chunks)

    async def get_json(self, url: str, **kw: Any) -> tuple[Any, Response]:
        resp = await self.get(url, **kw)
        return resp.json(), resp

    async def get_bytes(self, url: str, byte_range: tuple[int | None, int | None] | None = None) -> bytes:
        return (await self.get(url, byte_range=byte_range, conditional=False)).body
