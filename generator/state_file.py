"""The build state's SQLite file: opened, checked, set aside when damaged, closed.

Damage: a cache is rebuildable, so a damaged state never stops a build.
Opening runs ``PRAGMA quick_check``; a file that fails it is moved aside (the
warning names where) and the build goes on as a cold build. Damage that
quick_check cannot see (an index that disagrees with its table) or that
happens later shows up as a ``DatabaseError`` deep in the build: the
connection then does the same mid-build (moves the file aside, goes on with a
fresh one), or, when the disk itself fails (I/O error, disk full, read-only),
keeps the rest of the build's state in memory and leaves the file alone.
What cannot be fixed by starting afresh (a newer schema, a cache path that is
not a writable folder) is a :class:`StateError`, which the CLI turns into a
message and exit status 2.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Self

from generator.guarded_db import (
    CORRUPT_KEPT,
    CORRUPT_SUFFIX,
    QUICK_CHECK,
    _close_quietly,
    _GuardedConnection,
    _QuickCheckFailed,
    _warn_on_stderr,
    parse_damage,
)
from generator.state_schema import (
    _SCHEMA,
    DB_NAME,
    SCHEMA_VERSION,
    StateError,
    _connect_in_memory,
    _set_aside_order,
)

THUMBNAILS = "thumbnails"


class StateFile:
    """The connection to ``<cache_dir>/state.sqlite``, and the thumbnail folder beside it."""

    def __init__(self, cache_dir: Path | str, *, warn: Callable[[str], None] = _warn_on_stderr) -> None:
        """Open (or create) the state in ``cache_dir``; ``warn`` receives the damage messages."""
        self.cache_dir = Path(cache_dir)
        self.path = self.cache_dir / DB_NAME
        self.thumbnail_cache_dir = self.cache_dir / THUMBNAILS
        self._warn = warn
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            self.thumbnail_cache_dir.mkdir(exist_ok=True)
        except OSError as e:
            raise StateError(
                f"the build cache {self.cache_dir} is not a writable folder ({e.strerror or e}); "
                "give another --cache folder, or --no-cache"
            ) from e
        self._db = _GuardedConnection(self._open(), self._replace_damaged)

    # -- lifecycle -----------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as e:
            damage = parse_damage(e)
            if damage is None:
                raise
            if damage == "unusable":
                raise StateError(
                    f"cannot open the build state {self.path} ({e}); give another --cache folder, or --no-cache"
                ) from e
            # A cache is rebuildable: keep the damaged file for inspection and
            # start afresh rather than refusing to build.
            aside = self._set_aside()
            self._warn(
                f"ngff-catalog: warning: the build state {self.path} is damaged ({e}); "
                f"moved it to {aside}; this build runs as a cold build"
            )
            return self._connect()

    def _set_aside(self) -> Path:
        """Move the damaged file (and its WAL, which belongs to it) aside; returns the new name."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{DB_NAME}{CORRUPT_SUFFIX}{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = self.path.with_name(f"{DB_NAME}{CORRUPT_SUFFIX}{stamp}-{n}")
        self.path.rename(aside)
        wal = Path(f"{self.path}-wal")
        if wal.exists():
            wal.rename(f"{aside}-wal")  # SQLite opens <name>-wal with <name>
        Path(f"{self.path}-shm").unlink(missing_ok=True)  # an index of the WAL, rebuilt on open
        self._prune_set_aside()
        return aside

    def _prune_set_aside(self) -> None:
        aside = sorted(
            (p for p in self.cache_dir.glob(f"{DB_NAME}{CORRUPT_SUFFIX}*") if not p.name.endswith("-wal")),
            key=_set_aside_order,
        )
        for old in aside[:-CORRUPT_KEPT]:
            old.unlink(missing_ok=True)
            Path(f"{old}-wal").unlink(missing_ok=True)

    def _replace_damaged(self, db: sqlite3.Connection, error: sqlite3.DatabaseError) -> sqlite3.Connection:
        """The connection to finish the build with, after ``error`` was found mid-build."""
        _close_quietly(db)
        if parse_damage(error) == "corrupt":
            try:
                aside = self._set_aside()
                fresh = self._connect()
            except (OSError, sqlite3.Error, StateError) as again:
                error = sqlite3.DatabaseError(f"{error}; then {again}")
            else:
                self._warn(
                    f"ngff-catalog: warning: the build state {self.path} turned out damaged during the build "
                    f"({error}); moved it to {aside}; the rest of this build runs as a cold build"
                )
                return fresh
        self._warn(
            f"ngff-catalog: warning: the build state {self.path} failed during the build ({error}); "
            "the rest of this build keeps its state in memory and saves nothing"
        )
        return _connect_in_memory()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: autocommit, so each statement is committed
        # when it returns; multi-statement changes use explicit BEGIN/COMMIT.
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            problem = db.execute(QUICK_CHECK).fetchone()[0]
            if problem != "ok":
                raise _QuickCheckFailed(f"quick_check: {problem}")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise StateError(
                    f"the build state {self.path} has schema version {row[0]}, newer than this "
                    f"ngff-catalog ({SCHEMA_VERSION}); upgrade ngff-catalog, or give another --cache folder"
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])
