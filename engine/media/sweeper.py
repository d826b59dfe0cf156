"""Nothing stuck: every process with download workers frees, now and then, claims whose lease has run out.

The start-up reconciler frees what a dead process left; this frees what a live one left, itself included: an
attempt whose end could not be recorded (the database was locked, the disk full) keeps its row `processing`
and, with no task left in the queue, nothing would take it again before a restart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from engine.db.models import utcnow
from engine.db.session import Database
from engine.events import EventBus
from engine.media.holders import lease_has_run_out
from engine.media.state import MediaStates

log = logging.getLogger(__name__)
SWEEP_EVERY_S = 30.0


def free_expired_claims(db: Database, events: EventBus) -> list[int]:
    """Free (processing -> pending) every claim whose lease has run out; returns the media freed."""
    now = utcnow()
    states = MediaStates(db, events)
    return states.free(row for row in states.held() if lease_has_run_out(row.meta, now))


class LeaseSweeper:
    """Calls `sweep` at start and every `every_s` seconds on a thread of its own, until `stop()`."""

    def __init__(self, sweep: Callable[[], object], *, every_s: float = SWEEP_EVERY_S) -> None:
        self._sweep = sweep
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mediadesk-lease-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sweep()
            except Exception:  # the next sweep may well succeed (a locked database, say): log, carry on
                log.exception("freeing expired media claims failed; trying again in %.0f s", self._every_s)
            self._stop.wait(self._every_s)
