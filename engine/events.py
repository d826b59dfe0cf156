"""Engine events: what the console (or anyone) subscribes to. Callbacks run on the emitting thread.

Subscribers must be quick and thread-safe; the console's bridge only re-emits them as Qt signals.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaStatusChanged:
    media_id: int
    status: str
    error: str | None = None
    reason: str | None = None
    bytes_done: int | None = None  # progress while downloading a large file
    bytes_total: int | None = None


@dataclass(frozen=True)
class MessagesStored:
    messages: int
    statuses: int
    media_ids: tuple[int, ...]


@dataclass(frozen=True)
class HealthChanged:
    ok: bool
    report: Any  # engine.health.HealthReport


@dataclass(frozen=True)
class MaintenanceChanged:
    """The engine entered or left maintenance (schema) or a write refusal (disk full, database unavailable)."""

    state: Any  # engine.maintenance.MaintenanceState


Event = MediaStatusChanged | MessagesStored | HealthChanged | MaintenanceChanged


class EventBus:
    """Calls every subscriber with every event. `origin` names this bus to other processes: a relay leaves out
    what it sent itself. An event emitted `shared` is one other processes have already (it came from one, or
    went out with its transaction's commit): relays subscribed `unshared_only` do not send it again."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[Callable[[Event], None], bool]] = []
        self._lock = threading.Lock()
        # One per bus, not per process: two engines in one process (tests, a console attached beside a
        # listener) must each see the other's events.
        self.origin = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def subscribe(self, callback: Callable[[Event], None], *, unshared_only: bool = False) -> Callable[[], None]:
        """Call `callback(event)` for every event (`unshared_only`: not for shared ones); returns a function that
        unsubscribes."""
        entry = (callback, unshared_only)
        with self._lock:
            self._subscribers.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._subscribers:
                    self._subscribers.remove(entry)

        return unsubscribe

    def emit(self, event: Event, *, shared: bool = False) -> None:
        with self._lock:
            subscribers = [cb for cb, unshared_only in self._subscribers if not (shared and unshared_only)]
        for cb in subscribers:
            try:
                cb(event)
            except Exception:
                log.exception("an event subscriber failed on %s", type(event).__name__)
