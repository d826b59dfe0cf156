"""Opening the database: one SQLAlchemy engine per data dir; what each database needs comes from its backend."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from engine.db.backend import Backend, backend_for
from engine.errors import DatabaseError


def make_engine(url: str, **kwargs: Any) -> Engine:
    """A SQLAlchemy engine set up by the URL's backend (SQLite: WAL, foreign keys, busy timeout)."""
    backend = backend_for(url)
    for key, value in backend.engine_options().items():
        kwargs.setdefault(key, value)
    try:
        engine = create_engine(backend.sqlalchemy_url, **kwargs)
    except ModuleNotFoundError as exc:
        raise DatabaseError(f"the database driver for {backend.display} is not installed: {exc}") from exc
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot open database {backend.display}: {exc}") from exc
    event.listen(engine, "connect", backend.on_connect)
    return engine


class Database:
    """The engine's handle on its database: an Engine plus a Session factory."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.backend: Backend = backend_for(url)
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        with self.sessions() as s:
            yield from _committed(s)

    @contextmanager
    def unsynced_session(self) -> Iterator[Session]:
        """A session whose commit need not survive a power cut by itself: a claim, say, that a lost commit would
        only leave to be taken again. SQLite does not sync it (the next synced commit carries it to the disk);
        a server commits as it always does."""
        with self.engine.connect() as conn, self.backend.commits_unsynced(conn), \
                Session(bind=conn, expire_on_commit=False) as s:
            yield from _committed(s)

    @contextmanager
    def durable_session(self) -> Iterator[Session]:
        """A session whose commit is durable when the block ends, synced after the database's write lock is let
        go: on SQLite the commit writes the WAL and the sync follows outside the lock, so another thread's
        write (a claim, the listener's batch) waits for the commit only, not for the disk as well."""
        with self.unsynced_session() as s:
            yield s
        self.backend.sync_committed()

    def dispose(self) -> None:
        self.engine.dispose()


def _committed(s: Session) -> Iterator[Session]:
    """Hand `s` out; commit when the caller's block ends, roll back when it raises."""
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise
