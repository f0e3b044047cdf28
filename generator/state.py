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
on, so a call from a worker thread fails loudly instead of racing.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import sqlite3
import time
import zlib
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from generator.records import Dataset
from generator.text import parse_stored_json

SCHEMA_VERSION = 1
DB_NAME = "state.sqlite"
THUMBNAILS = "thumbnails"
# Statuses whose record holds facts worth keeping when the host is down later.
GOOD_STATUSES = ("ok", "invalid")
LAST_OK_PREFIX = "last OK on "
FAILURES_KEPT = 50  # per URL: enough for a report, bounded for a years-old cache

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS validators (
    url           TEXT PRIMARY KEY,
    etag          TEXT,
    last_modified TEXT,
    body          BLOB NOT NULL          -- zlib-compressed
);
CREATE TABLE IF NOT EXISTS absent (
    url        TEXT PRIMARY KEY,         -- an optional document (RO-Crate) that was not found
    checked_at REAL NOT NULL             -- Unix time of that answer
);
CREATE TABLE IF NOT EXISTS datasets (
    url           TEXT PRIMARY KEY,
    record        TEXT NOT NULL,         -- Dataset.to_dict(internal=True) as JSON
    good          INTEGER NOT NULL,      -- record is the last ok/invalid harvest
    status        TEXT NOT NULL,         -- status at the last build
    first_seen    TEXT NOT NULL,
    last_ok       TEXT,
    last_seen     TEXT NOT NULL,
    thumbnail_key TEXT
);
CREATE TABLE IF NOT EXISTS failures (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    url     TEXT NOT NULL,
    at      TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS failures_url ON failures (url, id);
CREATE TABLE IF NOT EXISTS spec_checks (
    key      TEXT PRIMARY KEY,           -- sha256 of (spec model, document)
    messages TEXT NOT NULL               -- JSON list of validation messages
);
CREATE TABLE IF NOT EXISTS terms (
    id         TEXT PRIMARY KEY,
    label      TEXT NOT NULL,
    fetched_at TEXT NOT NULL
);
"""


class StateError(Exception):
    """The state file is from a newer ngff-catalog and must not be touched."""


def _iso_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def parse_timestamp(value: str) -> datetime:
    """ISO 8601 (``Z`` or offset, or a bare date) -> aware UTC datetime."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


class State:
    """The build cache. Implements the fetcher's ``ValidatorStore`` protocol."""

    def __init__(self, cache_dir: Path | str) -> None:
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.cache_dir / DB_NAME
        self.thumbnail_cache_dir = self.cache_dir / THUMBNAILS
        self.thumbnail_cache_dir.mkdir(exist_ok=True)
        self._db = self._open()

    # -- lifecycle -----------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as e:
            if "not a database" not in str(e) and "malformed" not in str(e):
                raise
            # A cache is rebuildable: keep the damaged file for inspection and
            # start afresh rather than refusing to build.
            aside = self.path.with_name(f"{DB_NAME}.corrupt-{int(time.time())}")
            self.path.rename(aside)
            for suffix in ("-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: autocommit, so each statement is committed
        # when it returns; multi-statement changes use explicit BEGIN/COMMIT.
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise StateError(
                    f"{self.path} has schema version {row[0]}, newer than this ngff-catalog ({SCHEMA_VERSION})"
                )
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        if self._db is not None:
            # Fold the WAL back into the main file so the cache dir that CI
            # saves is one self-contained file.
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._db.close()
                self._db = None  # type: ignore[assignment]

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])

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


def _without_last_ok(warnings: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(w for w in warnings if not w.startswith(LAST_OK_PREFIX))


def merge_with_history(
    current: Dataset, previous: Dataset | None, now: datetime, stale_days: int
) -> tuple[Dataset, bool]:
    """Combine tonight's harvest of a URL with what the state remembers.

    Returns (dataset, gone). The rules:

    - ok or invalid: the host answered. ``first_seen`` is kept from the
      previous record (else now) and ``last_ok`` becomes now: ``last_ok`` is
      the last time the dataset was *reached*, whether or not it validated,
      because both prove the URL serves that data.
    - unreachable (after the fetcher's retries) with a previous good record:
      the previous facts (array facts, metadata, thumbnail) come back with
      status ``stale``, tonight's errors, and a warning "last OK on
      YYYY-MM-DD"; the listing provenance (source, collection, listings) is
      tonight's, because the CSVs are read fresh every build. If ``last_ok``
      is more than ``stale_days`` ago, ``gone`` is True: the build moves it
      from the catalog to the report.
    - unreachable and never good before: unchanged (keeps its first_seen).
    """
    now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    now_iso = now.isoformat()
    first_seen = (previous.first_seen if previous else None) or current.first_seen or now_iso
    if current.status in GOOD_STATUSES:
        return dataclasses.replace(
            current,
            first_seen=first_seen,
            last_ok=now_iso,
            warnings=_without_last_ok(current.warnings),
        ), False

    last_ok = previous.last_ok if previous is not None else None
    if previous is None or not last_ok or previous.status not in (*GOOD_STATUSES, "stale"):
        return dataclasses.replace(current, first_seen=first_seen, last_ok=None), False

    when = parse_timestamp(last_ok)
    stale = dataclasses.replace(
        previous,
        url=current.url,
        source=current.source,
        collection=current.collection,
        listings=current.listings or previous.listings,
        status="stale",
        errors=current.errors,
        warnings=(*_without_last_ok(previous.warnings), f"{LAST_OK_PREFIX}{when.date().isoformat()}"),
        first_seen=first_seen,
        last_ok=last_ok,
    )
    return stale, now - when > timedelta(days=stale_days)
