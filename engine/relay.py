"""Engine events across processes: a media status change in any process reaches every other one within 1 s.

An `EventPublisher` sends this process's `MediaStatusChanged` events out; an `EventSubscriber` feeds the other
processes' events into a local `EventBus`, so that a reader (`mediadesk events`, a console attached to a shared
backend) subscribes to one bus whatever process did the work. The transport follows the database, whatever the
queue, because only the database can send an event with the change that makes it true:

- PostgreSQL: LISTEN/NOTIFY on one channel (`PostgresNotify`). A status change's NOTIFY is part of its own
  transaction (`Backend.notify_with_commit`), delivered when it commits: a worker killed with -9 right after
  its commit has still told everyone. The publisher sends only what no transaction carries (download progress,
  media created failed, a file found bad), after the fact.
- SQLite: every process is on this machine and writes one file; readers poll `chat_media.updated_at`
  (`ChangePoll`). Nothing is published: the row is the message.

Redis, where it is the queue, carries no events: a publish after the commit is lost when the process dies
between the two, and the database is there anyway.

A reader that was not listening misses what happened meanwhile; the database row stays the truth, and a reader
that needs the state reads it.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from engine.config import Config
from engine.events import Event, EventBus, MediaStatusChanged

if TYPE_CHECKING:
    from engine.db.backend import SqliteBackend

log = logging.getLogger(__name__)

CHANNEL = "mediadesk_events"
POLL_S = 0.25  # SQLite change poll: well inside the 1 s promise
RECONNECT_S = 1.0
MAX_ERROR_CHARS = 1000  # a NOTIFY payload must stay under 8000 bytes

Deliver = Callable[[dict[str, Any]], None]


def encode(event: MediaStatusChanged, origin: str = "") -> str:
    error = event.error[:MAX_ERROR_CHARS] if event.error else event.error
    return json.dumps({"origin": origin, "media_id": event.media_id, "status": str(event.status), "error": error,
                       "reason": event.reason, "bytes_done": event.bytes_done, "bytes_total": event.bytes_total},
                      separators=(",", ":"))


def decode(data: dict[str, Any]) -> MediaStatusChanged:
    return MediaStatusChanged(int(data["media_id"]), str(data["status"]), error=data.get("error"),
                              reason=data.get("reason"), bytes_done=data.get("bytes_done"),
                              bytes_total=data.get("bytes_total"))


class Transport:
    """How events travel: `publish` from this process, `listen` for every process's (blocking, until `stop`)."""

    publishes = True

    def publish(self, payloads: list[str]) -> None:
        raise NotImplementedError

    def listen(self, deliver: Deliver, stop: threading.Event, ready: threading.Event) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class PostgresNotify(Transport):
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: Any = None

    def _connect(self) -> Any:
        import psycopg

        from engine.db.backend import CONNECT_TIMEOUT_S

        return psycopg.connect(self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)

    def publish(self, payloads: list[str]) -> None:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = self._connect()
        with self._conn.cursor() as cur:
            for p in payloads:
                cur.execute("select pg_notify(%s, %s)", (CHANNEL, p))

    def listen(self, deliver: Deliver, stop: threading.Event, ready: threading.Event) -> None:
        conn = self._connect()
        try:
            conn.execute(f'listen "{CHANNEL}"')
            ready.set()
            while not stop.is_set():
                for note in conn.notifies(timeout=0.5):
                    deliver(json.loads(note.payload))
                    if stop.is_set():
                        break
        finally:
            conn.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class ChangePoll(Transport):
    """Status changes read from `chat_media` by `updated_at`; rows written up to LAG late still count (a writer
    stamps the row before it commits)."""

    publishes = False
    LAG = timedelta(seconds=2)
    REMEMBER = 200_000  # media whose last status is kept, to tell a status change from another update

    def __init__(self, backend: SqliteBackend) -> None:
        self.backend = backend

    def publish(self, payloads: list[str]) -> None:
        pass  # the row is the message

    def listen(self, deliver: Deliver, stop: threading.Event, ready: threading.Event) -> None:
        from sqlalchemy import func, select

        from engine.db.models import ChatMedia
        from engine.db.session import Database

        db = Database(self.backend.sqlalchemy_url)
        known: OrderedDict[int, str] = OrderedDict()
        try:
            with db.session() as s:
                mark = started = s.execute(select(func.max(ChatMedia.updated_at))).scalar()
            ready.set()
            columns = (ChatMedia.id, ChatMedia.processing_status, ChatMedia.meta, ChatMedia.updated_at)
            while not stop.wait(POLL_S):
                with db.session() as s:
                    q = select(*columns).order_by(ChatMedia.updated_at, ChatMedia.id)
                    if mark is not None:
                        q = q.where(ChatMedia.updated_at >= mark - self.LAG)
                    rows = s.execute(q).all()
                for mid, status, meta, updated in rows:
                    # Rows already there when we started are news only from their next change on.
                    if known.get(mid) == str(status) or (started is not None and updated <= started
                                                         and mid not in known):
                        known[mid] = str(status)
                        continue
                    known[mid] = str(status)
                    known.move_to_end(mid)
                    if len(known) > self.REMEMBER:
                        known.popitem(last=False)
                    meta = meta or {}
                    deliver({"origin": "", "media_id": mid, "status": str(status), "error": meta.get("error"),
                             "reason": meta.get("reason")})
                if rows:
                    mark = max(mark, rows[-1][3]) if mark is not None else rows[-1][3]
        finally:
            db.dispose()


def make_transport(cfg: Config) -> Transport:
    """Events travel the database's own way (see the module's docstring)."""
    from engine.db.backend import backend_for

    return backend_for(cfg.sqlalchemy_url).event_transport(cfg)


class EventPublisher:
    """Sends this process's media status changes that no transaction carried (emitted unshared) to the transport
    from a thread of its own, so that neither a worker nor the listener's event loop waits on the network for it."""

    def __init__(self, bus: EventBus, transport: Transport) -> None:
        self.bus = bus
        self.transport = transport
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=100_000)
        self._thread = threading.Thread(target=self._run, name="mediadesk-events-out", daemon=True)
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> EventPublisher:
        if self.transport.publishes:
            self._unsubscribe = self.bus.subscribe(self._on_event, unshared_only=True)
            self._thread.start()
        return self

    def _on_event(self, event: Event) -> None:
        if isinstance(event, MediaStatusChanged):
            try:
                self._queue.put_nowait(encode(event, self.bus.origin))
            except queue.Full:
                log.warning("event relay is behind: dropped a status event of media %s", event.media_id)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < 500:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._send(batch)
                    return
                batch.append(nxt)
            self._send(batch)

    def _send(self, batch: list[str]) -> None:
        for attempt in (1, 2):
            try:
                self.transport.publish(batch)
                return
            except Exception as exc:  # the server went away: one reconnect, then the events are let go
                if attempt == 2:
                    log.warning("could not relay %d status events to other processes: %s", len(batch), exc)
                self.transport.close()

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
            self._queue.put(None)
            self._thread.join(timeout=5)
        self.transport.close()


class EventSubscriber:
    """Feeds every other process's media status changes into `bus`, as if they had happened here."""

    def __init__(self, bus: EventBus, transport: Transport) -> None:
        self.bus = bus
        self.transport = transport
        self._stop = threading.Event()
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mediadesk-events-in", daemon=True)

    def start(self) -> EventSubscriber:
        self._thread.start()
        return self

    def _deliver(self, data: dict[str, Any]) -> None:
        if data.get("origin") == self.bus.origin:
            return  # our own, already emitted here
        try:
            event = decode(data)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("ignored a malformed event from another process: %s", exc)
            return
        self.bus.emit(event, shared=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.transport.listen(self._deliver, self._stop, self.ready)
            except Exception as exc:  # the server restarted, say: listen again
                log.warning("lost the event stream from other processes (%s); reconnecting", exc)
                self._stop.wait(RECONNECT_S)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
