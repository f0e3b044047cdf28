"""Conditional GETs against the validator store: the headers a stored document earns, and what a fetched one leaves."""

from __future__ import annotations

from generator.fetch.base import (
    ByteRange,
    Response,
    ValidatorStore,
    format_range_header,
)

# What the validator store holds for a document: (ETag, Last-Modified, body).
Cached = tuple[str | None, str | None, bytes] | None


def get_request_headers(
    url: str, byte_range: ByteRange | None, validators: ValidatorStore | None
) -> tuple[dict[str, str], Cached]:
    """A request's Range or conditional headers, and the stored document a 304 stands for."""
    headers: dict[str, str] = {}
    cached = None
    if byte_range is not None:
        headers["Range"] = format_range_header(byte_range)
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
    return headers, cached


def remember_validators(validators: ValidatorStore, url: str, resp: Response, since: float | None) -> None:
    """Store a fetched document's validators; clear the mark of one missing before."""
    etag = resp.headers.get("ETag")
    last_modified = resp.headers.get("Last-Modified")
    if etag or last_modified:
        validators.put_validators(url, etag, last_modified, resp.body)
    if since is not None:  # it was missing and is back: drop the mark (no write otherwise)
        validators.put_absent(url, present=True)
