"""The build state's file: its SQL schema and version, and the errors that make it unusable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from generator.guarded_db import CORRUPT_SUFFIX

SCHEMA_VERSION = 1
DB_NAME = "state.sqlite"

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
    """The build state cannot be used: it is from a newer ngff-catalog, or its folder is not writable."""


def _set_aside_order(path: Path) -> tuple[str, int]:
    """Oldest first: ``state.sqlite.corrupt-<UTC stamp>[-<n>]``, n counting within one second."""
    stamp, _, n = path.name[len(DB_NAME) + len(CORRUPT_SUFFIX) :].partition("-")
    return stamp, int(n) if n.isdigit() else 1


def _connect_in_memory() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.executescript(_SCHEMA)
    db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    return db
