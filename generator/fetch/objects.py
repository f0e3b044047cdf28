"""The object-store side of the I/O boundary: ``s3://`` and ``gs://`` URLs through fsspec.

``ObjectReader`` answers the ``FetchIO`` calls for object URLs on behalf of
the HTTP ``Fetcher`` that owns it, under the same rules: the fetcher's
global limit and a per-bucket limit (per server for a custom endpoint, which
is one machine whatever its buckets), its timeouts, retries with backoff,
circuit breaker, size cap, statistics and validator store. Reads are
anonymous (``anon=True``, ``token="anon"``): public data needs no
credentials, so none is looked for, sent, stored or printed.

S3 goes through s3fs's aiobotocore client, one ``GetObject`` per document:
``IfNoneMatch`` with the stored ETag makes a warm rebuild's unchanged
document a 304 without a body, a ``Range`` reads a shard's index or inner
chunks, and the ``Origin`` header makes the answer say whether a browser
viewer may read the bucket (CORS). Google Cloud Storage goes through gcsfs
(``info`` for the ETag, then ``cat_file``).

An ``s3://`` URL does not say which service holds it: the sources stage
settles each dataset's endpoint (its ``endpoint`` column, the environment,
else AWS), and the driver tells the fetcher with ``set_endpoint`` before the
dataset is read. An endpoint is checked as any URL is: private addresses
are refused unless allowed, at lookup and again at connect time.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict

from generator.fetch.base import PROBE_ORIGIN, ByteRange, FetchError, Response, ResponseTooLarge, format_range_header
from generator.fetch.hosts import GuardedResolver
from generator.object_urls import ObjectPath, ObjectUrlError, parse_object_path

if TYPE_CHECKING:
    from generator.fetch.http import Fetcher

# S3 error codes that say nothing about the dataset, only about the service tonight.
TRANSIENT_CODES = frozenset({"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "503", "500", "502", "504"})
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


class ObjectReader:
    """Reads object URLs for ``fetcher``; made and closed by it."""

    def __init__(self, fetcher: Fetcher) -> None:
        self.fetcher = fetcher
        self._endpoints: dict[str, str] = {}  # dataset URL -> its S3 endpoint (absent: AWS)
        self._filesystems: dict[tuple[str, str | None], Any] = {}
        self._lock = asyncio.Lock()

    def set_endpoint(self, url: str, endpoint: str | None) -> None:
        """``url`` and every key below it are read from ``endpoint`` (None: AWS)."""
        if endpoint:
            self._endpoints[url.rstrip("/")] = endpoint.rstrip("/")

    def get_endpoint(self, url: str) -> str | None:
        """The endpoint of the dataset ``url`` belongs to: its nearest registered ancestor."""
        path = url.rstrip("/")
        while True:
            found = self._endpoints.get(path)
            if found is not None:
                return found
            cut = path.rfind("/")
            if cut <= len("s3://"):
                return None
            path = path[:cut]

    async def close(self) -> None:
        for fs in self._filesystems.values():
            creator = getattr(fs, "_s3creator", None)
            if creator is not None:
                await creator.__aexit__(None, None, None)
            session = getattr(fs, "_session", None)
            if session is not None and hasattr(session, "close") and not getattr(session, "closed", True):
                await session.close()
        self._filesystems.clear()

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
        """A document or byte range of an object URL, as ``Fetcher.get`` answers for http(s)."""
        try:
            where = parse_object_path(url)
        except ObjectUrlError as e:
            raise FetchError(url, str(e)) from None
        f = self.fetcher
        validators = f.validators if conditional and byte_range is None else None
        remember_absent = validators is not None and recheck_absent_after is not None
        since = validators.get_absent_since(url) if remember_absent else None
        if remember_absent and since is not None and time.time() - since < recheck_absent_after:
            f.stats.absent_remembered += 1
            return Response(url, 404, b"", {})
        cached = validators.get_validators(url) if validators is not None else None
        etag = cached[0] if cached is not None else None
        endpoint = self.get_endpoint(url) if where.scheme == "s3" else None
        server = await self._server(url, where, endpoint)
        cap = f.max_bytes if max_bytes is None else max_bytes
        resp = await self._with_retries(url, server, lambda: self._read(url, where, endpoint, byte_range, etag, cap))
        if resp.status == 304 and cached is not None:
            f.stats.not_modified += 1
            return Response(url, 200, cached[2], resp.headers, not_modified=True)
        if resp.ok:
            if validators is not None:
                if resp.headers.get("ETag"):
                    validators.put_validators(url, resp.headers["ETag"], None, resp.body)
                if since is not None:
                    validators.put_absent(url, present=True)
            return resp
        if resp.status in allow_status:
            if remember_absent and 400 <= resp.status < 500:
                validators.put_absent(url, present=False)  # type: ignore[union-attr]
            return resp
        raise FetchError(url, resp.reason or f"HTTP {resp.status}", status=resp.status)

    async def _server(self, url: str, where: ObjectPath, endpoint: str | None) -> str:
        """The key the limits and the breaker count by; checks a custom endpoint's address."""
        if endpoint is None:
            return f"{where.scheme}://{where.bucket}"
        try:
            return await self.fetcher.get_server(endpoint)
        except FetchError as e:
            raise FetchError(url, f"endpoint {endpoint}: {e.message}", transient=e.transient) from None

    async def _with_retries(self, url: str, server: str, once: Any) -> Response:
        f = self.fetcher
        attempt = 0
        while True:
            reason = f.breaker.reason(server)
            if reason is not None:
                raise FetchError(url, reason, transient=True)
            try:
                async with f.slot(server):
                    f.stats.requests += 1
                    f.stats.by_host[server] += 1
                    resp = await asyncio.wait_for(once(), f.timeout.total)
            except asyncio.TimeoutError:
                error: FetchError = FetchError(url, "timed out", transient=True)
            except FetchError as e:
                error = e
            else:
                if resp.status not in TRANSIENT_STATUSES:
                    f.breaker.succeeded(server)
                    f.stats.bytes += len(resp.body)
                    return resp
                error = FetchError(url, f"HTTP {resp.status} after retries", status=resp.status, transient=True)
            if not error.transient:
                raise error
            if attempt >= f.retries:
                f.breaker.failed(server, server, error.message)
                raise error
            attempt += 1
            f.stats.retries += 1
            await asyncio.sleep(f.backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))

    async def _read(
        self, url: str, where: ObjectPath, endpoint: str | None, byte_range: ByteRange | None, etag: str | None, cap: int
    ) -> Response:
        fs = await self._filesystem(where.scheme, endpoint)
        if where.scheme == "s3":
            return await _read_s3(fs, url, where, byte_range, etag, cap)
        return await _read_gcs(fs, url, where, byte_range, etag, cap)

    async def _filesystem(self, scheme: str, endpoint: str | None) -> Any:
        key = (scheme, endpoint)
        fs = self._filesystems.get(key)
        if fs is not None:
            return fs
        async with self._lock:
            fs = self._filesystems.get(key)
            if fs is None:
                fs = self._filesystems[key] = await self._make_filesystem(scheme, endpoint)
        return fs

    async def _make_filesystem(self, scheme: str, endpoint: str | None) -> Any:
        f = self.fetcher
        if scheme == "gs":
            import gcsfs

            return gcsfs.GCSFileSystem(token="anon", asynchronous=True, skip_instance_cache=True)
        import s3fs

        config = {
            "connect_timeout": f.connect_timeout,
            "read_timeout": f.timeout.total,
            # Retries are this reader's, as for HTTP, so they are counted and hit the breaker.
            "retries": {"total_max_attempts": 1},
            "max_pool_connections": f.concurrency,
            # The resolver that refuses private addresses when the connection is made.
            "connector_args": {"resolver": GuardedResolver(f.allow_private_addresses)},
        }
        fs = s3fs.S3FileSystem(
            anon=True,
            endpoint_url=endpoint,
            asynchronous=True,
            skip_instance_cache=True,
            config_kwargs=config,
        )
        await fs.set_session()
        fs._s3.meta.events.register("before-sign.s3.GetObject", _add_origin)
        return fs


