"""What every reader of remote or local bytes shares: the protocol, the response, the error.

The protocol is small on purpose, as pystac's ``StacIO`` is: a whole
document (``get``, conditional unless asked otherwise), its JSON
(``get_json``) and a byte range (``get_bytes``). The stages are written
against it, so a test or ``--map-url`` can swap the HTTP fetcher for local
files without the stage knowing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol
from urllib.parse import urlsplit

from generator.text import DocumentError, parse_json_document

# Sent so that the response tells whether a browser viewer on another origin
# could read the data (Access-Control-Allow-Origin).
PROBE_ORIGIN = "https://ngff-catalog.example"

ByteRange = tuple[int | None, int | None]


class FetchError(Exception):
    """A request that failed for good: transport error, timeout, or an HTTP error.

    ``transient`` tells whether the failure says anything about the dataset
    (404, bad JSON: no) or only about the host tonight (timeouts, 5xx: yes).
    """

    def __init__(self, url: str, message: str, *, status: int | None = None, transient: bool = False):
        super().__init__(f"{message} ({url})")
        self.url = url
        self.message = message
        self.status = status
        self.transient = transient


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    body: bytes
    headers: Mapping[str, str]
    not_modified: bool = False  # served from the validator store after a 304
    # Why an object store refused or lacked the key ("access denied (AccessDenied) ..."):
    # the reader's own words, never a header a host sent.
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def cors(self) -> bool:
        allow = self.headers.get("Access-Control-Allow-Origin", "")
        return allow == "*" or allow == PROBE_ORIGIN

    def json(self) -> Any:
        """The body as JSON with valid text and bounded depth (see ``text.parse_json_document``)."""
        try:
            return parse_json_document(self.body, urlsplit(self.url).path.rsplit("/", 1)[-1] or "document")
        except DocumentError as e:
            raise FetchError(self.url, str(e)) from None


class FetchIO(Protocol):
    """The I/O boundary every stage reads through (HTTP or local files)."""

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
        """A document; raises ``FetchError`` unless 2xx or its status is in ``allow_status``.

        ``max_bytes`` replaces the reader's size cap for this call (a CSV has its own).
        """
        ...

    async def get_json(self, url: str, **kw: Any) -> tuple[Any, Response]: ...

    async def get_bytes(self, url: str, byte_range: ByteRange | None = None) -> bytes: ...


class ResponseTooLarge(FetchError):
    """A body over the size cap of its request; ``size`` is the declared length, if any."""

    def __init__(self, url: str, message: str, *, size: int | None):
        super().__init__(url, message)
        self.size = size


class ValidatorStore(Protocol):
    """Remembers ETag / Last-Modified and the body they validate."""

    def get_validators(self, url: str) -> tuple[str | None, str | None, bytes] | None: ...

    def put_validators(self, url: str, etag: str | None, last_modified: str | None, body: bytes) -> None: ...

    def get_absent_since(self, url: str) -> float | None:
        """When (Unix time) an optional document last answered "not found"; None if it did not."""
        ...

    def put_absent(self, url: str, present: bool) -> None: ...


def format_range_header(byte_range: ByteRange) -> str:
    """``(start, end_exclusive)`` as a Range header; ``(None, n)`` asks for the last n bytes."""
    start, end = byte_range
    return f"bytes=-{end}" if start is None else f"bytes={start}-{'' if end is None else end - 1}"
