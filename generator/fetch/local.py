"""The local-files implementation of the I/O boundary: ``--map-url`` targets, local CSVs, tests.

``LocalFiles`` answers the same calls as the HTTP ``Fetcher`` from the file
system: a path (or a ``file:`` URL) is read as it is, and a URL under one of
its ``url_map`` prefixes is read from the folder that prefix names, as if it
had been fetched. A missing file is a 404, so callers that allow "not
found" for optional documents behave as they do over HTTP.

It reads whatever path it is given: deciding which paths a caller may name
is the caller's trust decision (the sources stage refuses local paths in
CSVs that came from the web), not this module's.
"""

from __future__ import annotations

import asyncio
import os
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from generator.fetch.base import ByteRange, FetchError, Response, ResponseTooLarge

NOT_FOUND = 404


def map_url(url: str, url_map: tuple[tuple[str, str], ...]) -> str | None:
    """The local path ``url`` maps to under the first matching prefix, or None when none matches.

    The rest of the URL after the prefix is unquoted (query and fragment
    dropped) and joined to the folder; raises ``ValueError`` when the result
    would leave that folder (``../`` or ``%2e%2e/``).
    """
    for prefix, directory in url_map:
        if url.startswith(prefix):
            base = os.path.abspath(directory)
            rest = unquote(re.split(r"[?#]", url[len(prefix):], maxsplit=1)[0])
            target = os.path.normpath(os.path.join(base, rest)) if rest else base
            if target != base and not target.startswith(base.rstrip(os.sep) + os.sep):
                raise ValueError(f"{url!r} maps outside {directory!r}")
            return target
    return None


def _read(path: str, byte_range: ByteRange | None, max_bytes: int) -> bytes:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if byte_range is None:
            if size > max_bytes:
                raise _TooLarge(size)
            data = f.read(max_bytes + 1)
            if len(data) > max_bytes:  # grew since it was measured
                raise _TooLarge(None)
            return data
        start, end = byte_range
        if start is None:  # the last ``end`` bytes, as an HTTP suffix range
            start, end = max(0, size - (end or 0)), size
        end = size if end is None else min(end, size)
        f.seek(start)
        return f.read(max(0, end - start))


def _reason(e: OSError) -> str:
    # strerror leaves out the path the OS names: messages reach the report, and
    # no path of the build machine may.
    return e.strerror or type(e).__name__


class _TooLarge(OSError):
    def __init__(self, size: int | None) -> None:
        super().__init__(size)
        self.size = size


class LocalFiles:
    """Reads local files through the ``FetchIO`` calls; no session, nothing to close."""

    def __init__(self, url_map: tuple[tuple[str, str], ...] = (), *, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.url_map = url_map
        self.max_bytes = max_bytes

    async def __aenter__(self) -> LocalFiles:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def locate(self, url: str) -> str:
        """The path ``url`` stands for; raises ``FetchError`` for a URL this reader cannot serve."""
        try:
            mapped = map_url(url, self.url_map)
        except ValueError as e:
            raise FetchError(url, str(e)) from None
        if mapped is not None:
            return mapped
        if url[:5].lower() == "file:":
            return unquote(urlsplit(url).path)
        if "://" in url:
            raise FetchError(url, "not a local file, and no --map-url prefix covers it")
        return url  # a path (a colon in it is no scheme: a drive letter, ``a:b.csv``)

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
        """The file's bytes (``conditional`` and ``recheck_absent_after`` mean nothing for a file)."""
        path = self.locate(url)
        cap = self.max_bytes if max_bytes is None else max_bytes
        try:
            body = await asyncio.to_thread(_read, path, byte_range, cap)
        except _TooLarge as e:
            measured = f"{e.size} bytes" if e.size is not None else "it grew while read"
            raise ResponseTooLarge(url, f"larger than {cap} bytes ({measured})", size=e.size) from None
        except FileNotFoundError as e:
            if NOT_FOUND in allow_status:
                return Response(url, NOT_FOUND, b"", {})
            raise FetchError(url, _reason(e), status=NOT_FOUND) from None
        except OSError as e:
            raise FetchError(url, _reason(e)) from None
        return Response(url, 200 if byte_range is None else 206, body, {})

    async def get_json(self, url: str, **kw: Any) -> tuple[Any, Response]:
        resp = await self.get(url, **kw)
        return resp.json(), resp

    async def get_bytes(self, url: str, byte_range: ByteRange | None = None) -> bytes:
        return (await self.get(url, byte_range=byte_range, conditional=False)).body