def _add_origin(request: Any, **kwargs: Any) -> None:
    request.headers["Origin"] = PROBE_ORIGIN


def _response(url: str, status: int, body: bytes, headers: Any, reason: str | None = None) -> Response:
    return Response(url, status, body, CIMultiDict(headers or {}), reason=reason)


async def _read_s3(fs: Any, url: str, where: ObjectPath, byte_range: ByteRange | None, etag: str | None, cap: int) -> Response:
    from botocore.exceptions import BotoCoreError, ClientError

    kwargs: dict[str, Any] = {"Bucket": where.bucket, "Key": where.key}
    if byte_range is not None:
        kwargs["Range"] = format_range_header(byte_range)
    elif etag:
        kwargs["IfNoneMatch"] = etag
    try:
        got = await fs._s3.get_object(**kwargs)
    except ClientError as e:
        return _s3_error(url, where, e)
    except BotoCoreError as e:  # connection refused, DNS, timeouts inside botocore
        raise FetchError(url, f"connection failed: {type(e).__name__}: {e}", transient=True) from None
    except OSError as e:
        raise FetchError(url, f"connection failed: {e}", transient=True) from None
    headers = got.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    size = got.get("ContentLength")
    async with got["Body"] as stream:
        if size is not None and size > cap:
            raise ResponseTooLarge(url, f"response too large ({size} bytes > {cap})", size=size)
        body = await stream.read(cap + 1)
    if len(body) > cap:
        raise ResponseTooLarge(url, f"response too large (over {cap} bytes)", size=None)
    return _response(url, got.get("ResponseMetadata", {}).get("HTTPStatusCode", 200), body, headers)


