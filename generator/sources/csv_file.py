"""One submission CSV: where it is, how far it is trusted, and its text, read within the size limit."""

from __future__ import annotations

from dataclasses import dataclass

from generator.fetch.base import FetchError, FetchIO, ResponseTooLarge
from generator.records import RowError
from generator.text import strip_controls

# One size limit for a submission CSV, read from disk or fetched.
MAX_CSV_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Csv:
    """Where a CSV is, how far it is trusted, and how outputs name it."""

    file: str  # as referenced: the URL, or a local path
    key: str  # identity for cycle detection: canonical URL or absolute path
    remote: bool  # came from the web: may only point at http(s) URLs
    local_path: str | None  # where to read it (a local file, or a url_map target)
    name: str  # as the repository sees it: a path relative to the root CSV's folder, or the URL
    host: str = ""  # the host serving it ("" for a local file): a dataset on it is its own
    blob: str = ""  # its page on GitHub when built in Actions ("" otherwise)

    def error(self, line: int, message: str, url: str | None = None) -> RowError:
        return RowError(self.file, line, message, url, self.name)


async def read_csv_text(csv_ref: _Csv, files: FetchIO, fetcher: FetchIO | None) -> str:
    """The CSV's text: through ``files`` (a local file or a ``--map-url`` target), else ``fetcher``.

    Raises ``OSError`` (or ``FetchError``) for a CSV that cannot be read, is
    over ``MAX_CSV_BYTES`` or is not UTF-8.
    """
    # A mapped URL goes to the local-files reader as a URL: it applies the map itself.
    io: FetchIO | None = files if csv_ref.local_path is not None else fetcher
    if io is None:
        raise OSError("cannot fetch a remote CSV: offline (no fetcher, no --map-url for it)")
    try:
        data = (await io.get(csv_ref.key if csv_ref.remote else csv_ref.local_path, max_bytes=MAX_CSV_BYTES)).body
    except ResponseTooLarge as e:
        raise OSError(_too_large(e.size)) from None
    if len(data) > MAX_CSV_BYTES:  # a body the validator store kept from an earlier build
        raise OSError(_too_large(len(data)))
    try:
        # Control characters (NUL, escapes) go here, as for every harvested document.
        return strip_controls(data.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise OSError(f"not UTF-8 text ({e})") from None


def describe_read_error(e: OSError | FetchError) -> str:
    if isinstance(e, FetchError):
        return e.message
    return e.strerror or str(e)  # strerror leaves out the build machine's path the OS names


def _too_large(size: int | None) -> str:
    measured = f"{size:,} bytes" if size is not None else f"over {MAX_CSV_BYTES:,} bytes"
    return f"larger than the CSV size limit of {MAX_CSV_BYTES // 2**20} MiB ({measured}); file not read"
