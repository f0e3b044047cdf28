"""The build state: an embedded SQLite database that lets a catalog live on.

One file, ``<cache_dir>/state.sqlite``, keeps per URL:

- the conditional-GET validators (``ETag``, ``Last-Modified``) and the body
  they validate, so a rebuild re-downloads nothing that did not change;
- the last *good* harvested record (status ok or invalid), its
  ``first_seen``/``last_ok`` dates and its thumbnail key, so a dataset whose
  host is down tonight stays in the catalog as ``stale`` with its facts;
- the failure history;
- ontology labels looked up online (``--resolve-terms``).

Rendered thumbnails live beside it in ``<cache_dir>/thumbnails/`` so a fresh
output directory is repopulated without re-rendering.

Durability: WAL journal, ``synchronous=NORMAL`` and autocommit. Every
``put_*``/``save_*``/``record_*`` call is its own short transaction, committed
before it returns, so a build killed at any point (SIGKILL, OOM, CI timeout)
leaves a consistent database that holds every record saved before the kill.
(``NORMAL`` in WAL mode may lose the last commits on *power* loss, never
consistency; a process crash loses nothing committed.)

Concurrency: one ``sqlite3`` connection, used only from the thread that
created it, which is the event loop's thread (the fetcher and the build
driver call it between awaits). sqlite3's ``check_same_thread`` guard stays
on, so a call from a worker thread fails loudly instead of racing. Two
builds never share a state: the build driver holds the cache folder's lock
(``generator.lock``) for the whole build.

Damage: a damaged state never stops a build; how the file is checked, set
aside and replaced is ``generator.state_file``. What cannot be fixed by
starting afresh (a newer schema, a cache path that is not a writable
folder) is a ``StateError`` (``generator.state_schema``), which the CLI
turns into a message and exit status 2.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
import time
import zlib
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterable, Iterator

from generator.history import GOOD_STATUSES
from generator.records import Dataset
from generator.state_file import StateFile
from generator.text import parse_stored_json

FAILURES_KEPT = 50  # per URL: enough for a report, bounded for a years-old cache


def _iso_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


class State(StateFile):
    """The build cache. Implements the fetcher's ``ValidatorStore`` protocol."""

    # -- ValidatorStore ------------------------------------------------------

    def get_validators(self, url: str) -> tuple[str | None, str | None, bytes] | None:
        row = self._db.execute(
            "SELECT etag, last_modified, body FROM validators WHERE url=?", (url,)
        ).fetchone()
        if row is None:
            return None
        try:
            body = zlib.decompress(row[2])
        except zlib.error:
            # A body we cannot restore must not be served on a 304: forget it
            # so the next request is unconditional.
            self._db.execute("DELETE FROM validators WHERE url=?", (url,))
            return None
        return row[0], row[1], body

    def put_validators(self, url: str, etag: str | None, last_modified: str | None, body: bytes) -> None:
        self._db.execute(
            "INSERT INTO validators (url, etag, last_modified, body) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(url) DO UPDATE SET etag=excluded.etag, last_modified=excluded.last_modified, body=excluded.body",
            (url, etag, last_modified, zlib.compress(body, 6)),
        )

    def get_absent_since(self, url: str) -> float | None:
        row = self._db.execute("SELECT checked_at FROM absent WHERE url=?", (url,)).fetchone()
        return None if row is None else float(row[0])

    def put_absent(self, url: str, present: bool) -> None:
        if present:
            self._db.execute("DELETE FROM absent WHERE url=?", (url,))
        else:
            self._db.execute(
                "INSERT INTO absent (url, checked_at) VALUES (?, ?) "
                "ON CONFLICT(url) DO UPDATE SET checked_at=excluded.checked_at",
                (url, time.time()),
            )

    def get_validators_under(self, url: str) -> list[tuple[str, str | None, str | None, bytes]]:
        """Every document remembered below a dataset URL, its body restored: what a
        cluster worker harvesting that dataset needs for its conditional requests."""
        prefix = url.rstrip("/") + "/"
        # Every string that starts with "…/" sorts in ["…/", "…0"): "0" follows "/".
        rows = self._db.execute(
            "SELECT url, etag, last_modified, body FROM validators WHERE url >= ? AND url < ?", (prefix, prefix[:-1] + "0")
        ).fetchall()
        found = []
        for doc, etag, modified, body in rows:
            try:
                found.append((doc, etag, modified, zlib.decompress(body)))
            except zlib.error:
                continue  # served on no 304: the worker asks unconditionally
        return found

    def get_absent_under(self, url: str) -> list[tuple[str, float]]:
        """The optional documents below a dataset URL last found missing, and when."""
        prefix = url.rstrip("/") + "/"
        rows = self._db.execute(
            "SELECT url, checked_at FROM absent WHERE url >= ? AND url < ?", (prefix, prefix[:-1] + "0")
        ).fetchall()
        return [(doc, float(at)) for doc, at in rows]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one commit (a batch of records: one fsync, not hundreds)."""
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- dataset records -----------------------------------------------------

    def save_dataset(self, ds: Dataset, now: str) -> None:
        """Remember ``ds`` as of build time ``now`` (ISO 8601); committed on return.

        Only an ok/invalid record replaces the stored facts: a stale or
        unreachable one keeps the last good record (and its thumbnail key) and
        just updates the status, so tonight's outage never erases last week's
        facts. A URL with no good record yet stores whatever it has.
        """
        good = ds.status in GOOD_STATUSES
        record = json.dumps(ds.to_dict(internal=True), separators=(",", ":"), default=str)
        thumb = ds.thumbnail.key if ds.thumbnail else None
        first_seen = ds.first_seen or now
        if good:
            self._db.execute(
                "INSERT INTO datasets (url, record, good, status, first_seen, last_ok, last_seen, thumbnail_key) "
                "VALUES (?, ?, 1, ?, ?, ?, ?, ?) "
                "ON CONFLICT(url) DO UPDATE SET record=excluded.record, good=1, status=excluded.status, "
                "first_seen=min(datasets.first_seen, excluded.first_seen), last_ok=excluded.last_ok, "
                "last_seen=excluded.last_seen, thumbnail_key=excluded.thumbnail_key",
                (ds.url, record, ds.status, first_seen, ds.last_ok or now, now, thumb),
            )
        else:
            self._db.execute(
                "INSERT INTO datasets (url, record, good, status, first_seen, last_ok, last_seen, thumbnail_key) "
                "VALUES (?, ?, 0, ?, ?, NULL, ?, ?) "
                "ON CONFLICT(url) DO UPDATE SET status=excluded.status, last_seen=excluded.last_seen, "
                "first_seen=min(datasets.first_seen, excluded.first_seen), "
                "record=CASE WHEN datasets.good THEN datasets.record ELSE excluded.record END",
                (ds.url, record, ds.status, first_seen, now, thumb),
            )

    def get_dataset(self, url: str) -> Dataset | None:
        """The last good record of ``url`` (or, if it never was good, the last one)."""
        row = self._db.execute(
            "SELECT record, first_seen, last_ok FROM datasets WHERE url=?", (url,)
        ).fetchone()
        if row is None:
            return None
        try:
            # Cleaned on the way in: a record an older build stored may hold
            # harvested text that cannot be written out (a lone surrogate).
            d = parse_stored_json(row[0], "state record")
            # The columns are authoritative for the dates (min() over all saves).
            d["first_seen"], d["last_ok"] = row[1], row[2]
            return Dataset.from_dict(d)
        except (ValueError, KeyError, TypeError):
            return None

    def get_root_formats(self, urls: Iterable[str]) -> dict[str, int]:
        """The Zarr format of each dataset's root document at the last build, for those the
        state holds one of (its validators): a warm rebuild asks for that format first."""
        names = {"/zarr.json": 3, "/.zattrs": 2}
        candidates: dict[str, tuple[str, int]] = {}
        for url in urls:
            for name, fmt in names.items():
                candidates[url.rstrip("/") + name] = (url, fmt)
        found: dict[str, int] = {}
        keys = list(candidates)
        for start in range(0, len(keys), 500):  # SQLite's bound on host parameters
            chunk = keys[start : start + 500]
            rows = self._db.execute(
                f"SELECT url FROM validators WHERE url IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
            for (key,) in rows:
                url, fmt = candidates[key]
                # Both present (a dataset converted in place): zarr.json wins, as the probe order did.
                if found.get(url) != 3:
                    found[url] = fmt
        return found

    def first_seen(self, url: str) -> str | None:
        row = self._db.execute("SELECT first_seen FROM datasets WHERE url=?", (url,)).fetchone()
        return row[0] if row else None

    def last_ok(self, url: str) -> str | None:
        row = self._db.execute("SELECT last_ok FROM datasets WHERE url=?", (url,)).fetchone()
        return row[0] if row else None

    def get_urls(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT url FROM datasets")}

    def forget_missing(self, urls_present: set[str]) -> list[str]:
        """Drop every URL not in ``urls_present`` (it left the CSVs). Returns them."""
        present = sorted(urls_present)
        gone = sorted(self.get_urls() - set(present))
        if not gone:
            return []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for url in gone:
                self._db.execute("DELETE FROM datasets WHERE url=?", (url,))
                self._db.execute("DELETE FROM failures WHERE url=?", (url,))
                # Its documents too, or the state grows with every dataset that
                # ever came and went; unless a listed dataset lives inside it.
                prefix = url.rstrip("/") + "/"
                i = bisect.bisect_left(present, prefix)
                if i == len(present) or not present[i].startswith(prefix):
                    # Every string that starts with "…/" sorts in ["…/", "…0"): "0" follows "/".
                    bounds = (prefix, prefix[:-1] + "0")
                    self._db.execute("DELETE FROM validators WHERE url >= ? AND url < ?", bounds)
                    self._db.execute("DELETE FROM absent WHERE url >= ? AND url < ?", bounds)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return gone

    # -- failure history -----------------------------------------------------

    def record_failure(self, url: str, when: str, message: str) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("INSERT INTO failures (url, at, message) VALUES (?, ?, ?)", (url, when, message))
            self._db.execute(
                "DELETE FROM failures WHERE url=? AND id NOT IN "
                "(SELECT id FROM failures WHERE url=? ORDER BY id DESC LIMIT ?)",
                (url, url, FAILURES_KEPT),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def get_failures(self, url: str) -> list[tuple[str, str]]:
        """(when, message) pairs, oldest first."""
        return [
            (r[0], r[1])
            for r in self._db.execute("SELECT at, message FROM failures WHERE url=? ORDER BY id", (url,))
        ]

    # -- thumbnails ----------------------------------------------------------

    def get_thumbnail_key(self, url: str) -> str | None:
        row = self._db.execute("SELECT thumbnail_key FROM datasets WHERE url=?", (url,)).fetchone()
        return row[0] if row else None

    # -- spec validation memo ------------------------------------------------------

    @property
    def spec_checks(self) -> SpecChecks:
        return SpecChecks(self._db)

    # -- ontology labels (--resolve-terms) -------------------------------------

    def get_term_label(self, term_id: str) -> str | None:
        row = self._db.execute("SELECT label FROM terms WHERE id=?", (term_id,)).fetchone()
        return row[0] if row else None

    def put_term_label(self, term_id: str, label: str) -> None:
        self._db.execute(
            "INSERT INTO terms (id, label, fetched_at) VALUES (?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET label=excluded.label, fetched_at=excluded.fetched_at",
            (term_id, label, _iso_now()),
        )


class SpecChecks:
    """Validation messages by document hash: a ``validate.SpecMemo`` in SQLite."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def get(self, key: str) -> list[str] | None:
        row = self._db.execute("SELECT messages FROM spec_checks WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def __setitem__(self, key: str, messages: list[str]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO spec_checks (key, messages) VALUES (?, ?)", (key, json.dumps(messages))
        )


