"""A read-only zarr store over the fetcher, within a byte and request budget."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Iterable

from zarr.abc.store import (
    ByteRequest,
    OffsetByteRequest,
    RangeByteRequest,
    Store,
    SuffixByteRequest,
)
from zarr.core.buffer import Buffer, BufferPrototype

from generator.fetch.base import FetchError
from generator.fetch.http import Fetcher
from generator.fetch.urls import join_url
from generator.plan import ThumbnailSkipped

MB = 1024 * 1024


class ReadBudget:
    """Counts the bytes and requests a read really makes; raises past ``limit`` bytes or
    ``max_requests`` requests (the metadata may lie)."""

    def __init__(self, limit: int, max_requests: int | None = None) -> None:
        self.limit = limit
        self.max_requests = max_requests
        self.bytes = 0
        self.requests = 0
        self.missing = 0

    def add(self, n: int) -> None:
        self.requests += 1
        self.bytes += n
        if self.max_requests is not None and self.requests > self.max_requests:
            raise ThumbnailSkipped(
                f"thumbnail skipped: made {self.requests} chunk requests, over the cap of {self.max_requests} "
                "per thumbnail (--thumbnail-max-chunks; the array metadata understates the chunk count)"
            )
        if self.bytes > self.limit:
            raise ThumbnailSkipped(
                f"thumbnail skipped: read {self.bytes / MB:.0f} MB of chunks, over the {self.limit / MB:.0f} MB cap "
                "(the array metadata understates the chunk sizes)"
            )


class FetcherStore(Store):
    """Read-only zarr store for ``root`` (an http(s) URL), fetching through the build's ``Fetcher``.

    A missing key (404) is None, which zarr reads as a chunk of fill value.
    Range, offset and suffix requests map onto HTTP Range, so zarr's
    partial shard reads (index, then inner chunks) work.
    """

    supports_writes = False
    supports_deletes = False
    supports_listing = False
    supports_partial_writes = False

    def __init__(self, root: str, fetcher: Fetcher, budget: ReadBudget | None = None) -> None:
        super().__init__(read_only=True)
        self.root = root if "?" in root else root.rstrip("/")
        self.fetcher = fetcher
        self.budget = budget
        self._is_open = True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FetcherStore) and other.root == self.root and other.fetcher is self.fetcher

    def __repr__(self) -> str:
        return f"FetcherStore({self.root!r})"

    def url_for(self, key: str) -> str:
        # A query on the root (a presigned link) stays on every chunk's URL.
        return join_url(self.root, key, safe="/")

    async def get(self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None) -> Buffer | None:
        rng: tuple[int | None, int | None] | None
        if byte_range is None:
            rng = None
        elif isinstance(byte_range, RangeByteRequest):
            rng = (byte_range.start, byte_range.end)
        elif isinstance(byte_range, OffsetByteRequest):
            rng = (byte_range.offset, None)
        elif isinstance(byte_range, SuffixByteRequest):
            rng = (None, byte_range.suffix)
        else:
            raise TypeError(f"unexpected byte range {byte_range!r}")
        try:
            body = await self.fetcher.get_bytes(self.url_for(key), rng)
        except FetchError as e:
            if e.status in (404, 410):
                if self.budget is not None:
                    self.budget.missing += 1
                    self.budget.add(0)
                return None
            raise
        if self.budget is not None:
            self.budget.add(len(body))
        return prototype.buffer.from_bytes(body)

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        return list(await asyncio.gather(*(self.get(k, prototype, r) for k, r in key_ranges)))

    async def exists(self, key: str) -> bool:
        try:
            await self.fetcher.get(self.url_for(key), byte_range=(0, 1), conditional=False)
        except FetchError as e:
            if e.status in (404, 410):
                return False
            raise
        return True

    async def set(self, key: str, value: Buffer) -> None:
        raise NotImplementedError("FetcherStore is read-only")

    async def delete(self, key: str) -> None:
        raise NotImplementedError("FetcherStore is read-only")

    async def _empty(self) -> AsyncIterator[str]:
        return
        yield  # pragma: no cover

    def list(self) -> AsyncIterator[str]:
        return self._empty()

    def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        return self._empty()

    def list_dir(self, prefix: str) -> AsyncIterator[str]:
        return self._empty()
