"""Joining paths onto a dataset's URL: one rule for every stage."""

from __future__ import annotations

from urllib.parse import quote

import yarl

# What a query may hold as written: reserved characters and existing escapes
# stay; anything else (a space, non-ASCII) is percent-encoded.
QUERY_SAFE = "!$&'()*+,/:;=?@~%"


def join_url(base: str, *parts: str, safe: str = "/%") -> str:
    """``base`` with each part appended as a path segment (or segments), percent-encoded.

    Characters a path may not hold are encoded, but ``/`` and ``%`` are kept:
    a part that is already encoded (``a%20b``, as a listed URL or a
    multiscales path may be) is never encoded twice. Slashes at the ends of
    a part are dropped and empty parts skipped, so ``join_url(u, "", "0")``
    and ``join_url(u + "/", "/0/")`` name the same document.

    A query on ``base`` (a presigned or token link) stays on the result, after
    the joined path: every document and chunk of the dataset is asked with it.
    A fragment is dropped (it is never sent).
    """
    base = base.split("#", 1)[0]
    base, mark, query = base.partition("?")
    out = base.rstrip("/")
    for part in parts:
        part = part.strip("/")
        if part:
            out += "/" + quote(part, safe=safe)
    return out + mark + query


def parse_request_url(url: str) -> str | yarl.URL:
    """``url`` as aiohttp should send it: a query exactly as listed.

    yarl would re-encode a query (``%2F`` becomes ``/``), and a signed link's
    signature covers the query as written. URLs without one go as before.
    """
    base, mark, query = url.partition("?")
    if not mark:
        return url
    return yarl.URL(str(yarl.URL(base)) + "?" + quote(query.split("#", 1)[0], safe=QUERY_SAFE), encoded=True)
