"""Where a dataset was listed: a CSV file and line, the Entry the sources stage yields, row errors."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from generator.readonly import EMPTY, ReadOnlyDict, freeze


def make_dataset_id(url: str) -> str:
    """A short, stable, URL-safe id: used for page paths and thumbnail names."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


# The stages ask for the same records' ids again and again: the site writer's
# passes over a span of records, and the forked writer of its pages, each find
# the span's ids here.
get_dataset_id = functools.lru_cache(maxsize=1 << 18)(make_dataset_id)


@dataclass(frozen=True, slots=True)
class Listing:
    """One place a dataset URL was listed: a CSV file and a 1-based line.

    ``file`` is the CSV as it was read (a URL, or a path on the build
    machine); ``name`` is the CSV as the repository sees it (a path relative
    to the root CSV's folder, or its URL) and is what every output shows, so
    no path of the build machine is published. ``link`` points at the exact
    line on GitHub when the build ran in Actions.
    """

    file: str
    line: int
    source: str = ""
    collection: str = ""
    name: str = ""
    link: str = ""

    @property
    def shown(self) -> str:
        """``name:line``, as outputs cite the listing."""
        return f"{self.name or self.file}:{self.line}"

    def to_dict(self) -> dict[str, Any]:
        # Explicit rather than dataclasses.asdict (which deep-copies): 100,000-dataset exports.
        d: dict[str, Any] = {
            "file": self.name or self.file,
            "line": self.line,
            "source": self.source,
            "collection": self.collection,
        }
        if self.link:
            d["link"] = self.link
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Listing:
        return cls(
            file=str(d["file"]),
            line=int(d["line"]),
            source=str(d.get("source", "")),
            collection=str(d.get("collection", "")),
            link=str(d.get("link", "")),
        )


@dataclass(frozen=True, slots=True)
class Entry:
    """A dataset URL as listed in the submission CSVs (output of ``sources``).

    ``columns`` holds the CSV-provided values (``name``, ``written``, ``shape``,
    ``organismId`` ...), inherited columns included; it is never mutated.
    """

    url: str
    source: str
    collection: str
    listings: tuple[Listing, ...]
    columns: Mapping[str, str] = field(default_factory=lambda: EMPTY)

    def __post_init__(self) -> None:
        if type(self.columns) is not ReadOnlyDict:
            object.__setattr__(self, "columns", freeze(self.columns))

    @property
    def id(self) -> str:
        return get_dataset_id(self.url)

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "source": self.source,
            "collection": self.collection,
            "listings": [x.to_dict() for x in self.listings],
            "columns": dict(self.columns),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Entry:
        return cls(
            url=d["url"],
            source=d.get("source", ""),
            collection=d.get("collection", ""),
            listings=tuple(Listing.from_dict(x) for x in d.get("listings", ())),
            columns=d.get("columns") or EMPTY,
        )


@dataclass(frozen=True, slots=True)
class RowError:
    """A problem with one CSV row (or a whole CSV), tied to its file and line.

    ``file`` is the CSV as read, ``name`` as the repository sees it (see
    ``Listing``): outputs show ``name``.
    """

    file: str
    line: int
    message: str
    url: str | None = None
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.name or self.file, "line": self.line, "message": self.message, "url": self.url}

    def __str__(self) -> str:
        return f"{self.name or self.file}:{self.line}: {self.message}"
