"""A SQLite connection that survives damage: corruption found at open or mid-build is classified, and the build goes on."""

from __future__ import annotations

import sqlite3
import sys
from typing import Any, Callable, Literal

# Run at every open: it reads every page once (about a second per 100,000
# records, see the README) and stops at the first problem it finds.
QUICK_CHECK = "PRAGMA quick_check(1)"


CORRUPT_SUFFIX = ".corrupt-"  # state.sqlite.corrupt-<UTC time>: a damaged state, kept for inspection


# Damaged states kept: CI saves the cache folder, so a disk that keeps failing
# must not add a full-size copy every night.
CORRUPT_KEPT = 2


# SQLite primary result codes (https://sqlite.org/rescode.html).
_CORRUPT_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB: the file's content is bad


# The file may be fine but cannot be used now: PERM, BUSY, LOCKED, NOMEM,
# READONLY, IOERR, FULL, CANTOPEN.
_UNUSABLE_CODES = frozenset({3, 5, 6, 7, 8, 10, 13, 14})


class _QuickCheckFailed(sqlite3.DatabaseError):
    """``PRAGMA quick_check`` found damage (it reports it as rows, not as an error)."""


Damage = Literal["corrupt", "unusable"]


def parse_damage(error: sqlite3.DatabaseError) -> Damage | None:
    """What a ``DatabaseError`` says about the state file; None for a programming error."""
    if isinstance(error, _QuickCheckFailed):
        return "corrupt"
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        primary = code & 0xFF  # extended codes keep the primary code in the low byte
        if primary in _CORRUPT_CODES:
            return "corrupt"
        return "unusable" if primary in _UNUSABLE_CODES else None
    # Raised by the sqlite3 module itself, without a code: garbled text in a row.
    text = str(error)
    if "malformed" in text or "not a database" in text or "Could not decode" in text:
        return "corrupt"
    return None


def _warn_on_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _close_quietly(db: sqlite3.Connection) -> None:
    try:
        db.close()
    except sqlite3.Error:
        pass  # a damaged file may fail even to close; nothing is left to save in it


class _Rows(list):  # type: ignore[type-arg]
    """A statement's rows, read in full (damage found while stepping is caught too)."""

    def fetchone(self) -> Any:
        return self[0] if self else None

    def fetchall(self) -> list[Any]:
        return list(self)


class _GuardedConnection:
    """The state's connection: a damage found mid-build replaces it instead of ending the build.

    ``execute`` reads every row before it returns, because SQLite finds a
    damaged page only when it steps onto it. On a damage ``recover`` hands
    back the connection to go on with, and the statement runs again there.
    """

    def __init__(
        self,
        db: sqlite3.Connection,
        recover: Callable[[sqlite3.Connection, sqlite3.DatabaseError], sqlite3.Connection],
    ) -> None:
        self.db = db
        self._recover = recover

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> _Rows:
        if sql in ("COMMIT", "ROLLBACK") and not self.db.in_transaction:
            # The state pairs every BEGIN with one of these, so no open
            # transaction means its BEGIN ran on a connection since replaced.
            return _Rows()
        try:
            return _Rows(self.db.execute(sql, params).fetchall())
        except sqlite3.DatabaseError as e:
            if parse_damage(e) is None:
                raise
            self.db = self._recover(self.db, e)
        return _Rows(self.db.execute(sql, params).fetchall())

    def close(self) -> None:
        self.db.close()