def _s3_error(url: str, where: ObjectPath, e: Any) -> Response:
    """An S3 error as a response (a missing key, a refusal) or a ``FetchError`` (a bucket that is none)."""
    error = e.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    headers = e.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    if code == "304" or status == 304:
        return _response(url, 304, b"", headers)
    if code == "NoSuchBucket":
        raise FetchError(url, f"bucket {where.bucket!r} does not exist (NoSuchBucket)")
    if code in ("InvalidBucketName", "AllAccessDisabled"):
        raise FetchError(url, f"bucket {where.bucket!r}: {code}: {error.get('Message', '')}".rstrip(": "))
    if code in TRANSIENT_CODES or status in TRANSIENT_STATUSES:
        raise FetchError(url, f"{code or 'HTTP ' + str(status)} from the object store", status=status, transient=True)
    if code == "AccessDenied" or status == 403:
        reason = f"access denied (AccessDenied): bucket {where.bucket!r} does not allow anonymous reading of {where.key!r}"
        return _response(url, 403, b"", headers, reason)
    if code in ("NoSuchKey", "404") or status == 404:
        return _response(url, 404, b"", headers, f"no such key {where.key!r} in bucket {where.bucket!r} (NoSuchKey)")
    return _response(url, status or 400, b"", headers, f"{code}: {error.get('Message', '')}")


async def _read_gcs(fs: Any, url: str, where: ObjectPath, byte_range: ByteRange | None, etag: str | None, cap: int) -> Response:
    path = f"{where.bucket}/{where.key}"
    try:
        info = await fs._info(path)
        tag = info.get("etag") or info.get("generation")
        headers = {"ETag": str(tag)} if tag else {}
        if byte_range is None:
            if etag and tag and str(tag) == etag:
                return _response(url, 304, b"", headers)
            size = int(info.get("size") or 0)
            if size > cap:
                raise ResponseTooLarge(url, f"response too large ({size} bytes > {cap})", size=size)
            body = await fs._cat_file(path)
        else:
            start, end = byte_range
            body = await fs._cat_file(path, start=-end if start is None and end else start, end=None if start is None else end)
    except FileNotFoundError:
        return _response(url, 404, b"", {}, f"no such object {where.key!r} in bucket {where.bucket!r}")
    except PermissionError:
        return _response(url, 403, b"", {}, f"access denied: bucket {where.bucket!r} does not allow anonymous reading")
    except (FetchError, asyncio.TimeoutError):
        raise
    except OSError as e:
        raise FetchError(url, f"connection failed: {type(e).__name__}: {e}", transient=True) from None
    if len(body) > cap:
        raise ResponseTooLarge(url, f"response too large (over {cap} bytes)", size=None)
    return _response(url, 206 if byte_range is not None else 200, body, headers)
