"""The I/O boundary: every byte the build reads, remote or local, comes through here.

``FetchIO`` is the protocol the stages are written against (``get``, a
conditional GET by default; ``get_json``; ``get_bytes`` for byte ranges).
``Fetcher`` implements it over HTTP, ``LocalFiles`` over the file system
(``--map-url`` targets and local CSVs). ``join_url`` is the one way to add
a path to a dataset's URL.
"""

from generator.fetch.base import (
    PROBE_ORIGIN,
    FetchError,
    FetchIO,
    Response,
    ResponseTooLarge,
    ValidatorStore,
)
from generator.fetch.http import (
    ALLOWED_SCHEMES,
    RETRY_STATUSES,
    USER_AGENT,
    Fetcher,
    FetchStats,
    is_fetchable,
)
from generator.fetch.local import LocalFiles, map_url
from generator.fetch.urls import join_url

__all__ = [
    "ALLOWED_SCHEMES",
    "PROBE_ORIGIN",
    "RETRY_STATUSES",
    "USER_AGENT",
    "FetchError",
    "FetchIO",
    "FetchStats",
    "Fetcher",
    "LocalFiles",
    "Response",
    "ResponseTooLarge",
    "ValidatorStore",
    "is_fetchable",
    "join_url",
    "map_url",
]
