"""The one place that knows which database MediaDesk is on: SQLite (a file in the data dir) or PostgreSQL.

`backend_for(url)` picks a backend once from the URL; everything dialect-specific goes through it:

- connecting: SQLite's pragmas, PostgreSQL's driver (psycopg 3) and connect timeout;
- writing: insert-or-ignore (`insert(table).on_conflict_do_nothing()`), the ingest hot path's raw SQL;
- keeping up: SQLite's WAL checkpointer (none on PostgreSQL);
- backup and restore: SQLite's online backup API, or `pg_dump -Fc` / `pg_restore`;
- SQL expressions for metrics (seconds between two timestamps, a timestamp as text, its minute);
- the queue that lives beside the data (SqliteHuey in `queue.db`, PostgresHuey in the same database),
  a lease that lets exactly one process schedule periodic work, and how events cross processes;
- what a failure to connect means, in one line.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Float, String, cast, func
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.sql.elements import ColumnElement

from engine.db.loop_inserts import LoopInserts
from engine.db.loop_inserts import available as loop_inserts_available
from engine.errors import ConfigError, DatabaseError

if TYPE_CHECKING:
    from huey.api import Huey

    from engine.config import Config
    from engine.relay import Transport

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 15_000
CONNECT_TIMEOUT_S = 10

# Columns match the models; one INSERT per text message (see engine.ingest.store).
_CHAT_COLUMNS = "workspace_id, contact_id, wamid, direction, type, body, metadata, created_at, status"


class Lease:
    """Held by at most one process at a time; `held()` takes it when it is free. Released when the holder
    exits, however it exits (the operating system or the database server lets go of a dead process's lock)."""

    def held(self) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError


class Backend:
    """What differs between databases. One instance per database URL (`backend_for`)."""

    name = "?"
    # Whether a write is network round trips: then the listener stores on a writer thread of its own, never on
    # its event loop, and the hot path's text messages go out as one multi-row INSERT per batch.
    store_off_loop = False
    # Whether a media status change's event goes to other processes with its own commit (`notify_with_commit`);
    # else other processes learn of it their own way (SQLite: the row is the message).
    events_go_with_commit = False

    def __init__(self, url: URL) -> None:
        self.url = url

    @property
    def sqlalchemy_url(self) -> str:
        return self.url.render_as_string(hide_password=False)

    @property
    def display(self) -> str:
        return self.url.render_as_string(hide_password=True)

    # -- connecting
    def engine_options(self) -> dict[str, Any]:
        return {}

    def on_connect(self, dbapi_conn: Any, _record: Any) -> None:
        """Run on every new DBAPI connection."""

    def exists(self) -> bool:
        """False when there is plainly no database yet (no file); a server is asked only by connecting."""
        return True

    def explain(self, exc: BaseException) -> str:
        return " ".join(str(getattr(exc, "orig", None) or exc).split())

    # -- writing
    def insert(self, table: Any) -> Any:
        """An INSERT that supports `.on_conflict_do_nothing()` on this dialect."""
        raise NotImplementedError

    def marks(self, count: int) -> list[str]:
        """`count` parameter markers for a statement of the hot path, as its DBAPI cursor (`cursor`) takes them."""
        return ["?"] * count

    def cursor(self, driver_connection: Any) -> Any:
        """The DBAPI cursor of the hot path on a raw driver connection."""
        return driver_connection.cursor()

    def loop_inserts(self) -> LoopInserts | None:
        """Where `store_off_loop`: a connection for text-only batches on the listener's event loop (None: every
        batch goes to the writer thread)."""
        return None

    @functools.cached_property
    def insert_chat_sql(self) -> str:
        marks = ", ".join(self.marks(9))
        return f"INSERT INTO chats ({_CHAT_COLUMNS}) VALUES ({marks}) ON CONFLICT (wamid) DO NOTHING"

    @functools.cached_property
    def insert_chat_returning_sql(self) -> str:
        return self.insert_chat_sql + " RETURNING id"

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one backend per URL, for the process's life
    def insert_chats_sql(self, rows: int) -> str:
        """`rows` text messages in one INSERT; returns the wamids it stored (the others were there already)."""
        marks = self.marks(9 * rows)
        values = ", ".join("(" + ", ".join(marks[i:i + 9]) + ")" for i in range(0, len(marks), 9))
        return f"INSERT INTO chats ({_CHAT_COLUMNS}) VALUES {values} ON CONFLICT (wamid) DO NOTHING RETURNING wamid"

    def sql_time(self, dt: datetime) -> Any:
        """A datetime as the raw DBAPI cursor should bind it."""
        return dt

    def one_statement(self, conn: Connection) -> contextlib.AbstractContextManager[Any]:
        """A DBAPI cursor on `conn` (in no transaction) whose statement is a transaction of its own, durable
        when it returns. Only where `store_off_loop` (a server): a file database's commit is no round trip."""
        raise NotImplementedError

    def prepare_writer(self, conn: Connection) -> Any | None:
        """Set up the ingest connection; returns background maintenance to `stop()` with it, or None."""
        return None

    @contextlib.contextmanager
    def commits_unsynced(self, conn: Connection) -> Iterator[None]:
        """While inside, `conn`'s commits need not be synced on their own (see Database.unsynced_session)."""
        yield

    def sync_committed(self) -> None:
        """Make every commit made so far with `commits_unsynced` durable (where commits are durable by
        themselves, nothing to do)."""

    def wal_sync(self) -> Any | None:
        """What makes the ingest connection's commits durable when it commits without syncing (its `sync()`
        and `close()`), or None where each commit is durable by itself (PostgreSQL's synchronous_commit=on)."""
        return None

    # -- backup and restore
    def backup(self, backups_dir: Path, *, label: str = "manual") -> Path:
        raise NotImplementedError

    def restore(self, backup: Path, backups_dir: Path) -> Path | None:
        raise NotImplementedError

    def list_backups(self, backups_dir: Path) -> list[Path]:
        """Backups, newest first."""
        if not backups_dir.is_dir():
            return []
        return sorted(backups_dir.glob(f"mediadesk-*{self.backup_suffix}"), reverse=True)

    backup_suffix = ".db"

    def _backup_target(self, backups_dir: Path, label: str) -> Path:
        backups_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        return backups_dir / f"mediadesk-{stamp}-{label}{self.backup_suffix}"

    # -- migrations (Alembic's env.py)
    def before_migrations(self, conn: Connection) -> None:
        pass

    def after_migrations(self, conn: Connection) -> None:
        pass

    # -- SQL expressions
    def seconds_between(self, start: Any, end: Any) -> ColumnElement[float]:
        raise NotImplementedError

    def json_with(self, column: Any, key: str, value: Any) -> ColumnElement[Any]:
        """`column` (a JSON object, or NULL) with `key` set to `value`, in SQL: one key written without reading
        the row first, so a concurrent update of another key is not lost."""
        raise NotImplementedError

    def timestamp_text(self, column: Any) -> ColumnElement[str]:
        """'YYYY-MM-DD HH:MM:SS.ffffff', as SQLAlchemy writes datetimes into SQLite."""
        raise NotImplementedError

    def minute_text(self, column: Any) -> ColumnElement[str]:
        """'YYYY-MM-DDTHH:MM:00': the minute a timestamp falls in."""
        raise NotImplementedError

    # -- beside the data: queue, lease, events
    def make_huey(self, cfg: Config, name: str) -> Huey:
        raise NotImplementedError

    def lease(self, name: str) -> Lease:
        raise NotImplementedError

    @contextlib.contextmanager
    def exclusive(self, name: str, *, timeout: float = 300.0) -> Iterator[None]:
        """Run the block in one process at a time (processes starting together all migrate, say)."""
        lease = self.lease(name)
        deadline = time.monotonic() + timeout
        while not lease.held():
            if time.monotonic() > deadline:
                raise DatabaseError(f"another MediaDesk process has held the {name} lock for {timeout:.0f} s")
            time.sleep(0.2)
        try:
            yield
        finally:
            lease.release()

    def watch_queue(self, huey: Huey, wake: Callable[[], None]) -> _QueueWakeups | None:
        """Call `wake()` whenever any process enqueues a task (None: in-process wake-ups are all there is)."""
        return None

    def event_transport(self, cfg: Config) -> Transport:
        raise NotImplementedError

    def notify_with_commit(self, conn: Connection, payloads: list[str]) -> None:
        """Where `events_go_with_commit`: hand events (`engine.relay.encode`d) to other processes inside the
        transaction that makes them true, to go out when it commits and never if it rolls back."""
        raise NotImplementedError


# -- SQLite ---------------------------------------------------------------------------------------------

class _FileLease(Lease):
    """An exclusive lock on a file beside the database: every process sharing an SQLite file is on this machine."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: Any = None
        self._lock = threading.Lock()

    def held(self) -> bool:
        with self._lock:
            if self._fh is not None:
                return True
            try:
                import fcntl
            except ImportError:  # Windows: one desktop engine per data folder, which is the holder
                return True
            try:
                fh = open(self.path, "a+b")  # noqa: SIM115 - kept open while the lease is held
            except OSError as exc:  # no such folder, no permission: waiting will not help
                if not self.path.parent.is_dir():
                    raise DatabaseError(f"the database's folder {self.path.parent} does not exist") from exc
                raise DatabaseError(f"cannot create the lock file {self.path}: {exc.strerror or exc}") from exc
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                return False
            self._fh = fh
            return True

    def release(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()  # closing drops the flock
                self._fh = None


class _OwnLease(Lease):
    def held(self) -> bool:
        return True

    def release(self) -> None:
        pass


class SqliteBackend(Backend):
    name = "sqlite"

    @property
    def path(self) -> Path | None:
        db = self.url.database
        return Path(db) if db and db != ":memory:" else None

    def engine_options(self) -> dict[str, Any]:
        return {"connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}}

    def on_connect(self, dbapi_conn: Any, _record: Any) -> None:
        # WAL lets the console read while the listener and workers write. FULL syncs the WAL at every commit:
        # a 200 to Meta and a media row saying `completed` must survive a power cut, not only a kill -9 (NORMAL
        # syncs at checkpoints only). The listener's own connection syncs per group commit instead (prepare_writer).
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    def exists(self) -> bool:
        return self.path is None or self.path.exists()

    def insert(self, table: Any) -> Any:
        from sqlalchemy.dialects.sqlite import insert

        return insert(table)

    def sql_time(self, dt: datetime) -> str:
        # SQLAlchemy's SQLite DateTime storage format, so that ORM reads parse it alike.
        return dt.isoformat(" ", "microseconds")

    def prepare_writer(self, conn: Connection) -> Any | None:
        if self.path is None:
            return None
        from engine.db.checkpoint import Checkpointer

        # A checkpoint (copying the WAL into the database, with an fsync) would otherwise run inside whichever
        # webhook batch crosses the threshold: the listener's worst latencies. A thread of ours does it.
        conn.connection.driver_connection.execute("PRAGMA wal_autocheckpoint=0")
        # Commits write the WAL without syncing it; the store's `wal_sync()` does, so that the listener can sync
        # one batch off its event loop while it builds the next (see engine.listener.writer).
        conn.connection.driver_connection.execute("PRAGMA synchronous=NORMAL")
        checkpointer = Checkpointer(self.path)
        checkpointer.start()
        return checkpointer

    @contextlib.contextmanager
    def commits_unsynced(self, conn: Connection) -> Iterator[None]:
        # NORMAL in WAL mode: committed, not synced; a later FULL commit's sync of the WAL covers it too.
        raw = conn.connection.driver_connection
        raw.execute("PRAGMA synchronous=NORMAL")
        try:
            yield
        finally:
            raw.execute("PRAGMA synchronous=FULL")

    def sync_committed(self) -> None:
        if self.path is None:
            return
        from engine.db.checkpoint import sync_wal_once

        sync_wal_once(self.path)

    def wal_sync(self) -> Any | None:
        if self.path is None:
            return None
        from engine.db.checkpoint import WalSync

        return WalSync(self.path)

    def backup(self, backups_dir: Path, *, label: str = "manual") -> Path:
        from engine.db.backup import backup_database

        return backup_database(self._file(), backups_dir, label=label)

    def restore(self, backup: Path, backups_dir: Path) -> Path | None:
        from engine.db.backup import restore_database

        return restore_database(Path(backup), self._file(), backups_dir)

    def _file(self) -> Path:
        if self.path is None:
            raise DatabaseError("an in-memory database has nothing to back up or restore")
        return self.path

    def before_migrations(self, conn: Connection) -> None:
        # Batch mode rebuilds a table (copy, DROP, rename). With foreign keys on, dropping `contacts` or
        # `chat_media` fires ON DELETE SET NULL / CASCADE on every chat and attempt pointing at it: data lost.
        # The pragma is ignored inside a transaction, so it is set (and committed) before Alembic begins one.
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()

    def after_migrations(self, conn: Connection) -> None:
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.commit()

    def seconds_between(self, start: Any, end: Any) -> ColumnElement[float]:
        return (func.julianday(end) - func.julianday(start)) * 86400.0

    def json_with(self, column: Any, key: str, value: Any) -> ColumnElement[Any]:
        return func.json_set(func.coalesce(column, "{}"), f"$.{key}", value)

    def timestamp_text(self, column: Any) -> ColumnElement[str]:
        from sqlalchemy import type_coerce

        return type_coerce(column, String)  # stored as that text already

    def minute_text(self, column: Any) -> ColumnElement[str]:
        return func.strftime("%Y-%m-%dT%H:%M:00", column)

    def make_huey(self, cfg: Config, name: str) -> Huey:
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        # Beside the database file: every process sharing the file (a console attached to it from another data
        # folder included) shares the queue. In the data dir by default, where the database is.
        queue = self.path.with_name(cfg.queue_path.name) if self.path is not None else cfg.queue_path
        return _sqlite_queue_class()(name, filename=str(queue), results=False, timeout=15)

    def lease(self, name: str) -> Lease:
        if self.path is None:
            return _OwnLease()  # an in-memory database has one process by definition
        return _FileLease(self.path.with_name(f"{self.path.name}.{name}.lock"))

    def event_transport(self, cfg: Config) -> Transport:
        from engine.relay import ChangePoll

        return ChangePoll(self)


# -- PostgreSQL -----------------------------------------------------------------------------------------

class _AdvisoryLease(Lease):
    """A PostgreSQL session advisory lock on a connection of its own: the server frees it when the holder's
    connection goes, a process killed with -9 included."""

    def __init__(self, dsn: str, key: int) -> None:
        self.dsn = dsn
        self.key = key
        self._conn: Any = None
        self._lock = threading.Lock()

    def held(self) -> bool:
        import psycopg

        with self._lock:
            try:
                if self._conn is not None:
                    self._conn.execute("select 1")  # still ours only while the session lives
                    return True
            except psycopg.Error:
                self._drop()
            try:
                conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
                got = conn.execute("select pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]
            except psycopg.Error as exc:
                log.debug("lease %s not taken: %s", self.key, exc)
                return False
            if got:
                self._conn = conn
                return True
            conn.close()
            return False

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception as exc:  # a broken connection: the server has let go already
                log.debug("closing the lease connection: %s", exc)
            self._conn = None

    def release(self) -> None:
        with self._lock:
            self._drop()


class _QueueWakeups:
    """LISTENs on PostgresHuey's channel so that idle workers wake when another process enqueues. The workers
    themselves dequeue without blocking: a worker blocked in LISTEN would take a task after a pause."""

    def __init__(self, dsn: str, channel: str, wake: Callable[[], None]) -> None:
        self.dsn = dsn
        self.channel = channel
        self.wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mediadesk-queue-wakeups", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
                    conn.execute('listen "{}"'.format(self.channel.replace('"', '""')))
                    while not self._stop.is_set():
                        if list(conn.notifies(timeout=0.5, stop_after=1)):
                            self.wake()
            except psycopg.Error as exc:  # the server restarted: workers still poll meanwhile
                log.debug("queue wake-ups interrupted: %s", exc)
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class PostgresBackend(Backend):
    name = "postgresql"
    store_off_loop = True
    events_go_with_commit = True
    backup_suffix = ".dump"

    @property
    def dsn(self) -> str:
        """The URL as libpq (psycopg, pg_dump) takes it."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def engine_options(self) -> dict[str, Any]:
        # A server that is down or unreachable must fail fast with one clear line, not hang.
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}, "pool_pre_ping": True}

    def explain(self, exc: BaseException) -> str:
        text = " ".join(str(getattr(exc, "orig", None) or exc).split())
        text = re.sub(r"\s*\(Background on this error at: \S+\)", "", text)
        where = f"{self.url.host or 'localhost'}:{self.url.port or 5432}"
        if "password authentication failed" in text or "no password supplied" in text:
            return f"PostgreSQL at {where} refused the password for user {self.url.username!r}"
        if re.search(r"role \"[^\"]+\" does not exist", text):
            return f"PostgreSQL at {where} has no user {self.url.username!r}"
        if re.search(r"database \"[^\"]+\" does not exist", text):
            return f"PostgreSQL at {where} has no database {self.url.database!r} (create it first)"
        if "Connection refused" in text:
            return f"cannot reach PostgreSQL at {where}: connection refused (is the server running?)"
        if "timeout expired" in text:
            return f"cannot reach PostgreSQL at {where}: no answer within {CONNECT_TIMEOUT_S} s"
        if "translate host name" in text or "Name or service not known" in text:
            return f"cannot reach PostgreSQL: unknown host {self.url.host!r}"
        if "could not connect" in text or "connection failed" in text:
            return f"cannot reach PostgreSQL at {where}: {text[:200]}"
        return f"PostgreSQL at {where}: {text[:300]}"

    def insert(self, table: Any) -> Any:
        from sqlalchemy.dialects.postgresql import insert

        return insert(table)

    def marks(self, count: int) -> list[str]:
        return [f"${i}" for i in range(1, count + 1)]

    def cursor(self, driver_connection: Any) -> Any:
        # PostgreSQL's own $n markers: psycopg sends the statement as it is. Its %s markers are rewritten on the
        # client at every execution, and a statement of over 50 parameters (a batch of 6 text messages) misses
        # psycopg's cache for that: measured, 300 us a batch of 8, two thirds of the writer's CPU per row.
        import psycopg

        return psycopg.RawCursor(driver_connection)

    def loop_inserts(self) -> LoopInserts | None:
        return LoopInserts(self.dsn, CONNECT_TIMEOUT_S) if loop_inserts_available() else None

    @contextlib.contextmanager
    def one_statement(self, conn: Connection) -> Iterator[Any]:
        # Autocommit: one round trip (the statement, committed with synchronous_commit) instead of three
        # (BEGIN, the statement, COMMIT), each a wait on the server.
        driver = conn.connection.driver_connection
        driver.autocommit = True
        try:
            yield self.cursor(driver)
        finally:
            if not driver.closed:
                driver.autocommit = False

    def backup(self, backups_dir: Path, *, label: str = "manual") -> Path:
        tool = _pg_tool("pg_dump")
        target = self._backup_target(backups_dir, label)
        partial = target.with_name(target.name + ".partial")
        try:
            # The queue's tables are transport, not data: a restore must not bring back tasks long done.
            _run_tool([tool, "--format=custom", "--no-owner", "--exclude-table=huey_*", f"--file={partial}",
                       f"--dbname={self.dsn}"])
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        log.info("database backed up to %s", target)
        return target

    def restore(self, backup: Path, backups_dir: Path) -> Path | None:
        backup = Path(backup)
        if not backup.is_file():
            raise DatabaseError(f"backup file not found: {backup}")
        tool = _pg_tool("pg_restore")
        _run_tool([tool, "--list", str(backup)])  # refuses a file that is not a pg_dump archive, touching nothing
        safety = self.backup(backups_dir, label="before-restore")
        _run_tool([tool, "--clean", "--if-exists", "--no-owner", "--single-transaction", f"--dbname={self.dsn}",
                   str(backup)])
        log.info("database restored from %s", backup)
        return safety

    def seconds_between(self, start: Any, end: Any) -> ColumnElement[float]:
        return cast(func.extract("epoch", end - start), Float)

    def json_with(self, column: Any, key: str, value: Any) -> ColumnElement[Any]:
        from sqlalchemy.dialects.postgresql import JSON, JSONB

        merged = func.coalesce(cast(column, JSONB), cast("{}", JSONB)).op("||")(func.jsonb_build_object(key, value))
        return cast(merged, JSON)

    def timestamp_text(self, column: Any) -> ColumnElement[str]:
        return func.to_char(column, 'YYYY-MM-DD HH24:MI:SS.US')

    def minute_text(self, column: Any) -> ColumnElement[str]:
        return func.to_char(column, 'YYYY-MM-DD"T"HH24:MI:00')

    def make_huey(self, cfg: Config, name: str) -> Huey:
        # Priorities are honoured (downloads before housekeeping), `FOR UPDATE SKIP LOCKED` hands each task to
        # exactly one worker of whichever process; `watch_queue` wakes idle workers on its NOTIFY.
        return _postgres_huey_class()(name, dsn=self.dsn, results=False, blocking=False,
                                      connect_timeout=CONNECT_TIMEOUT_S)

    def watch_queue(self, huey: Huey, wake: Callable[[], None]) -> _QueueWakeups | None:
        from huey.storage import PostgresStorage

        if not isinstance(huey.storage, PostgresStorage):
            return None  # the queue is in Redis: its workers block on it and wake by themselves
        return _QueueWakeups(self.dsn, huey.storage.channel, wake)

    def lease(self, name: str) -> Lease:
        # Advisory lock keys are 64-bit integers: a stable one from the name (Python's hash() is salted).
        import zlib

        return _AdvisoryLease(self.dsn, 0x4D44_0000_0000 + zlib.crc32(name.encode()))

    def event_transport(self, cfg: Config) -> Transport:
        from engine.relay import PostgresNotify

        return PostgresNotify(self.dsn)

    def notify_with_commit(self, conn: Connection, payloads: list[str]) -> None:
        # PostgreSQL queues a NOTIFY with the transaction and delivers it at commit: a process killed between
        # its commit and a send of its own would lose the event (seen in the scaleout scenario, 199/200).
        from engine.relay import CHANNEL

        if len(payloads) == 1:
            conn.exec_driver_sql("SELECT pg_notify(%s, %s)", (CHANNEL, payloads[0]))
        elif payloads:
            conn.exec_driver_sql("SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p", (CHANNEL, payloads))


