"""The engine's guard against faults with a known cause: a schema it does not expect, a database that refuses
writes (disk full, locked past its busy timeout), work whose task was lost to one of those.

- **Schema.** Once a second (and at once after a write failed on a missing column) it reads the database's
  revision. Not the one this version needs (a `mediadesk rollback` from another process, a newer database):
  maintenance. The listener answers 503 with Retry-After, the workers pause, /healthz and the health check name
  both revisions. Back at the needed revision (`mediadesk migrate`, from anywhere): everything resumes.
- **Writes refused.** The listener reports each refusal here; /healthz is not ok from the first one until a write
  succeeds again, no sooner than HOLD_S after the last refusal (a full disk lets a small write through now and
  then: one success must not make /healthz say ok while webhooks are still refused). While refused, a probe write
  each second finds out when the cause has gone even if no webhook comes.
- **Lost work.** A download attempt cut short by one of these leaves its row `processing`, a retry that could not
  be put in the queue (its SQLite file is on the same full disk) leaves a pending row without a task. The sweep
  gives the first back to pending and enqueues it, and enqueues pending rows that are due while the queue is
  empty; a second task for a row is harmless (a claim takes a row once), so a guess too many costs nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine.config import Config
from engine.db import migrate as migrations
from engine.db.models import ChatMedia, MediaStatus, utcnow
from engine.db.session import Database
from engine.db.settings_rows import put_setting
from engine.dbfaults import SCHEMA, WORDS, WriteRefused, classify, short
from engine.diskspace import disk_findings
from engine.events import EventBus, MaintenanceChanged
from engine.health import Finding
from engine.media.state import MediaStates

if TYPE_CHECKING:
    from engine.ingest import WebhookStore
    from engine.tasks import TaskQueue

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0
HOLD_S = 5.0  # /healthz stays "not ok" this long after the last refused write
SWEEP_EVERY_S = 5.0
SWEEP_GRACE = timedelta(seconds=10)  # a due row's own task gets this long to be picked up first
SWEEP_AGAIN_S = 60.0  # the same row is not swept twice within this
SWEEP_LIMIT = 500
PROBE_KEY = "health.write_probe"


@dataclass(frozen=True)
class MaintenanceState:
    """What the engine can and cannot do right now, for /healthz, the health check and the console's banner.

    `ok` is False while webhooks are refused. `reason`: "schema" (maintenance: the database is not at
    `needed_revision`), "disk_full" or "database_unavailable" (writes refused), None when ok.
    """

    ok: bool
    reason: str | None
    detail: str
    found_revision: str | None
    needed_revision: str | None
    since: str | None = None
    newer: bool = False  # the database is at a revision this version does not know: a newer MediaDesk made it

    @property
    def maintenance(self) -> bool:
        return self.reason == SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "maintenance": self.maintenance}


def migrate_unless_newer(cfg: Config) -> migrations.MigrationResult:
    """Migrate at open as before, except a database newer than this version: it is left as it is (a migration
    would fail, a rollback would lose its data) and the guard keeps the engine in maintenance."""
    found = migrations.current_revision(cfg)
    if not migrations.known_revision(cfg, found):
        log.warning("the database is at revision %s, newer than this version knows (it needs %s): webhooks are "
                    "refused and downloads wait until a MediaDesk that knows it runs, or the database is "
                    "migrated", found, migrations.head_revision(cfg))
        return migrations.MigrationResult(found, found, None)
    return migrations.migrate(cfg)


class Guard:
    """See the module's docstring. Thread-safe; `refusing()` is called for every webhook and costs an attribute."""

    def __init__(self, cfg: Config, db: Database, store: WebhookStore, queue: TaskQueue, events: EventBus) -> None:
        self.cfg = cfg
        self.db = db
        self.store = store
        self.queue = queue
        self.events = events
        self.needed = migrations.head_revision(cfg)
        self.found: str | None = self.needed
        self._known: dict[str | None, bool] = {}  # revision -> whether this version knows it (read once each)
        self._schema_refusal: WriteRefused | None = None
        self._schema_since: str | None = None
        self._we_paused = False
        self._write_reason: str | None = None
        self._write_detail = ""
        self._write_since: str | None = None
        self._last_refused = 0.0
        self._orphans: set[int] = set()
        self._swept: dict[int, float] = {}
        self._next_sweep = 0.0
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle
    def start(self) -> None:
        self.check_schema()  # before the first webhook: a database already behind is refused from the start
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mediadesk-guard", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=10)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(CHECK_EVERY_S)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.tick()
            except Exception:  # the guard itself must keep running: a bug here is logged, then next second
                log.exception("the engine's fault guard failed")

    def tick(self) -> None:
        """One round: schema, write probe, sweep (every SWEEP_EVERY_S)."""
        self.check_schema()
        if self._write_reason is not None and time.monotonic() - self._last_refused >= HOLD_S:
            self._probe_write()
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_EVERY_S
            self.sweep()

    # -- the state
    @property
    def schema_ok(self) -> bool:
        return self._schema_refusal is None

    def refusing(self) -> WriteRefused | None:
        """Why every webhook is refused up front right now (maintenance), or None: try to store it."""
        return self._schema_refusal

    def state(self) -> MaintenanceState:
        with self._lock:
            if self._schema_refusal is not None:
                return MaintenanceState(False, SCHEMA, self._schema_words(), self.found, self.needed,
                                        self._schema_since, newer=self._found_is_newer())
            if self._write_reason is not None:
                words = f"the database refuses writes: {WORDS.get(self._write_reason, self._write_reason)}"
                detail = f"{words} ({self._write_detail}); webhooks are answered 503 and Meta delivers them again"
                return MaintenanceState(False, self._write_reason, detail, self.found, self.needed,
                                        self._write_since)
            return MaintenanceState(True, None, "ok", self.found, self.needed)

    def _found_is_newer(self) -> bool:
        found = self.found
        if found not in self._known:
            try:
                self._known[found] = migrations.known_revision(self.cfg, found)
            except Exception:  # the migration scripts cannot be read: say nothing more than the revisions
                self._known[found] = True
        return not self._known[found]

    def _schema_words(self) -> str:
        found = self.found or "none (no schema)"
        if self._found_is_newer():
            return (f"database schema is at revision {found}, made by a newer MediaDesk (this version needs "
                    f"revision {self.needed}): maintenance until that version runs or a backup from before it is "
                    "restored; webhooks are answered 503 and downloads are paused")
        return (f"database schema is at revision {found}, this version needs revision {self.needed}: "
                f"maintenance until the database is migrated (`mediadesk migrate`); webhooks are answered 503 "
                f"and downloads are paused")

    def summary(self) -> dict[str, Any]:
        """What /healthz adds: "status" is "ok", "maintenance" or "error" (writes refused)."""
        self.check_schema()  # one read: /healthz must not say ok in the second after a rollback
        st = self.state()
        status = "ok" if st.ok else "maintenance" if st.maintenance else "error"
        out: dict[str, Any] = {"status": status, "maintenance": st.to_dict(),
                               "schema": {"revision": self.found, "needed": self.needed,
                                          "ok": self.schema_ok}}
        if not st.ok:
            out["detail"] = st.detail
        out["disk"] = {f.name: {"level": f.level, "free_bytes": f.value, "detail": f.detail}
                       for f in disk_findings(self.cfg)}
        return out

    def findings(self) -> list[Finding]:
        """Free space, schema and writes, for the health check."""
        st = self.state()
        schema = Finding("database schema", self.schema_ok, self.found,
                         f"at revision {self.found}, the one this version needs" if self.schema_ok
                         else self._schema_words())
        writes = Finding("database writes", st.ok or st.maintenance, st.reason or "ok",
                         "the database takes writes" if st.ok or st.maintenance else st.detail)
        return [*disk_findings(self.cfg), schema, writes]

    def _changed(self) -> None:
        self.events.emit(MaintenanceChanged(self.state()))

    # -- schema
    def _read_revision(self) -> str | None:
        with self.db.engine.connect() as conn:
            return conn.exec_driver_sql("select version_num from alembic_version").scalar()

    def check_schema(self) -> None:
        try:
            found = self._read_revision()
        except Exception as exc:
            if classify(exc) != SCHEMA:  # busy, or a restore swapping the file: next second
                log.debug("schema check skipped: %s", short(exc))
                return
            found = None  # no alembic_version table at all
        with self._lock:
            self.found = found
            behind = found != self.needed
            if behind and self._schema_refusal is None:
                self._enter_maintenance()
            elif not behind and self._schema_refusal is not None:
                self._leave_maintenance()
            elif behind and not self.queue.paused:
                self.queue.pause()  # a resume from elsewhere (the user, a finished restore) does not hold
                self._we_paused = True

    def _enter_maintenance(self) -> None:
        self._schema_since = utcnow().isoformat(timespec="seconds")
        self._schema_refusal = WriteRefused(SCHEMA, f"found {self.found}, needed {self.needed}")
        if not self.queue.paused:
            self.queue.pause()
            self._we_paused = True
        self.store.reset()  # cached ids and the kept connection belong to the other schema
        log.warning("%s", self._schema_words())
        self._changed()

    def _leave_maintenance(self) -> None:
        self._schema_refusal = None
        self._schema_since = None
        self.store.reset()
        self.db.engine.dispose()
        if self._we_paused:
            self._we_paused = False
            self.queue.resume()
        self._next_sweep = 0.0  # what waited gets its tasks now, not in SWEEP_EVERY_S
        self._swept.clear()
        log.warning("database schema is at revision %s again: maintenance is over, webhooks and downloads resume",
                    self.found)
        self._changed()
        self._wake.set()

    def schema_suspect(self) -> None:
        """A read met a missing column or table: check the revision now rather than within the second."""
        self._wake.set()

    # -- writes
    def on_refused(self, refused: WriteRefused) -> None:
        """The listener could not store a batch, for a known reason (it answered 503)."""
        with self._lock:
            self._last_refused = time.monotonic()
            if refused.reason == SCHEMA:
                self._wake.set()  # the revision is checked now, not in up to a second
                return
            new = self._write_reason != refused.reason
            self._write_reason, self._write_detail = refused.reason, refused.detail
            if new:
                self._write_since = utcnow().isoformat(timespec="seconds")
                log.warning("webhooks refused with 503 (Meta delivers them again): %s", refused)
        if new:
            self._changed()

    def on_stored(self) -> None:
        """The listener stored a batch."""
        if self._write_reason is not None and time.monotonic() - self._last_refused >= HOLD_S:
            self._writes_work()

    def _writes_work(self) -> None:
        with self._lock:
            if self._write_reason is None:
                return
            reason, self._write_reason, self._write_since = self._write_reason, None, None
        log.warning("the database takes writes again (it had refused them: %s)", WORDS.get(reason, reason))
        self._next_sweep = 0.0
        self._changed()

    def _probe_write(self) -> None:
        try:
            with self.db.session() as s:
                put_setting(s, PROBE_KEY, utcnow().isoformat())
        except Exception as exc:
            reason = classify(exc)
            if reason is None:
                raise
            with self._lock:
                self._write_reason, self._write_detail = reason, short(exc)
            return
        self._writes_work()

    # -- downloads
    def run_download(self, media_id: int, attempt: Callable[[], object]) -> None:
        """Run one download attempt; one cut short by a known fault is given back to pending by the sweep."""
        if not self.schema_ok:
            return  # the row stays pending, without a task: the sweep enqueues it after the migration
        try:
            attempt()
        except Exception as exc:
            reason = classify(exc)
            if reason is None:
                raise
            with self._lock:
                self._orphans.add(media_id)
            if reason == SCHEMA:
                self._wake.set()
            log.warning("media %s: the attempt was cut short (%s: %s); it is tried again once that clears",
                        media_id, WORDS.get(reason, reason), short(exc))

    def sweep(self) -> int:
        """Give interrupted rows back to pending, enqueue them and pending rows that are due and have no task;
        returns how many were enqueued."""
        if not self.schema_ok:
            return 0
        try:
            ids = self._reset_orphans() + self._due_without_task()
        except Exception as exc:
            if classify(exc) is None:
                raise
            log.debug("sweep skipped: %s", short(exc))
            return 0
        if not ids:
            return 0
        try:
            self.queue.enqueue_many(ids)
        except Exception as exc:
            if classify(exc) is None:
                raise
            log.debug("sweep could not enqueue: %s", short(exc))
            return 0
        now = time.monotonic()
        self._swept = {k: t for k, t in self._swept.items() if now - t < SWEEP_AGAIN_S}
        self._swept.update(dict.fromkeys(ids, now))
        log.info("queued %d media again whose task was lost to a fault", len(ids))
        return len(ids)

    def _reset_orphans(self) -> list[int]:
        with self._lock:
            orphans = sorted(self._orphans)
        if not orphans:
            return []
        MediaStates(self.db, self.events).release(orphans)
        with self._lock:
            self._orphans.difference_update(orphans)
        return orphans

    def _due_without_task(self) -> list[int]:
        # Only while nothing waits in the queue: then a due pending row cannot have a queued task.
        if self.queue.pending_count() > 0:
            return []
        now = utcnow()
        with self.db.session() as s:
            rows = s.execute(select(ChatMedia.id, ChatMedia.meta, ChatMedia.updated_at)
                             .where(ChatMedia.processing_status == MediaStatus.PENDING)
                             .order_by(ChatMedia.id).limit(SWEEP_LIMIT)).all()
        recent = time.monotonic() - SWEEP_AGAIN_S
        return [mid for mid, meta, updated in rows
                if _due(meta, updated, now) and self._swept.get(mid, 0.0) < recent]


def _due(meta: dict[str, Any] | None, updated: datetime | None, now: datetime) -> bool:
    nxt = (meta or {}).get("next_attempt_at")
    when = updated
    if nxt:
        try:
            when = datetime.fromisoformat(nxt)
        except ValueError:
            pass
    return when is None or when <= now - SWEEP_GRACE
