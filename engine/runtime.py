"""`MediaDeskEngine`: the running engine (database, listener, download workers) behind one object.

`mediadesk serve`, `mediadesk worker`, the CLI maintenance commands and the console all drive this.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import engine.attach as attaching
import engine.reconfigure as reconfiguring
from engine import alerts, backup_schedule
from engine.attach import Attachment
from engine.config import Config
from engine.db import migrate as migrations
from engine.db.backend import backend_for
from engine.db.session import Database
from engine.errors import ConfigError, StorageError, TunnelError
from engine.events import EventBus, HealthChanged, MessagesStored
from engine.health import Finding, HealthReport, last_report
from engine.ingest import IngestResult, WebhookStore, parse_webhook
from engine.library import Library
from engine.listener import GroupCommitWriter, ListenerThread, WebhookApp, writer_for
from engine.listener.prometheus import ListenerMetrics
from engine.maintenance import Guard, MaintenanceState, migrate_unless_newer
from engine.media import Pipeline, remove_stale_temp_files, retention, run_download, sweeper, unfinished_media
from engine.media.dedupe import StorageUsage, storage_usage
from engine.media.state import MediaStates
from engine.media.thumbnails import make_thumbnail, schedule_backfill, schedule_thumbnails, without_thumbnail
from engine.media.verify import VerifyReport, schedule_scrub, scrub
from engine.metrics import DEFAULT_WINDOW, Metrics, collect_metrics
from engine.monitoring import check_health
from engine.relay import EventPublisher, make_transport
from engine.shared_pause import PauseWatcher, write_paused
from engine.storage import LocalStorage, Storage, make_storage
from engine.tasks import HOUSEKEEPING_PRIORITY, TaskQueue
from engine.tunnel import NgrokTunnels, PublicTunnel, TunnelProvider, open_tunnel

log = logging.getLogger(__name__)


class MediaDeskEngine:
    """Owns every long-lived part of the engine. Thread-safe for the public methods below."""

    def __init__(self, cfg: Config, *, events: EventBus | None = None, tunnels: TunnelProvider | None = None) -> None:
        """`tunnels` is the built-in tunnel's provider (None: ngrok's Agent SDK)."""
        self.cfg = cfg
        self.events = events or EventBus()
        self.tunnels = tunnels
        self.db: Database | None = None
        self.storage: Storage | None = None
        self.queue: TaskQueue | None = None
        self.store: WebhookStore | None = None
        self.writer: GroupCommitWriter | None = None
        self.listener: ListenerThread | None = None
        self._sweeper: sweeper.LeaseSweeper | None = None
        self.guard: Guard | None = None
        self.listener_metrics: ListenerMetrics | None = None
        self.relay: EventPublisher | None = None  # this process's status events, out to every other process
        self.tunnel: PublicTunnel | None = None  # the built-in tunnel's public address, once opened
        self.tunnel_problem: str | None = None  # why the tunnel set to open at start is not open, in words
        self._pause_watch: PauseWatcher | None = None  # the owner's Pause, shared by every process (shared_pause)
        self.attachment: Attachment | None = None  # set while attached to a shared backend (engine.attach)
        # Start, stop and reconfigure swap the listener and the workers: one at a time.
        self._lock = threading.RLock()
        self._s3: tuple[tuple[Any, ...], Storage] | None = None  # S3 for moved files while new ones stay local
        self._retention_on: TaskQueue | None = None  # the queue the hourly retention run is registered on

    # -- life cycle
    def open(self, *, migrate: bool = True) -> migrations.MigrationResult:
        """Create the data dir, migrate an older database (with a backup first; not with `migrate` False, for
        commands that only look), open everything."""
        self.cfg.data_dir.mkdir(parents=True, exist_ok=True)
        if migrate:
            result = migrate_unless_newer(self.cfg)
        else:
            found = migrations.current_revision(self.cfg)
            result = migrations.MigrationResult(found, found, None)
        if result.changed and result.before is not None:
            log.warning("%s", result.describe())
        self.db = Database(self.cfg.sqlalchemy_url)
        self.storage = make_storage(self.cfg)
        self.store = WebhookStore(self.db)
        self.queue = TaskQueue(self.cfg, download=self._download, health_check=self.health_check)
        if self.cfg.backup_every_hours:
            backup_schedule.schedule_backups(self.queue.huey, self.scheduled_backup, priority=HOUSEKEEPING_PRIORITY)
        schedule_scrub(self.queue.huey, self.scrub, every_min=self.cfg.scrub_every_min)
        self.guard = Guard(self.cfg, self.db, self.store, self.queue, self.events)
        self._schedule_retention()
        self.thumbnail_later = schedule_thumbnails(self.queue.huey, self.make_thumbnail, priority=HOUSEKEEPING_PRIORITY)
        self.backfill_later = schedule_backfill(self.queue.huey, self.backfill_thumbnails,
                                                priority=HOUSEKEEPING_PRIORITY)
        return result

    def start(self, *, listener: bool = True, workers: bool = True, reconcile: bool = True) -> None:
        with self._lock:
            if self.db is None:
                self.open()
            self.guard.start()
            if self.relay is None:
                self.relay = EventPublisher(self.events, make_transport(self.cfg)).start()
            if self._pause_watch is None:
                self._pause_watch = PauseWatcher(self.cfg.sqlalchemy_url, self.queue.hold).start()
            if reconcile and self.guard.schema_ok:
                self.reconcile()
            if workers:
                if self.guard.schema_ok:
                    self.backfill_later()
                self.queue.start_consumer()
                self._sweeper = sweeper.LeaseSweeper(self._free_expired_claims, every_s=sweeper.SWEEP_EVERY_S)
                self._sweeper.start()
            if listener:
                self.writer = writer_for(self.store, on_committed=self._on_committed,
                                                on_refused=self.guard.on_refused, on_stored=self.guard.on_stored)
                self.listener = self._bind_listener(self.cfg)
                self.listener.start()
                if self.cfg.tunnel:
                    threading.Thread(target=self._reopen_tunnel, name="mediadesk-tunnel", daemon=True).start()

    def attach(self, *, workers: bool = False) -> None:
        """Run as a console attached to a shared backend: no listener, workers only if asked, every process's
        status changes and new messages on this engine's bus (engine.attach). Open it with migrate=False."""
        with self._lock:
            if self.attachment is None:
                self.attachment = attaching.attach(self, workers=workers)

    def stop(self) -> None:
        with self._lock:
            self.close_tunnel()
            if self.attachment:
                self.attachment.stop()
                self.attachment = None
            if self._pause_watch:
                self._pause_watch.stop()
                self._pause_watch = None
            if self.listener:
                self.listener.stop()
                self.listener = None
            if self.writer is not None:
                self.writer.close()
            self.writer = None
            if self._sweeper:
                self._sweeper.stop()
                self._sweeper = None
            if self.guard:
                self.guard.stop()
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
                         max_body_bytes=cfg.max_body_bytes, health=self.health_summary, metrics=self.listener_metrics,
                         refusing=self.guard.refusing if self.guard else None)
        return ListenerThread(app, host=cfg.host, port=cfg.port if port is None else port)

    # -- applying new settings to the running engine (engine/reconfigure.py)
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

        Thread-safe; it blocks while workers finish the download they are on (up to reconfigure.WORKER_STOP_WAIT_S).
        """
        with self._lock:
            applied = reconfiguring.apply(self, cfg)
            if self.tunnel is not None and not self.cfg.app_secret:
                self.close_tunnel()  # never a public address without signatures
                applied.append("the public address was closed: it needs the app secret")
            elif self.tunnel is not None:
                self.tunnel.use(self.cfg)
            self._schedule_retention()  # a policy set in Settings runs from the next hour, no restart
            return applied

    # -- the built-in tunnel (engine/tunnel.py)
    def _reopen_tunnel(self) -> None:
        """The tunnel Connect WhatsApp… opened, open again at start (off the caller's thread: the provider
        connects over the internet). Meta holds its address: with a static domain it is the same one."""
        try:
            tunnel = self.open_tunnel()
        except (TunnelError, ConfigError) as exc:
            self.tunnel_problem = f"the built-in tunnel did not open: {exc}"
            log.warning("%s; Meta cannot reach this computer until it does (Connect WhatsApp… tries again)",
                        self.tunnel_problem)
            return
        self.tunnel_problem = None
        log.info("the built-in tunnel is open again at %s", tunnel.url)
        if not self.cfg.tunnel_domain:
            log.warning("the tunnel has a new address (%s) and Meta still calls the old one: set a static domain "
                        "in Connect WhatsApp… so that the address survives restarts", tunnel.url)

    def open_tunnel(self, *, provider: TunnelProvider | None = None, authtoken: str | None = None,
                    domain: str | None = None) -> PublicTunnel:
        """A public address for `/webhook` alone (replacing one already open); TunnelError, in words, when it
        cannot open, and the local listener keeps working. Blocks while the provider connects."""
        with self._lock:
            if self.store is None:
                raise ConfigError("the engine is not open yet: start it before opening a public address")
            self.close_tunnel()
            self.tunnel = open_tunnel(self.cfg, self.store, on_committed=self._on_committed,
                                      provider=provider or self.tunnels or NgrokTunnels(),
                                      authtoken=authtoken or self.cfg.tunnel_authtoken,
                                      domain=domain or self.cfg.tunnel_domain)
            return self.tunnel

    def close_tunnel(self) -> None:
        with self._lock:
            if self.tunnel is not None:
                self.tunnel.close()
                self.tunnel = None

    def storage_for(self, location: str) -> Storage:
        """The storage holding files stored at `location` ("local" or "amazon"), whichever new files use now:
        switching to S3 in Settings must not make the files already on this disk unreadable."""
        if self.storage is not None and self.storage.location == location:
            return self.storage
        if location == LocalStorage.location:
            return LocalStorage(self.cfg.data_dir)
        if location == "amazon" and self.cfg.s3_bucket:  # moved there by retention while new files stay here
            c = self.cfg
            key = (c.s3_bucket, c.s3_region, c.s3_endpoint_url)
            if self._s3 is None or self._s3[0] != key:
                self._s3 = (key, make_storage(c.with_changes(storage="s3")))
            return self._s3[1]
        raise StorageError("this file is stored on S3, but S3 is not set up in Settings")

    # -- pipeline
    def _pipeline(self) -> Pipeline:
        return Pipeline(cfg=self.cfg, db=self.db, storage=self.storage, events=self.events,
                        schedule=self.queue.schedule_download, after_complete=self.thumbnail_later)

    def make_thumbnail(self, media_id: int) -> str | None:
        """Render and store one completed media's thumbnail now (the housekeeping task's work)."""
        return make_thumbnail(self.db, self.storage_for, media_id)

    def _download(self, media_id: int) -> None:
        self.guard.run_download(media_id, lambda: run_download(self._pipeline(), media_id))

    def _on_committed(self, results: list[IngestResult]) -> None:
        new = [mid for r in results for mid in r.media_ids]
        if new:
            self.queue.enqueue_many(new)
        for r in results:
            self._states().announce_failed(r.failed_media_ids)
        self.events.emit(MessagesStored(messages=sum(r.messages for r in results),
                                        statuses=sum(r.statuses for r in results), media_ids=tuple(new)))

    def _free_expired_claims(self) -> None:
        if self.queue.paused:
            return  # paused by the owner, or for a restore or migration that must have the database alone
        freed = sweeper.free_expired_claims(self.db, self.events)
        if freed:
            log.warning("%d media were still processing past their lease; freed and queued again", len(freed))
            self.queue.enqueue_many(freed)

    def reconcile(self) -> int:
        """Re-enqueue media a crash or a flush left unfinished, exactly once each; drop stale temp files."""
        removed = remove_stale_temp_files(self.cfg.data_dir)
        shared = self.queue.workers_alive_everywhere() > 0
        if shared:
            # Live workers elsewhere share this queue: its tasks are theirs to run (thumbnails and scheduled
            # retries among them). Only what a dead process left behind is queued here; a pending row without
            # a task is the guard's sweep's to find.
            todo = unfinished_media(self.db, self.events, freed_only=True)
        else:
            # The rows are the truth: empty the transport so that no media is queued twice.
            self.queue.flush()
            todo = unfinished_media(self.db, self.events)
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
    def _states(self) -> MediaStates:
        return MediaStates(self.db, self.events)

    def retry_media(self, media_ids: Iterable[int]) -> int:
        """Reset the given media to pending (from failed or stranded pending) and enqueue them again."""
        chosen = self._states().retry(media_ids)
        self.queue.enqueue_many(chosen)
        return len(chosen)

    def retry_failed(self) -> int:
        """Retry every failed media, and any pending one a flush left without a task."""
        chosen = self._states().retry_all()
        self.queue.enqueue_many(chosen)
        return len(chosen)

    def flush_queue(self) -> int:
        """Empty the queue; media rows stay pending so Retry (or the next start) brings them back."""
        n = self.queue.flush()
        self._states().leave_pending()
        log.warning("queue flushed: %d tasks dropped; their media stay pending", n)
        return n

    def pause_workers(self) -> None:
        """Pause the download workers of every process on the backend (engine.shared_pause), these at once."""
        write_paused(self.db, True, by=socket.gethostname())
        self.queue.hold(True)

    def resume_workers(self) -> None:
        write_paused(self.db, False, by=socket.gethostname())
        self.queue.hold(False)
        self.queue.resume()

    @property
    def workers_paused(self) -> bool:
        return self.queue.paused or self.queue.held

    def queue_length(self) -> int:
        return self.queue.pending_count()

    def workers_alive(self) -> int:
        return self.queue.workers_alive()

    # -- health and metrics
    def health_check(self) -> HealthReport:
        running = self.queue is not None and self.queue.workers_alive() > 0
        report = check_health(self.cfg, self.db, self.storage_for, queue_length=self.queue.pending_count(),
                              workers_alive=self.queue.workers_alive(), workers_expected=running,
                              extra_findings=self.guard.findings() + self._tunnel_findings(),
                              schema_ok=self.guard.schema_ok)
        self.events.emit(HealthChanged(ok=report.ok, report=report))
        return report

    def _tunnel_findings(self) -> list[Finding]:
        if not self.cfg.tunnel or self.listener is None:
            return []
        if self.tunnel is not None:
            return [Finding("Public address", True, self.tunnel.url, "the built-in tunnel is open: Meta reaches "
                                                                      "this computer")]
        return [Finding("Public address", False, None, self.tunnel_problem or "the built-in tunnel is opening")]

    def health_summary(self) -> dict[str, Any]:
        """What /healthz answers: listener, queue, workers, database, the last health check."""
        db_ok = True
        try:
            last = last_report(self.db)
        except Exception as exc:  # the database itself is the thing being checked here
            db_ok, last = False, None
            log.warning("database check failed: %s", exc)
        out = {
            "status": "ok" if db_ok else "error",
            "database": "ok" if db_ok else "error",
            "queue_length": self.queue.pending_count(),
            "workers_alive": self.queue.workers_alive(),
            "workers_paused": self.queue.paused,
            "health": last.to_dict() if last else None,
        }
        if self.guard is not None:
            guarded = self.guard.summary()
            out.update(guarded, status=guarded["status"] if db_ok else "error")
        return out

    def maintenance_state(self) -> MaintenanceState:
        """Whether the engine takes webhooks and runs downloads now, and if not why (schema, disk full, ...)."""
        return self.guard.state() if self.guard else MaintenanceState(True, None, "ok", None, None)

    def send_test_alert(self, cfg: Config | None = None) -> list[alerts.AlertDelivery]:
        """A test alert on every channel set up (ConfigError if none); how each took it, failures included.

        `cfg`: the settings to try (the Settings dialog's fields, before they are saved); the running ones if None.
        """
        return alerts.send_test_alert(cfg or self.cfg, self.db)

    @property
    def library(self) -> Library | None:
        """The console's reads (chats, conversations, media, workspace); None until the engine is open."""
        if self.db is None:
            return None
        guard = self.guard
        return Library(self.db, storage_for=self.storage_for, events=self.events, maintenance=self.maintenance_state,
                       schema_suspect=guard.schema_suspect if guard is not None else None)

    def metrics(self, window: str = DEFAULT_WINDOW, *, catch_up_all: bool = False) -> Metrics:
        """The metrics over `window` (a key of `METRICS_WINDOWS`), read from the roll-ups. A refresh counts a
        bounded batch of older attempts first; `catch_up_all` (a one-off report) counts them all."""
        return collect_metrics(self.db, window=window, catch_up_batches=None if catch_up_all else 1)

    def backfill_thumbnails(self) -> int:
        """Queue thumbnails for a batch of completed media that have none (downloaded before thumbnails
        existed, or a flush dropped their task); how many were queued. Queued at start (`backfill_later`), and
        run with every scrub."""
        todo = without_thumbnail(self.db)
        for mid in todo:
            self.thumbnail_later(mid)
        if todo:
            log.info("queued %d thumbnails for media stored without one", len(todo))
        return len(todo)

    def scrub(self) -> VerifyReport:
        """Re-hash the next batch of stored files (the periodic scrub); bad ones are fetched again. Media
        still without a thumbnail get theirs queued too."""
        c = self.cfg
        self.backfill_thumbnails()
        return scrub(self.db, self.storage_for, requeue=self.queue.enqueue_many, every_min=c.scrub_every_min or 60,
                     period_days=c.scrub_period_days, max_files=c.scrub_max_files, events=self.events)

    # -- retention and storage usage (engine/media/retention.py, engine/media/dedupe.py)
    def _schedule_retention(self) -> None:
        """The hourly run, once a policy is set; each run reads the policy then in force (keep: nothing to do)."""
        if self.queue is None or self._retention_on is self.queue:
            return
        policy = retention.RetentionPolicy.from_config(self.cfg)
        retention.schedule_retention(self.queue.huey, lambda: self.apply_retention(limit=retention.RUN_LIMIT),
                                     policy=policy)
        if not policy.keeps_everything:
            self._retention_on = self.queue

    def retention_preview(self, policy: retention.RetentionPolicy | None = None) -> retention.RetentionPreview:
        """What the policy (default: the one in the settings) would move or delete now; nothing changes."""
        return retention.preview(self.db, self.storage_for, policy or retention.RetentionPolicy.from_config(self.cfg))

    def apply_retention(self, policy: retention.RetentionPolicy | None = None, *,
                        progress: retention.Progress | None = None, limit: int | None = None,
                        cancel: threading.Event | None = None) -> retention.RetentionReport:
        """Move or delete what the policy says (default: the settings'); `progress(done, total)` after each."""
        return retention.apply(self.db, self.storage_for, policy or retention.RetentionPolicy.from_config(self.cfg),
                               progress=progress, events=self.events, limit=limit, cancel=cancel)

    def storage_usage(self) -> StorageUsage:
        """Storage by type, month and workspace, local and S3 (shared files once), and the disk's free space."""
        return storage_usage(self.db, self.storage_for, data_dir=self.cfg.data_dir)

    # -- maintenance (safe while running: workers pause, caches reset)
    def backup(self) -> Path:
        return backend_for(self.cfg.sqlalchemy_url).backup(self.cfg.backups_dir, label="manual")

    def backups(self) -> list[backup_schedule.BackupInfo]:
        """Every backup, newest first: when, why, how big. Empty when the database is not SQLite."""
        return backup_schedule.list_backups(self.cfg)

    def delete_backup(self, backup: Path | str) -> None:
        backup_schedule.delete_backup(self.cfg, backup)

    def backups_not_covered(self) -> str | None:
        """Why `backups()` is empty whatever was taken (the database is PostgreSQL, say), in words; None if not."""
        return backup_schedule.not_covered(self.cfg)

    def scheduled_backup(self) -> Path | None:
        """The periodic task's work: a backup if one is due (and no other process takes it)."""
        return backup_schedule.take_scheduled_backup(self.cfg, self.db)

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