_QUEUE_DDL_LOCK = 0x4D44_0000_0001


@functools.cache
def _postgres_huey_class() -> type[Huey]:
    from huey import PostgresHuey
    from huey.storage import PostgresStorage

    class _Storage(PostgresStorage):
        def initialize_schema(self) -> None:
            # Processes starting together each create the queue's tables; PostgreSQL's CREATE TABLE IF NOT EXISTS
            # is not safe against a concurrent one (a duplicate key in pg_type): one at a time.
            with self.db(commit=True, close=True) as curs:
                curs.execute("select pg_advisory_xact_lock(%s)", (_QUEUE_DDL_LOCK,))
                for sql in self.ddl:
                    curs.execute(sql)

    return type("MediaDeskPostgresHuey", (PostgresHuey,), {"storage_class": _Storage})


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        import glob

        for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
            if os.access(os.path.join(d, name), os.X_OK):
                return os.path.join(d, name)
        raise DatabaseError(f"{name} is not installed: install PostgreSQL's client tools to back up or restore "
                            "a PostgreSQL database")
    return found


def _run_tool(argv: list[str]) -> None:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DatabaseError(f"{Path(argv[0]).name} failed: {exc}") from exc
    if r.returncode != 0:
        lines = [x.strip() for x in (r.stderr or r.stdout).splitlines() if x.strip()]
        raise DatabaseError(f"{Path(argv[0]).name} failed: {lines[0] if lines else f'exit {r.returncode}'}")


