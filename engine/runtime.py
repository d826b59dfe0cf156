"""`MediaDeskEngine`: the running engine (database, listener, download workers) behind one object.

`mediadesk serve`, `mediadesk worker`, the CLI maintenance commands and the console all drive this.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from engine.config import Config
from engine.db import migrate as migrations
from engine.db.backend import backend_for
from engine.db.models import ChatMedia, MediaStatus, utcnow
from engine.db.session import Database
from engine.errors import ConfigError, MediaDeskError, StorageError
from engine.events import EventBus, HealthChanged, MediaStatusChanged, MessagesStored
from engine.health import HealthReport, last_report, run_health_check
from engine.ingest import IngestResult, WebhookStore, parse_webhook
from engine.listener import GroupCommitWriter, ListenerThread, WebhookApp
from engine.listener.prometheus import ListenerMetrics
from engine.media import Pipeline, remove_stale_temp_files, run_download, unfinished_media
from engine.metrics import Metrics, collect_metrics
from engine.relay import EventPublisher, make_transport
from engine.storage import LocalStorage, Storage, make_storage
from engine.tasks import TaskQueue

log = logging.getLogger(__name__)

# What `reconfigure` cannot change in a running engine: the files and queue it has open. Each keeps its
# running value until the next start, with the note the caller is given.
_AT_NEXT_START = {
    "data_dir": "data folder changes apply at the next start",
    "database_url": "database changes apply at the next start",
    "redis_url": "queue (Redis) changes apply at the next start",
    "health_every_min": "health check interval changes apply at the next start",
}
_LISTENER_FIELDS = ("host", "port", "app_secret", "verify_token", "max_body_bytes")
_LISTENER_WORDS = {"app_secret": "app secret", "verify_token": "verify token", "max_body_bytes": "body size limit"}
WORKER_STOP_WAIT_S = 10.0  # a worker still downloading after this finishes on its own, then leaves


class MediaDeskEngine:
    """Owns every long-lived part of the engine. Thread-safe for the public methods below."""

    def __init__(self, cfg: Config, *, events: EventBus | None = None) -> None:
        self.cfg = cfg
        self.events = events or EventBus()
        self.db: Database | None = None
        self.storage: Storage | None = None
        self.queue: TaskQueue | None = None
        self.store: WebhookStore | None = None
        self.writer: GroupCommitWriter | None = None
        self.listener: ListenerThread | None = None
        self.last_migration: migrations.MigrationResult | None = None
        self.listener_metrics: ListenerMetrics | None = None
        self.relay: EventPublisher | None = None  # this process's status events, out to every other process
        # Start, stop and reconfigure swap the listener and the workers: one at a time.
        self._lock = threading.RLock()

    # -- life cycle
    def open(self) -> migrations.MigrationResult:
        """Create the data dir, migrate an older database (with a backup first), open everything."""
        self.cfg.data_dir.mkdir(parents=True, exist_ok=True)
        result = migrations.migrate(self.cfg)
        if result.changed and result.before is not None:
            log.warning("%s", result.describe())
        self.last_migration = result
        self.db = Database(self.cfg.sqlalchemy_url)
        self.storage = make_storage(self.cfg)
        self.store = WebhookStore(self.db)
        self.queue = TaskQueue(self.cfg, download=self._download, health_check=self.health_check)
        return result

    def start(self, *, listener: bool = True, workers: bool = True, reconcile: bool = True) -> None:
        with self._lock:
            if self.db is None:
                self.open()
            if self.relay is None:
                self.relay = EventPublisher(self.events, make_transport(self.cfg)).start()
            if reconcile:
                self.reconcile()
            if workers:
                self.queue.start_consumer()
            if listener:
                self.writer = GroupCommitWriter(self.store, on_committed=self._on_committed)
                self.listener = self._bind_listener(self.cfg)
                self.listener.start()

    def stop(self) -> None:
        with self._lock:
            if self.listener:
                self.listener.stop()
                self.listener = None
            self.writer = None
            if self.queue:
                self.queue.stop_consumer()
                self.queue.close()
            if self.relay:
                self.relay.stop()
                self.relay = None
            if self.store:
                self.store.reset()
            if self.db:
                self.db.dispose()

    def _bind_listener(self, cfg: Config, port: int | None = None) -> ListenerThread:
        """A listener for `cfg` on `port` (default `cfg.port`), bound but not yet serving; ConfigError if taken."""
        if self.listener_metrics is None:  # one set of counters for the engine's life, listener swaps included
            self.listener_metrics = ListenerMetrics(self.db, queue_length=self.queue.pending_count,
                                                    workers_alive=self.queue.workers_alive_everywhere,
                                                    process_workers=self.queue.workers_alive)
        app = WebhookApp(self.writer, app_secret=cfg.app_secret, verify_token=cfg.verify_token,
                         max_body_bytes=cfg.max_body_bytes, health=self.health_summary, metrics=self.listener_metrics)
        return ListenerThread(app, host=cfg.host, port=cfg.port if port is None else port)

    # -- applying new settings to the running engine
    def reconfigure(self, cfg: Config) -> list[str]:
        """Apply `cfg` (from the Settings dialog, say) to the running engine; returns what changed, in words.

        - Downloads build their pipeline from `self.cfg` per attempt: retry waits, Graph version and URL,
          access token and download timeout apply from the next attempt.
        - A new storage receives new downloads only; completed files stay where they were stored.
        - A running listener whose address, app secret, verify token or body limit changed is replaced, with
          the same writer and store. If the new address cannot be bound, ConfigError is raised, nothing else
          is applied, and the old listener keeps answering (it is restored if it had to let go of its port).
        - Running download workers are restarted with the new count; queued tasks wait in the queue meanwhile
          and a paused queue stays paused.
        - The data folder, database, Redis queue and health check interval stay as they are until the next
          start; the returned list says so.

        Thread-safe; it blocks while workers finish the download they are on (up to WORKER_STOP_WAIT_S).
        """
        with self._lock:
            old = self.cfg
            notes = [note for name, note in _AT_NEXT_START.items() if getattr(cfg, name) != getattr(old, name)]
            cfg = replace(cfg, **{name: getattr(old, name) for name in _AT_NEXT_START})
            applied: list[str] = []
            # What can fail comes first, so that a failure leaves the engine as it was.
            storage_changed = _storage_key(cfg) != _storage_key(old)
            storage = self._new_storage(cfg) if storage_changed and self.storage is not None else None
            if self.listener is not None and _changed(old, cfg, _LISTENER_FIELDS):
                applied.append(self._replace_listener(old, cfg))
            elif _changed(old, cfg, ("host", "port")):
                applied.append(f"webhook address set to {cfg.host}:{cfg.port} (no listener is running here)")
            if storage is not None:
                self.storage = storage
            if storage_changed:
                applied.append(_describe_storage(cfg))
            self.cfg = cfg
            if self.queue is not None:
                self.queue.cfg = cfg  # its consumer starts `cfg.workers` threads
            if cfg.workers != old.workers:
                if self.queue is not None and self.queue.workers_alive() > 0:
                    self._restart_workers()
                    applied.append(f"{old.workers} -> {cfg.workers} download workers")
                else:
                    applied.append(f"{cfg.workers} download workers when the workers start")
            applied += _describe_download_changes(old, cfg)
            for line in applied + notes:
                log.info("settings: %s", line)
            return applied + notes

    def _new_storage(self, cfg: Config) -> Storage:
        try:
            return make_storage(cfg)
        except MediaDeskError:
            raise
        except Exception as exc:  # boto3 refusing the endpoint or region, say
            raise StorageError(f"cannot use the new storage settings: {exc}") from exc

    def _replace_listener(self, old_cfg: Config, cfg: Config) -> str:
        """Serve webhooks with `cfg`'s settings instead of the running listener's; restore it on failure."""
        current = self.listener
        assert current is not None
        # Same configured address (port 0 included): keep the port the running listener actually has.
        port = current.port if (cfg.host, cfg.port) == (old_cfg.host, old_cfg.port) else cfg.port
        try:
            new = self._bind_listener(cfg, port)  # bound while the old one still answers
        except ConfigError:
            if port != current.port:
                raise  # the port is someone else's: the old listener never stopped
            new = None  # the running listener holds this port itself: it must let go first
        # Two listeners must not feed one writer from two event loops at once: the old one stops first.
        current.stop()
        self.listener = None
        try:
            if new is None:
                new = self._bind_listener(cfg, port)
            try:
                new.start()
            except ConfigError:
                new.stop()
                raise
        except ConfigError as exc:
            try:
                self.listener = self._bind_listener(old_cfg, current.port)
                self.listener.start()
            except ConfigError as again:
                if self.listener is not None:
                    self.listener.stop()
                self.listener = None
                raise ConfigError(f"{exc}; the listener is off, because {current.host}:{current.port} could not be "
                                  f"taken back either ({again})") from exc
            log.warning("kept the previous webhook listener on %s", self.listener.address)
            raise
        self.listener = new
        if (new.host, new.port) != (current.host, current.port):
            return f"listener moved to {new.host}:{new.port}"
        words = [w for name, w in _LISTENER_WORDS.items() if getattr(cfg, name) != getattr(old_cfg, name)]
        with_what = f" with the new {' and '.join(words)}" if words else ""
        return f"listener on {new.host}:{new.port} restarted{with_what}"

    def _restart_workers(self) -> None:
        """Stop the download workers and start `self.cfg.workers` new ones; paused stays paused.

        Queued tasks wait in Huey's storage meanwhile; a download in progress is finished, not dropped.
        """
        self.queue.stop_consumer(timeout=WORKER_STOP_WAIT_S)
        self.queue.start_consumer()

    def storage_for(self, location: str) -> Storage:
        """The storage holding files stored at `location` ("local" or "amazon"), whichever new files use now:
        switching to S3 in Settings must not make the files already on this disk unreadable."""
        if self.storage is not None and self.storage.location == location:
            return self.storage
        if location == LocalStorage.location:
            return LocalStorage(self.cfg.data_dir)
        raise StorageError("this file is stored on S3, but S3 is not set up in Settings")

    # -- pipeline
    def _pipeline(self) -> Pipeline:
        return Pipeline(cfg=self.cfg, db=self.db, storage=self.storage, events=self.events,
                        schedule=self.queue.schedule_download)

    def _download(self, media_id: int) -> None:
        run_download(self._pipeline(), media_id)

    def _on_committed(self, results: list[IngestResult]) -> None:
        new = [mid for r in results for mid in r.media_ids]
        if new:
            self.queue.enqueue_many(new)
        for r in results:
            for mid in r.failed_media_ids:
                self.events.emit(MediaStatusChanged(mid, MediaStatus.FAILED))
        self.events.emit(MessagesStored(messages=sum(r.messages for r in results),
                                        statuses=sum(r.statuses for r in results), media_ids=tuple(new)))

    def reconcile(self) -> int:
        """Re-enqueue media a crash or a flush left unfinished, exactly once each; drop stale temp files."""
        removed = remove_stale_temp_files(self.cfg.data_dir)
        # The rows are the truth: empty the transport so that no media is queued twice.
        self.queue.flush()
        todo = unfinished_media(self.db)
        now = [mid for mid, delay in todo if delay <= 0]
        self.queue.enqueue_many(now)
        for mid, delay in todo:
            if delay > 0:
                self.queue.schedule_download(mid, delay)
        if todo or removed:
            log.info("recovered %d unfinished media, removed %d partial files", len(todo), removed)
        return len(todo)

    # -- ingest without HTTP (replay, tests)
    def ingest(self, payloads: Iterable[Any]) -> list[IngestResult]:
        parsed = [parse_webhook(p) for p in payloads]
        results = self.store.store([p for p in parsed if not p.empty])
        self._on_committed(results)
        return results

    # -- retry / queue
    def retry_media(self, media_ids: Iterable[int]) -> int:
        """Reset the given media to pending (from failed or stranded pending) and enqueue them again."""
        ids = list(media_ids)
        if not ids:
            return 0
        with self.db.session() as s:
            rows = s.execute(select(ChatMedia).where(
                ChatMedia.id.in_(ids), ChatMedia.processing_status.in_([MediaStatus.FAILED, MediaStatus.PENDING])
            )).scalars().all()
            for m in rows:
                meta = dict(m.meta or {})
                meta.update(attempts=0, retried_at=utcnow().isoformat())
                meta.pop("next_attempt_at", None)
                m.meta = meta
                m.processing_status = MediaStatus.PENDING
            chosen = [m.id for m in rows]
        self.queue.enqueue_many(chosen)
        for mid in chosen:
            self.events.emit(MediaStatusChanged(mid, MediaStatus.PENDING))
        return len(chosen)

    def retry_failed(self) -> int:
        """Retry every failed media, and any pending one a flush left without a task."""
        with self.db.session() as s:
            ids = list(s.execute(select(ChatMedia.id).where(
                ChatMedia.processing_status.in_([MediaStatus.FAILED, MediaStatus.PENDING]))).scalars())
        return self.retry_media(ids)

    def flush_queue(self) -> int:
        """Empty the queue; media rows stay pending so Retry (or the next start) brings them back."""
        n = self.queue.flush()
        with self.db.session() as s:
            s.execute(update(ChatMedia).where(ChatMedia.processing_status == MediaStatus.PROCESSING)
                      .values(processing_status=MediaStatus.PENDING))
        log.warning("queue flushed: %d tasks dropped; their media stay pending", n)
        return n

    def pause_workers(self) -> None:
        self.queue.pause()

    def resume_workers(self) -> None:
        self.queue.resume()

    @property
    def workers_paused(self) -> bool:
        return self.queue.paused

    def queue_length(self) -> int:
        return self.queue.pending_count()

    def workers_alive(self) -> int:
        return self.queue.workers_alive()

    # -- health and metrics
    def health_check(self) -> HealthReport:
        running = self.queue is not None and self.queue.workers_alive() > 0
        report = run_health_check(self.db, self.storage_for, queue_length=self.queue.pending_count(),
                                  workers_alive=self.queue.workers_alive(), workers_expected=running)
        self.events.emit(HealthChanged(ok=report.ok, report=report))
        return report

    def health_summary(self) -> dict[str, Any]:
        """What /healthz answers: listener, queue, workers, database, the last health check."""
        db_ok = True
        try:
            last = last_report(self.db)
        except Exception as exc:  # the database itself is the thing being checked here
            db_ok, last = False, None
            log.warning("database check failed: %s", exc)
        return {
            "status": "ok" if db_ok else "error",
            "database": "ok" if db_ok else "error",
            "queue_length": self.queue.pending_count(),
            "workers_alive": self.queue.workers_alive(),
            "workers_paused": self.queue.paused,
            "health": last.to_dict() if last else None,
        }

    def metrics(self) -> Metrics:
        return collect_metrics(self.db)

    # -- maintenance (safe while running: workers pause, caches reset)
    def backup(self) -> Path:
        return backend_for(self.cfg.sqlalchemy_url).backup(self.cfg.backups_dir, label="manual")

    def _maintenance(self, fn):
        was_paused = self.queue.paused if self.queue else True
        if self.queue:
            self.queue.pause()
        try:
            if self.store:
                self.store.reset()  # its open connection must not outlive the file a restore replaces
            if self.db:
                self.db.dispose()
            return fn()
        finally:
            if self.store:
                self.store.reset()
            if self.queue and not was_paused:
                self.queue.resume()

    def migrate(self) -> migrations.MigrationResult:
        return self._maintenance(lambda: migrations.migrate(self.cfg))

    def rollback(self) -> migrations.MigrationResult:
        return self._maintenance(lambda: migrations.rollback(self.cfg))

    def restore(self, backup_file: Path) -> Path | None:
        backend = backend_for(self.cfg.sqlalchemy_url)
        return self._maintenance(lambda: backend.restore(Path(backup_file), self.cfg.backups_dir))


def _changed(old: Config, new: Config, names: Iterable[str]) -> bool:
    return any(getattr(old, name) != getattr(new, name) for name in names)


def _storage_key(cfg: Config) -> tuple[str | None, ...]:
    """What decides where new files go (the S3 settings do not matter while storage is local)."""
    if cfg.storage == "s3":
        return (cfg.storage, cfg.s3_bucket, cfg.s3_region, cfg.s3_endpoint_url)
    return (cfg.storage,)


def _describe_storage(cfg: Config) -> str:
    if cfg.storage == "s3":
        where = f" at {cfg.s3_endpoint_url}" if cfg.s3_endpoint_url else ""
        return f"storage is now S3 bucket {cfg.s3_bucket}{where} (files already downloaded stay where they are)"
    return "storage is now this computer's disk (files already downloaded stay where they are)"


def _describe_download_changes(old: Config, new: Config) -> list[str]:
    """The settings each download reads when it starts: nothing to restart, only to say."""
    lines = []
    if new.retry_delays != old.retry_delays:
        lines.append("retry waits are now " + ", ".join(f"{d:g}" for d in new.retry_delays) + " seconds")
    if new.graph_version != old.graph_version or new.graph_url != old.graph_url:
        lines.append(f"downloads use Graph API {new.graph_version}")
    if new.access_token != old.access_token:
        lines.append("downloads use the new access token")
    if new.download_timeout != old.download_timeout:
        lines.append(f"downloads time out after {new.download_timeout:g} seconds")
    return lines
