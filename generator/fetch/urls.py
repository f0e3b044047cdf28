"""Joining paths onto a dataset's URL: one rule for every stage."""

from __future__ import annotations

from urllib.parse import quote


def join_url(base: str, *parts: str) -> str:
    """``base`` with each part appended as a path segment (or segments), percent-encoded.

    Characters a path may not hold are encoded, but ``/`` and ``%`` are kept:
    a part that is already encoded (``a%20b``, as a listed URL or a
    multiscales path may be) is never encoded twice. Slashes at the ends of
    a part are dropped and empty parts skipped, so ``join_url(u, "", "0")``
    and ``join_url(u + "/", "/0/")`` name the same document.
    """
    out = base.rstrip("/")
    for part in parts:
        part = part.strip("/")
        if part:
            out += "/" + quote(part, safe="/%")
    return out