# -- choosing one ------------------------------------------------------------------------------------------

def normalise_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3 (SQLAlchemy would otherwise look for psycopg2)."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


@functools.lru_cache(maxsize=32)
def backend_for(url: str) -> Backend:
    """The backend of a database URL (SQLite or PostgreSQL with psycopg 3); ConfigError for anything else."""
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError as exc:
        raise ConfigError(f"the database URL is not valid: {exc}") from None
    dialect = parsed.get_backend_name()
    if dialect == "sqlite":
        return SqliteBackend(parsed)
    if dialect == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise ConfigError(f"PostgreSQL goes through psycopg 3: write postgresql://... (not {parsed.drivername})")
        return PostgresBackend(parsed)
    raise ConfigError(f"MediaDesk runs on SQLite or PostgreSQL, not {dialect} ({parsed.drivername}://)")


@functools.cache
def _sqlite_queue_class() -> type:
    """SqliteHuey whose file runs with synchronous=NORMAL: still never corrupted by a power cut (WAL), but a task
    queued or taken just before one may be lost, and that is all right here: the media rows are the truth, and a
    pending row without its task is queued again (the reconciler at start, the guard's sweep). FULL would sync
    the file at every enqueue and every dequeue, twice per download for nothing."""
    from huey import SqliteHuey
    from huey.storage import SqliteStorage

    class QueueStorage(SqliteStorage):
        def _create_connection(self) -> Any:
            conn = super()._create_connection()
            conn.execute("pragma synchronous=1")
            return conn

    return type("SqliteQueue", (SqliteHuey,), {"storage_class": QueueStorage})
