"""Opening the database: one SQLAlchemy engine per data dir, SQLite tuned for a desktop writer."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from engine.errors import DatabaseError

BUSY_TIMEOUT_MS = 15_000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the console read while the listener and workers write. FULL syncs the WAL at every commit:
    # a 200 to Meta and a media row saying `completed` must survive a power cut, not only a kill -9 (NORMAL
    # syncs at checkpoints only). Group commit keeps it one sync per batch of webhooks.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """A SQLAlchemy engine; SQLite connections get WAL, foreign keys and a busy timeout."""
    is_sqlite = url.startswith("sqlite")
    if is_sqlite:
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000})
    try:
        engine = create_engine(url, **kwargs)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot open database {url}: {exc}") from exc
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    """The engine's handle on its database: an Engine plus a Session factory."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        with self.sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


class WalSync:
    """fdatasync of an SQLite database's WAL file through a descriptor of our own.

    For a connection that commits with synchronous=NORMAL (SQLite writes the frames, does not sync them): after
    `sync()` returns, every transaction committed before it was called is on stable storage. Linux syncs an
    inode whichever descriptor asks, so this can run on another thread while the connection goes on writing.
    The descriptor is kept (a stat per sync costs the syncing thread one more wait for the GIL): SQLite removes
    the WAL only when the last connection closes, and the owner calls `close()` whenever it closes its own.
    """

    def __init__(self, db_path: Path) -> None:
        self.path = Path(str(db_path) + "-wal")
        self._fd: int | None = None
        self._lock = threading.Lock()

    def sync(self) -> None:
        with self._lock:
            if self._fd is None:
                try:
                    self._fd = os.open(self.path, os.O_RDONLY)  # a sync needs no write access
                except FileNotFoundError:
                    return  # no WAL: SQLite checkpointed it into the database, with a sync, and removed it
            os.fdatasync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
