"""The owner's Pause, shared by every process on the backend: one row in the `settings` table.

Queue > Pause in any console (or `pause_workers()` anywhere) writes the row; every engine polls it (`PauseWatcher`)
and holds its own workers while it says paused, so that `mediadesk worker`s on other machines stop taking
downloads within about a second. The row outlives restarts on purpose: a worker restarted during a pause must
not start downloading again. Kept apart from the engine's own short pauses (a restore, a schema in maintenance),
which stay in the process that needs them (`TaskQueue.pause`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from engine.db.claims import read_setting, write_setting
from engine.db.models import utcnow
from engine.db.session import Database
from engine.errors import DatabaseError

log = logging.getLogger(__name__)

KEY = "queue.paused"
POLL_S = 0.5  # well inside the second a pause should take to reach every worker


def read_paused(db: Database) -> bool:
    raw = read_setting(db, KEY)
    if not raw:
        return False
    try:
        return bool(json.loads(raw).get("paused"))
    except (ValueError, AttributeError):
        log.warning("the shared pause flag holds %r, not JSON: taken as not paused", raw[:80])
        return False


def write_paused(db: Database, paused: bool, *, by: str = "") -> None:
    write_setting(db, KEY, json.dumps({"paused": paused, "by": by, "at": utcnow().isoformat(timespec="seconds")}))


class PauseWatcher:
    """Calls `on_change(paused)` with the flag at start, then whenever it changes; polls every POLL_S.

    On a connection pool of its own: two reads a second must not queue behind (or count among) the engine's."""

    def __init__(self, url: str, on_change: Callable[[bool], None], *, every_s: float = POLL_S) -> None:
        self.db = Database(url)
        self.on_change = on_change
        self.every_s = every_s
        self._known: bool | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mediadesk-pause-watch", daemon=True)

    def start(self) -> PauseWatcher:
        self._thread.start()
        return self

    def poll(self) -> None:
        paused = read_paused(self.db)
        if paused != self._known:
            self._known = paused
            self.on_change(paused)

    def _run(self) -> None:
        while True:
            try:
                self.poll()
            except (SQLAlchemyError, DatabaseError) as exc:  # locked or unreachable: keep the last answer
                log.debug("could not read the shared pause flag: %s", exc)
            if self._stop.wait(self.every_s):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.db.dispose()
