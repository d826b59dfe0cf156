"""A console attached to a shared backend (SPEC 11): it shows and steers what other processes receive and download.

Attached, the engine runs no listener and no download workers (unless asked), never reconciles or migrates the
shared database (that would flush or change what every other process works on), and instead listens:

- other processes' media status changes arrive through an `EventSubscriber` into the engine's own bus, so the
  console's bridge sees every process's changes as if they had happened here;
- messages stored by other listeners are noticed by a poll of the newest message id (`NewMessages`): the row is
  the message, whatever the transport, and a reader that missed a notification still catches up.

Retry, Retry all and Flush go through the shared queue as they do anywhere; Pause goes through the shared pause
flag (engine.shared_pause). `check_backend` tries a backend before it is saved, in one line a user can act on.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy import func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from engine.config import Config, url_password, url_with_password
from engine.db import migrate as migrations
from engine.db.backend import backend_for
from engine.db.models import Chat
from engine.db.session import Database
from engine.errors import ConfigError, DatabaseError, StorageError
from engine.events import EventBus, MessagesStored
from engine.relay import EventSubscriber, make_transport
from engine.settings_file import settings_path, write_settings_toml

if TYPE_CHECKING:
    from engine.runtime import MediaDeskEngine

log = logging.getLogger(__name__)

POLL_S = 0.5
READY_TIMEOUT_S = 10.0


class NewMessages:
    """Emits `MessagesStored` when the newest message id grows (messages another listener stored). On a
    connection of its own: the console's reads never wait behind it."""

    def __init__(self, url: str, bus: EventBus, *, every_s: float = POLL_S) -> None:
        self.db = Database(url)
        self.bus = bus
        self.every_s = every_s
        self._last: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mediadesk-new-messages", daemon=True)

    def start(self) -> NewMessages:
        self._last = self._newest()
        self._thread.start()
        return self

    def _newest(self) -> int:
        with self.db.session() as s:
            return s.execute(select(func.max(Chat.id))).scalar() or 0

    def poll(self) -> None:
        newest = self._newest()
        if self._last is not None and newest > self._last:
            self.bus.emit(MessagesStored(messages=newest - self._last, statuses=0, media_ids=()))
        self._last = newest if self._last is None else max(self._last, newest)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.poll()
            except (SQLAlchemyError, DatabaseError) as exc:  # the server restarted, say: ask again next time
                log.debug("could not look for new messages: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.db.dispose()


class Attachment:
    """What an attached engine runs besides the engine's own parts; `start` returns once events flow."""

    def __init__(self, cfg: Config, bus: EventBus) -> None:
        self.subscriber = EventSubscriber(bus, make_transport(cfg))
        self.messages = NewMessages(cfg.sqlalchemy_url, bus)

    def start(self) -> Attachment:
        self.subscriber.start()
        if not self.subscriber.ready.wait(READY_TIMEOUT_S):
            log.warning("the event stream from other processes is not ready after %.0f s; still trying",
                        READY_TIMEOUT_S)
        self.messages.start()
        return self

    def stop(self) -> None:
        self.messages.stop()
        self.subscriber.stop()


def attach(engine: MediaDeskEngine, *, workers: bool = False) -> Attachment:
    """Start `engine` as a console attached to its shared backend (see the module's docstring)."""
    engine.start(listener=False, workers=workers, reconcile=False)
    return Attachment(engine.cfg, engine.events).start()


def describe_backend(cfg: Config) -> str:
    """Which backend this is, for the status bar: "PostgreSQL db@host:5432 · queue in Redis host:6379 · S3 bucket"."""
    backend = backend_for(cfg.sqlalchemy_url)
    url = backend.url
    if backend.name == "postgresql":
        where = f"PostgreSQL {url.database}@{url.host or 'localhost'}:{url.port or 5432}"
    else:
        where = f"SQLite {url.database}"
    parts = [where]
    if cfg.redis_url:
        parts.append(f"queue in Redis {_redis_where(cfg.redis_url)}")
    parts.append(f"S3 {cfg.s3_bucket}" if cfg.storage == "s3" else "files on this computer")
    return " · ".join(parts)


# -- trying a backend before it is saved
def check_backend(cfg: Config) -> str:
    """Connect to `cfg`'s database, queue and storage as an attached console would; one line saying what works.

    Raises a MediaDeskError whose message says in one line what is wrong (from the backend's `explain()`)."""
    backend = backend_for(cfg.sqlalchemy_url)
    if not backend.exists():
        raise DatabaseError(f"there is no database at {backend.display}")
    db = Database(cfg.sqlalchemy_url)
    try:
        try:
            has_schema = inspect(db.engine).has_table("alembic_version")
            found = migrations.current_revision(cfg) if has_schema else None
        except SQLAlchemyError as exc:
            raise DatabaseError(backend.explain(exc)) from exc
    finally:
        db.dispose()
    needed = migrations.head_revision(cfg)
    if found is None:
        raise DatabaseError(f"{backend.display} has no MediaDesk tables yet: run `mediadesk migrate` against it first")
    if found != needed:
        raise DatabaseError(f"the shared database is at schema revision {found}, this MediaDesk needs {needed}: "
                            "run `mediadesk migrate` with the matching version first")
    queue = _check_queue(cfg)
    storage = _check_storage(cfg)
    return f"connected: {backend.name} database at revision {found}, {queue}, {storage}"


def _check_queue(cfg: Config) -> str:
    if cfg.redis_url:
        import redis

        r = _redis_where(cfg.redis_url)
        try:
            client = redis.Redis.from_url(cfg.redis_url, socket_connect_timeout=5, socket_timeout=5)
            try:
                client.ping()
            finally:
                client.close()
        except redis.AuthenticationError as exc:
            raise ConfigError(f"Redis at {r} refused the password") from exc
        except redis.RedisError as exc:
            raise ConfigError(f"cannot reach Redis at {r}: {' '.join(str(exc).split())[:200]}") from exc
        return f"queue in Redis at {r}"
    from engine.tasks import make_huey

    huey = make_huey(cfg)
    try:
        huey.pending_count()
    except Exception as exc:  # whichever driver the queue's storage uses: translated into one line here
        raise DatabaseError(f"the queue in the database cannot be read: "
                            f"{backend_for(cfg.sqlalchemy_url).explain(exc)}") from exc
    finally:
        close = getattr(huey.storage, "close", None)
        if close is not None:
            close()
    return "queue in the database"


def _redis_where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def _check_storage(cfg: Config) -> str:
    if cfg.storage != "s3":
        return "files on this computer"
    from engine.storage import make_storage

    try:
        storage = make_storage(cfg)
        storage.client.head_bucket(Bucket=cfg.s3_bucket)
    except StorageError:
        raise
    except Exception as exc:  # boto3's errors: one line, not a traceback
        raise StorageError(f"S3 bucket {cfg.s3_bucket} cannot be read: {' '.join(str(exc).split())[:200]}") from exc
    return f"files in S3 bucket {cfg.s3_bucket}"


# -- saving the choice
@dataclass(frozen=True)
class BackendChoice:
    """What the Settings dialog's backend group says: this computer, or a shared backend and how to reach it.

    Passwords may come inside the URLs or apart; empty ones keep what the keyring holds."""

    attached: bool
    database_url: str | None = None
    database_password: str | None = None
    redis_url: str | None = None  # None: the queue is in the database
    attached_workers: bool = False
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None

    @classmethod
    def from_config(cls, cfg: Config) -> BackendChoice:
        """What `cfg` says, without its passwords (they are never shown back)."""
        return cls(attached=cfg.attached, database_url=url_password(cfg.database_url)[0],
                   redis_url=url_password(cfg.redis_url)[0], attached_workers=cfg.attached_workers)

    def apply(self, cfg: Config) -> Config:
        """`cfg` with this choice; passwords go back into the URLs, which is what the running engine uses."""
        if not self.attached:
            if not cfg.attached:  # a database URL set by hand (`mediadesk serve` on PostgreSQL) stays
                return cfg.with_changes(attached_workers=False)
            # Back from a shared backend: this computer's own database and queue again.
            return cfg.with_changes(attached=False, attached_workers=False, database_url=None, redis_url=None,
                                    database_password=None, redis_password=None)
        db_url, in_url = url_password(self.database_url or None)
        db_pw = in_url or self.database_password or cfg.database_password
        redis_url, redis_pw = url_password(self.redis_url or None)
        redis_pw = redis_pw or (cfg.redis_password if redis_url else None)
        return cfg.with_changes(
            attached=True, attached_workers=self.attached_workers,
            database_url=url_with_password(db_url, db_pw), database_password=db_pw,
            redis_url=url_with_password(redis_url, redis_pw), redis_password=redis_pw,
            s3_access_key_id=self.s3_access_key_id or cfg.s3_access_key_id,
            s3_secret_access_key=self.s3_secret_access_key or cfg.s3_secret_access_key)


def save_backend(cfg: Config) -> None:
    """Write `cfg`'s backend choice to its settings file, passwords split off into the keyring / secrets file.

    "This computer" keeps a `database_url` set by hand (`mediadesk serve` on PostgreSQL, the environment); one
    left from a shared backend has been dropped by `BackendChoice.apply` and is removed from the file."""
    from engine.secrets import set_secret

    values: dict[str, object] = {"attached": cfg.attached or None, "attached_workers": cfg.attached_workers or None}
    if not cfg.attached:
        # Left a shared backend (BackendChoice.apply dropped its URLs): this computer's own database again.
        values.update({name: None for name in ("database_url", "redis_url") if getattr(cfg, name) is None})
    else:
        db_url, db_pw = url_password(cfg.database_url)
        redis_url, redis_pw = url_password(cfg.redis_url)
        values.update(database_url=db_url, redis_url=redis_url)
        for name, value in (("database_password", db_pw or cfg.database_password),
                            ("redis_password", redis_pw or cfg.redis_password)):
            set_secret(name, value or None, data_dir=cfg.data_dir)
    for name in ("s3_access_key_id", "s3_secret_access_key"):
        value = getattr(cfg, name)
        if value:
            set_secret(name, value, data_dir=cfg.data_dir)
    try:
        write_settings_toml(settings_path(cfg), values)
    except OSError as exc:
        raise ConfigError(f"could not save the backend settings to {settings_path(cfg)}: {exc}") from exc


__all__ = ["Attachment", "BackendChoice", "NewMessages", "attach", "check_backend",
           "describe_backend", "save_backend"]
