"""`mediadesk events`: one line per media status change, from whichever process made it, until stopped."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from sqlalchemy import inspect, select
from sqlalchemy.exc import SQLAlchemyError

from engine.config import Config
from engine.db.models import ChatMedia
from engine.db.session import Database
from engine.errors import DatabaseError
from engine.events import Event, EventBus, MediaStatusChanged
from engine.relay import EventSubscriber, make_transport

READY_TIMEOUT_S = 15.0


class _GraphIds:
    """chat_media id -> Graph's media id, read once per media (it never changes)."""

    def __init__(self, db: Database, size: int = 100_000) -> None:
        self.db = db
        self.size = size
        self._known: OrderedDict[int, str | None] = OrderedDict()

    def __call__(self, media_id: int) -> str | None:
        if media_id in self._known:
            return self._known[media_id]
        try:
            with self.db.session() as s:
                wa = s.execute(select(ChatMedia.wa_media_id).where(ChatMedia.id == media_id)).scalar()
        except SQLAlchemyError:
            return None  # the line still says which media; the id comes with the next event
        self._known[media_id] = wa
        if len(self._known) > self.size:
            self._known.popitem(last=False)
        return wa


def format_event(event: MediaStatusChanged, wa_media_id: str | None, *, as_json: bool) -> str:
    at = datetime.now(UTC).isoformat(timespec="milliseconds")
    if as_json:
        return json.dumps({"at": at, "media_id": event.media_id, "wa_media_id": wa_media_id,
                           "status": str(event.status), "reason": event.reason, "error": event.error,
                           "bytes_done": event.bytes_done, "bytes_total": event.bytes_total},
                          separators=(",", ":"), ensure_ascii=False)
    why = f": {event.error}" if event.error else (f" ({event.reason})" if event.reason else "")
    progress = f" {event.bytes_done:,}/{event.bytes_total or 0:,} bytes" if event.bytes_done else ""
    return f"{at} media {event.media_id} [{wa_media_id or '-'}] {event.status}{progress}{why}"


def watch_events(cfg: Config, out: TextIO, *, as_json: bool, stop: threading.Event,
                 on_ready: Callable[[str], None] | None = None) -> None:
    """Print every media status change of every process sharing `cfg`'s backend until `stop` is set;
    `on_ready(backend)` once changes are being heard (what happened before is not told)."""
    db = Database(cfg.sqlalchemy_url)
    try:
        try:
            ready = db.backend.exists() and inspect(db.engine).has_table("chat_media")
        except SQLAlchemyError as exc:
            raise DatabaseError(db.backend.explain(exc)) from exc
        if not ready:
            raise DatabaseError(f"there is no MediaDesk database at {db.backend.display} yet: run `mediadesk migrate`")
        graph_ids = _GraphIds(db)
        lock = threading.Lock()

        def on_event(event: Event) -> None:
            if isinstance(event, MediaStatusChanged):
                line = format_event(event, graph_ids(event.media_id), as_json=as_json)
                with lock:
                    out.write(line + "\n")
                    out.flush()

        bus = EventBus()
        bus.subscribe(on_event)
        subscriber = EventSubscriber(bus, make_transport(cfg)).start()
        try:
            if not subscriber.ready.wait(READY_TIMEOUT_S) and not stop.is_set():
                raise DatabaseError("could not subscribe to the event stream within "
                                    f"{READY_TIMEOUT_S:.0f} s (see the log)")
            if on_ready is not None and not stop.is_set():
                on_ready(db.backend.display)
            stop.wait()
        finally:
            subscriber.stop()
    finally:
        db.dispose()
