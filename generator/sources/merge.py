"""Merging listings: one Entry per dataset URL, its columns from the listing of the source that hosts it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

from generator.records import Entry, Listing, RowError


@dataclass(frozen=True, slots=True)
class _Listed:
    url: str
    listing: Listing
    columns: Mapping[str, str]
    host: str  # the host of the CSV that listed it


def get_bounded_errors(errors: list[RowError], cap: int) -> list[RowError]:
    """At most ``cap`` row errors per CSV, and one more that counts the rest."""
    counts: dict[str, int] = {}
    summaries: dict[str, int] = {}  # file -> where its summary goes
    out: list[RowError] = []
    for e in errors:
        n = counts[e.file] = counts.get(e.file, 0) + 1
        if n <= cap:
            out.append(e)
        elif n == cap + 1:
            summaries[e.file] = len(out)
            out.append(e)
    for file, i in summaries.items():
        e = out[i]
        msg = (
            f"{counts[file] - cap} more row errors in this CSV are not listed (only the first {cap} are); "
            f"the next one: {e.message}"
        )
        out[i] = RowError(e.file, e.line, msg, e.url, e.name)
    return out


def get_primary(url: str, listed: list[_Listed]) -> _Listed:
    """The listing a dataset takes its source and columns from.

    The one from a CSV served by the dataset's own host; or else the first in
    the root's order, since the root lists established sources before new ones.
    """
    if len(listed) == 1:  # nearly every dataset: nothing to choose
        return listed[0]
    host = urlsplit(url).netloc.lower()
    return next((x for x in listed if x.host and x.host == host), listed[0])


def get_entry(url: str, listed: list[_Listed]) -> Entry:
    """One Entry from every listing of ``url``: the primary's cells, the others fill its empty ones."""
    primary = get_primary(url, listed)
    columns = primary.columns
    for x in listed:
        if x is not primary:
            missing = {k: v for k, v in x.columns.items() if v and not columns.get(k)}
            if missing:
                columns = {**columns, **missing}  # copied: row dicts are shared
    listings = tuple(x.listing for x in listed)
    source, collection = primary.listing.source, primary.listing.collection
    return Entry(url=url, source=source, collection=collection, listings=listings, columns=columns)
