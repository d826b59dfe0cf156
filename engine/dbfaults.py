"""Faults with a known cause: a full disk, a database that stays locked, a schema this version does not expect.

Each has a short reason key (what the console maps to words), plain words, and how long Meta should wait
before delivering again. Anything not recognised here is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator

from engine.errors import DatabaseError, TransientMediaError
from engine.media.reasons import FailureReason

DISK_FULL = FailureReason.DISK_FULL
DATABASE_UNAVAILABLE = FailureReason.DATABASE_UNAVAILABLE
SCHEMA = "schema"  # not a media's reason: the listener's and health's
STORAGE_UNAVAILABLE = FailureReason.STORAGE_UNAVAILABLE

WORDS = {
    DISK_FULL: "the disk is full",
    DATABASE_UNAVAILABLE: "the database is busy or unavailable",
    SCHEMA: "the database schema is not the revision this version needs",
    STORAGE_UNAVAILABLE: "the storage is unavailable",
}
# Seconds Meta is asked to wait (Retry-After); it redelivers on its own schedule, this is a hint.
RETRY_AFTER_S = {DISK_FULL: 30, DATABASE_UNAVAILABLE: 5, SCHEMA: 30, STORAGE_UNAVAILABLE: 30}

# Download reasons retried for as long as Meta keeps the file (7 days), not just len(retry_delays) times: they
# say nothing about the media, only about this machine, and they go away.
RETRY_UNTIL_GONE = frozenset({DISK_FULL, STORAGE_UNAVAILABLE, DATABASE_UNAVAILABLE})

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_SCHEMA_WORDS = ("no such column", "no such table", "has no column named")
# PostgreSQL's SQLSTATE codes: disk full; a table or column that is not there; connection lost, server shutting
# down or out of resources, a transaction to be tried again (serialization failure, deadlock).
_PG_DISK_FULL = "53100"
_PG_SCHEMA = ("42P01", "42703")
_PG_UNAVAILABLE = ("08", "57P", "53", "40")


class WriteRefused(DatabaseError):
    """The database would not take a write for a known reason; the data can be stored later."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(WORDS.get(reason, reason) + (f" ({detail})" if detail else ""))

    @property
    def retry_after(self) -> int:
        return RETRY_AFTER_S.get(self.reason, 30)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]


def classify(exc: BaseException) -> str | None:
    """The known reason behind `exc` (SQLAlchemy-wrapped, chained or raw), or None for anything else."""
    for e in _chain(exc):
        if isinstance(e, WriteRefused):
            return e.reason
        if isinstance(e, OSError) and e.errno in _NO_SPACE:
            return DISK_FULL
        if isinstance(e, sqlite3.Error):
            name = getattr(e, "sqlite_errorname", "") or ""
            text = str(e).lower()
            if name == "SQLITE_FULL" or "database or disk is full" in text:
                return DISK_FULL
            if any(w in text for w in _SCHEMA_WORDS):
                return SCHEMA
            if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_CANTOPEN",
                                "SQLITE_READONLY")) or "database is locked" in text or "disk i/o error" in text:
                return DATABASE_UNAVAILABLE
        if type(e).__module__.startswith("psycopg"):  # by name: no psycopg import where SQLite is all there is
            reason = _postgres_reason(e)
            if reason is not None:
                return reason
    return None


def _postgres_reason(e: BaseException) -> str | None:
    state = getattr(e, "sqlstate", None) or ""
    if state == _PG_DISK_FULL:
        return DISK_FULL
    if state in _PG_SCHEMA:
        return SCHEMA
    if state.startswith(_PG_UNAVAILABLE):
        return DATABASE_UNAVAILABLE
    # No SQLSTATE: the client's own (server not reachable, connection closed under it).
    if not state and any(c.__name__ == "OperationalError" for c in type(e).__mro__):
        return DATABASE_UNAVAILABLE
    return None


def short(exc: BaseException) -> str:
    """The innermost message of `exc`, one line, for a warning that needs no traceback."""
    last = exc
    for e in _chain(exc):
        if isinstance(e, (sqlite3.Error, OSError)):
            last = e
            break
    return " ".join(str(last).split())[:200]


def fault_delay(attempt: int) -> float:
    """Seconds before attempt `attempt` + 1 of a download that met a fault: soon at first, then at most 30 s."""
    return min(30.0, 2.0 * attempt)


def media_fault(exc: BaseException, *, storage: bool = False) -> TransientMediaError | None:
    """The download error for a known fault behind `exc`; with `storage`, any other storage failure (S3
    refusing or unreachable, say) is "storage unavailable"."""
    reason = classify(exc)
    if reason == DISK_FULL:
        return TransientMediaError(f"the disk is full: {short(exc)}", reason=DISK_FULL)
    if reason == DATABASE_UNAVAILABLE:
        return TransientMediaError(f"the database is busy or unavailable: {short(exc)}", reason=DATABASE_UNAVAILABLE)
    if storage:
        return TransientMediaError(f"the storage is unavailable: {exc}", reason=STORAGE_UNAVAILABLE)
    return None
