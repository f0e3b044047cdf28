"""The HTTP implementation of the I/O boundary: every remote byte the build reads.

A ``Fetcher`` owns one aiohttp session with a global and a per-host
concurrency limit, timeouts, retries with exponential backoff on 5xx,
429 and transport errors, a size cap on every body, and conditional GETs
backed by an optional validator store (the build cache).

It also decides where a request may go (``generator.fetch.hosts``): no
private or loopback address unless allowed, redirects only within a host,
and no request at all to a server the circuit breaker has given up on.
The per-host limit is taken before the global one and keyed by server,
so a slow or hanging server queues its own requests, never everyone's.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Mapping
from urllib.parse import SplitResult, urlsplit

import aiohttp
import yarl

from generator.fetch.base import (
    PROBE_ORIGIN,
    ByteRange,
    FetchError,
    Response,
    ResponseTooLarge,
    ValidatorStore,
)
from generator.fetch.conditional import Cached, get_request_headers, remember_validators
from generator.fetch.hosts import (
    HOST_FAILURE_LIMIT,
    GuardedResolver,
    HostBreaker,
    PrivateAddressError,
    check_address,
    get_server_key,
    parse_address,
)
from generator.fetch.objects import ObjectReader
from generator.fetch.urls import parse_request_url
from generator.object_urls import OBJECT_SCHEMES

ALLOWED_SCHEMES = ("http", "https")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "ngff-catalog/0.1 (+https://github.com/ome/ngff-catalog)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
DEFAULT_PORTS = {"http": 80, "https": 443}


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
        host_failures: int = HOST_FAILURE_LIMIT,
        allow_private_addresses: bool = False,
    ) -> None:
        self.concurrency = concurrency
        self.per_host = per_host
        self.timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self.connect_timeout = connect_timeout
        self.retries = retries
        self.backoff = backoff
        self.max_bytes = max_bytes
        self.validators = validators
        self.allow_private_addresses = allow_private_addresses
        self.stats = FetchStats()
        self.breaker = HostBreaker(host_failures)
        self._global = asyncio.Semaphore(concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._servers: dict[tuple[str, int], str] = {}  # (host name, port) -> server key
        self._session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None
        # s3:// and gs:// URLs, read under this fetcher's limits, stats and validators.
        self.objects = ObjectReader(self)

    async def __aenter__(self) -> Fetcher:
        self._resolver = GuardedResolver(self.allow_private_addresses)
        connector = aiohttp.TCPConnector(
            limit=self.concurrency, limit_per_host=self.per_host, ttl_dns_cache=300, resolver=self._resolver
        )
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
        await self.objects.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._resolver is not None:  # not the connector's to close: it was given one
            await self._resolver.close()
            self._resolver = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Fetcher used outside 'async with'")
        return self._session

    def set_endpoint(self, url: str, endpoint: str | None) -> None:
        """The S3 endpoint the ``s3://`` dataset ``url`` is read from (None: AWS)."""
        self.objects.set_endpoint(url, endpoint)

    def _host_limit(self, server: str) -> asyncio.Semaphore:
        sem = self._hosts.get(server)
        if sem is None:
            sem = self._hosts[server] = asyncio.Semaphore(self.per_host)
        return sem

    @asynccontextmanager
    async def slot(self, server: str) -> AsyncIterator[None]:
        """One request's place under the limits: the server's slot first (requests
        waiting for a slow host wait in its queue, holding none of the global
        slots that other hosts need), then a global one."""
        async with self._host_limit(server), self._global:
            yield

    async def get_server(self, url: str) -> str:
        """The key of the server ``url`` reaches (see ``hosts.get_server_key``).

        Raises ``FetchError`` for an address the build must not reach (not
        transient: it is what the listing says) or a name that does not
        resolve (transient). Only answers are remembered: a name that failed
        to resolve is asked again by the next request.
        """
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = _port_of(parts)
        key = self._servers.get((host, port))
        if key is not None:
            return key
        literal = parse_address(host)
        try:
            if literal is not None:
                if not self.allow_private_addresses:
                    check_address(host, host)
                addresses = [str(literal)]
            else:
                assert self._resolver is not None, "Fetcher used outside 'async with'"
                found = await asyncio.wait_for(self._resolver.resolve(host, port, 0), self.connect_timeout)
                addresses = [r["host"] for r in found]
        except PrivateAddressError as e:
            raise FetchError(url, str(e)) from None
        except (OSError, asyncio.TimeoutError) as e:
            raise FetchError(url, f"connection failed: cannot resolve host {host}: {e or 'timed out'}", transient=True) from None
        key = self._servers[(host, port)] = get_server_key(addresses, port)
        return key

    async def get(
        self,
        url: str,
        *,
        byte_range: ByteRange | None = None,
        conditional: bool = True,
        allow_status: frozenset[int] = frozenset(),
        recheck_absent_after: float | None = None,
        max_bytes: int | None = None,
    ) -> Response:
        """GET with retries. Raises ``FetchError`` unless 2xx or in ``allow_status``.

        ``byte_range`` is (start, end_exclusive); (None, n) asks for the last n bytes.
        ``recheck_absent_after`` (seconds) is for optional documents that most
        datasets lack: a "not found" (an allowed 4xx) is remembered, and for that
        long answered from memory without a request.
        ``max_bytes`` replaces the fetcher's size cap for this request (a
        document with a limit of its own, such as a submission CSV).
        """
        parts = urlsplit(url)
        if parts.scheme.lower() in OBJECT_SCHEMES:
            return await self.objects.get(
                url, byte_range=byte_range, conditional=conditional, allow_status=allow_status,
                recheck_absent_after=recheck_absent_after, max_bytes=max_bytes,
            )
        if parts.scheme.lower() not in ALLOWED_SCHEMES:
            raise FetchError(url, f"refusing to fetch scheme {parts.scheme or '(none)'!r}")
        # Whole documents are revalidated and remembered; byte ranges (chunks) are not.
        validators = self.validators if conditional and byte_range is None else None
        remember_absent = validators is not None and recheck_absent_after is not None
        since = validators.get_absent_since(url) if remember_absent else None
        if remember_absent:
            if since is not None and time.time() - since < recheck_absent_after:
                self.stats.absent_remembered += 1
                return Response(url, 404, b"", {})
        headers, cached = get_request_headers(url, byte_range, validators)
        resp = await self._get_with_retries(url, parts, headers, cached, max_bytes)
        if resp.not_modified:
            return resp
        if resp.ok:
            if validators is not None:
                remember_validators(validators, url, resp, since)
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

    async def _get_with_retries(
        self, url: str, parts: SplitResult, headers: Mapping[str, str], cached: Cached, max_bytes: int | None
    ) -> Response:
        """The answer after retries; a 304 to a conditional GET is the stored body, ``not_modified``."""
        server: str | None = None
        attempt = 0
        while True:
            try:
                server = await self.get_server(url)
                resp = await self._request_once(url, server, headers, self.max_bytes if max_bytes is None else max_bytes)
            except FetchError as e:
                if not e.transient or attempt >= self.retries or (server is not None and self.breaker.reason(server)):
                    raise
            else:
                if resp.status == 304 and cached is not None:
                    self.stats.not_modified += 1
                    return Response(url, 200, cached[2], resp.headers, not_modified=True)
                if resp.status not in RETRY_STATUSES:
                    return resp
                if attempt >= self.retries:
                    assert server is not None  # a response came from it
                    self.breaker.failed(server, parts.hostname or parts.netloc, f"HTTP {resp.status} after retries")
                    return resp
            attempt += 1
            self.stats.retries += 1
            await asyncio.sleep(self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))

    def _check_skipped(self, url: str, server: str) -> None:
        reason = self.breaker.reason(server)
        if reason is not None:
            raise FetchError(url, reason, transient=True)

    async def _request_once(self, url: str, server: str, headers: Mapping[str, str], max_bytes: int) -> Response:
        self._check_skipped(url, server)
        async with self.slot(server):
            self._check_skipped(url, server)  # it may have been given up on while this request waited
            try:
                resp = await self._follow(url, headers, max_bytes)
            except FetchError as e:
                if e.transient:
                    self.breaker.failed(server, urlsplit(url).hostname or server, e.message)
                raise
            if resp.status not in RETRY_STATUSES:
                self.breaker.succeeded(server)
            return resp

    async def _follow(self, url: str, headers: Mapping[str, str], max_bytes: int) -> Response:
        """One GET, following redirects within the URL's host (each hop is a request)."""
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            netloc = urlsplit(current).netloc
            self.stats.requests += 1
            self.stats.by_host[netloc] += 1
            try:
                async with self.session.get(parse_request_url(current), headers=headers, allow_redirects=False) as r:
                    location = r.headers.get("Location")
                    if r.status in REDIRECT_STATUSES and location:
                        current = _redirect_target(url, r.url, location)
                        continue
                    body = b""
                    if r.status < 300:
                        body = await self._read_capped(url, r, max_bytes)
                    self.stats.bytes += len(body)
                    return Response(url, r.status, body, r.headers)
            except FetchError:
                raise
            except asyncio.TimeoutError:
                raise FetchError(url, "timed out", transient=True) from None
            except aiohttp.ClientResponseError as e:
                raise FetchError(url, f"bad response: {e.message}", transient=True) from None
            except (aiohttp.ClientError, OSError) as e:
                refused = getattr(e, "os_error", None)
                if isinstance(refused, PrivateAddressError):  # the name resolved differently when connecting
                    raise FetchError(url, str(refused)) from None
                raise FetchError(url, f"connection failed: {type(e).__name__}: {e}", transient=True) from None
        raise FetchError(url, f"too many redirects (more than {MAX_REDIRECTS})")

    async def _read_capped(self, url: str, r: aiohttp.ClientResponse, max_bytes: int) -> bytes:
        declared = r.content_length
        if declared is not None and declared > max_bytes:
            raise ResponseTooLarge(url, f"response too large ({declared} bytes > {max_bytes})", size=declared)
        if declared is not None and "Content-Encoding" not in r.headers:
            # The length is known and nothing is decompressed: one read is safe.
            return await r.read()
        # Unknown length or a compressed body (a possible bomb): read in pieces.
        chunks = []
        size = 0
        async for chunk in r.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > max_bytes:
                raise ResponseTooLarge(url, f"response too large (over {max_bytes} bytes after decoding)", size=None)
            chunks.append(chunk)
        return b"".join(chunks)

    async def get_json(self, url: str, **kw: Any) -> tuple[Any, Response]:
        resp = await self.get(url, **kw)
        return resp.json(), resp

    async def get_bytes(self, url: str, byte_range: ByteRange | None = None) -> bytes:
        return (await self.get(url, byte_range=byte_range, conditional=False)).body


def _port_of(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError:
        port = None
    return port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)


def _redirect_target(url: str, current: yarl.URL, location: str) -> str:
    """Where a redirect points, if the fetcher may follow it; raises ``FetchError`` otherwise.

    Only redirects within the listed URL's host are followed (a trailing
    slash, http to https, a moved folder): one to another host would let a
    listing fetch from anywhere, past the host's limit and breaker.
    """
    try:
        target = current.join(yarl.URL(location))
    except ValueError as e:
        raise FetchError(url, f"redirected to an invalid URL {location!r}: {e}") from None
    if not is_fetchable(str(target)):
        raise FetchError(url, f"redirected to a non-http(s) URL {target}")
    host = (urlsplit(url).hostname or "").lower()
    if (target.host or "").lower() != host:
        raise FetchError(
            url, f"redirected to another host ({target.host}); only redirects within {host} are followed: list the URL it redirects to"
        )
    return str(target)
