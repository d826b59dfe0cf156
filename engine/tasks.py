"""The task engine: Huey as transport only (the `chat_media` row is the truth).

The queue follows the database: SqliteHuey in `{data_dir}/queue.db` beside an SQLite database, PostgresHuey in
the same PostgreSQL database, and RedisHuey whenever MEDIADESK_REDIS_URL is set. The consumer runs in-process on
worker threads (`mediadesk serve`, the console) or alone (`mediadesk worker`); any number of them may share one
queue, and a lease lets exactly one of them schedule the periodic tasks. In-process enqueues wake the idle
workers at once instead of waiting for their next poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from huey import PriorityRedisHuey, crontab
from huey.api import Huey
from huey.consumer import Consumer, Scheduler, Worker

from engine.config import Config
from engine.db.backend import Lease, backend_for
from engine.errors import DatabaseError
from engine.heartbeat import WorkerHeartbeat
from engine.heartbeat import workers_alive as workers_alive_by_heartbeat

log = logging.getLogger(__name__)
MEDIA_PRIORITY = 100  # downloads go ahead of housekeeping
HOUSEKEEPING_PRIORITY = 0
IDLE_POLL_S = 0.5  # poll interval when idle; in-process enqueues wake workers sooner


def make_huey(cfg: Config) -> Huey:
    if cfg.redis_url:
        # Plain RedisHuey ignores priorities; the sorted-set storage keeps downloads ahead of housekeeping.
        return PriorityRedisHuey("mediadesk", url=cfg.redis_url, results=False)
    backend = backend_for(cfg.sqlalchemy_url)
    try:
        return backend.make_huey(cfg, "mediadesk")
    except DatabaseError:
        raise
    except Exception as exc:  # PostgresHuey creates its tables at once: the server may be down
        raise DatabaseError(f"cannot open the task queue: {backend.explain(exc)}") from exc


class _LeasedScheduler(Scheduler):
    """Every consumer runs a scheduler (retries come due through it), but only the lease holder enqueues the
    periodic tasks: with several processes on one queue, the health check would otherwise run once per process."""

    lease: Lease

    def enqueue_periodic_tasks(self, now) -> None:
        if self.lease.held():
            super().enqueue_periodic_tasks(now)


class _Gate:
    """Pause/resume for workers plus a wake-up signal for idle ones."""

    def __init__(self) -> None:
        self.running = threading.Event()
        self.running.set()
        self.wake = threading.Condition()

    def notify(self) -> None:
        with self.wake:
            self.wake.notify_all()


class _WakeableWorker(Worker):
    """Huey's worker, woken by an enqueue and held by pause. `sleep` and `loop` are Huey's private methods
    (there is no public hook for either): pyproject.toml pins Huey to the major version they are tested on."""

    gate: _Gate

    def sleep(self) -> None:
        # Huey backs off to max_delay when idle; we wait on the gate instead so an enqueue wakes us.
        if self.delay > self.max_delay:
            self.delay = self.max_delay
        with self.gate.wake:
            self.gate.wake.wait(self.delay)
        self.delay *= self.backoff

    def loop(self, now=None) -> None:
        while not self.gate.running.wait(0.2):
            if self.stop_flag.is_set():
                return
        if self.stop_flag.is_set():
            return  # stopping: take no task on the way out
        super().loop(now)


class TaskQueue:
    """The engine's queue: `enqueue_download`, `schedule_download`, periodic health, pause/resume."""

    def __init__(self, cfg: Config, *, download: Callable[[int], object],
                 health_check: Callable[[], object] | None = None) -> None:
        self.cfg = cfg
        self.huey = make_huey(cfg)
        self.periodic_lease = backend_for(cfg.sqlalchemy_url).lease("periodic")
        self._gate = _Gate()
        # Two reasons to hold the workers: this process's own (a restore, maintenance) and the owner's Pause
        # shared by every process on the backend (engine.shared_pause); they run only when neither holds.
        self._paused_here = False
        self._held = False
        self._hold_lock = threading.Lock()
        self._consumer: Consumer | None = None
        self._wakeups = None  # other processes' enqueues wake our idle workers (PostgreSQL)
        self._heartbeat: WorkerHeartbeat | None = None  # our workers, counted by every process on the queue

        @self.huey.task(priority=MEDIA_PRIORITY, name="download_media")
        def download_media(media_id: int) -> None:
            download(media_id)

        self._download = download_media

        if health_check is not None and cfg.health_every_min:
            every = crontab(minute=f"*/{cfg.health_every_min}")

            @self.huey.periodic_task(every, priority=HOUSEKEEPING_PRIORITY, name="health_check")
            def periodic_health() -> None:
                health_check()

    # -- producing
    def enqueue_download(self, media_id: int) -> None:
        self._download(media_id)
        self._gate.notify()

    def enqueue_many(self, media_ids: list[int]) -> None:
        for mid in media_ids:
            self._download(mid)
        if media_ids:
            self._gate.notify()

    def schedule_download(self, media_id: int, delay: float) -> None:
        self._download.schedule((media_id,), delay=delay)

    def pending_count(self) -> int:
        return self.huey.pending_count()

    def flush(self) -> int:
        """Empty the queue and the schedule; returns how many tasks were dropped."""
        n = self.huey.pending_count() + self.huey.scheduled_count()
        self.huey.flush()
        return n

    # -- consuming
    def start_consumer(self, workers: int | None = None) -> None:
        worker_cls = type("MediaDeskWorker", (_WakeableWorker,), {"gate": self._gate})
        scheduler_cls = type("MediaDeskScheduler", (_LeasedScheduler,), {"lease": self.periodic_lease})
        consumer_cls = type("MediaDeskConsumer", (Consumer,), {
            "worker_class": worker_cls,
            "scheduler_class": scheduler_cls,
            "_set_signal_handlers": lambda self: None,  # the host app owns signals
        })
        self._consumer = consumer_cls(
            self.huey, workers=workers or self.cfg.workers, worker_type="thread", periodic=True,
            initial_delay=0.05, backoff=1.5, max_delay=IDLE_POLL_S, scheduler_interval=1,
            check_worker_health=False,
        )
        self._consumer.start()
        self._wakeups = backend_for(self.cfg.sqlalchemy_url).watch_queue(self.huey, self._gate.notify)
        self._heartbeat = WorkerHeartbeat(self.huey, self.workers_alive).start()
        log.info("download workers started: %d threads", workers or self.cfg.workers)

    def stop_consumer(self, timeout: float = 30.0) -> None:
        """Stop the workers: each finishes the download it is on (up to `timeout`); paused stays paused."""
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        if self._wakeups is not None:
            self._wakeups.stop()
            self._wakeups = None
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        consumer.stop_flag.set()  # first: a paused worker sees it (every 0.2 s) and leaves without a task
        self._gate.notify()  # idle workers wake now rather than at the end of their poll
        consumer.shutdown_timeout = timeout
        consumer.stop(graceful=True)
        self.periodic_lease.release()

    def close(self) -> None:
        """Let go of the queue's connections (PostgresHuey holds some); the next use opens them again."""
        close = getattr(self.huey.storage, "close", None)
        if close is not None:
            close()

    def workers_alive_everywhere(self) -> int:
        """Download worker threads alive in every process sharing this queue (by their heartbeats)."""
        return workers_alive_by_heartbeat(self.huey)

    def workers_alive(self) -> int:
        if self._consumer is None:
            return 0
        return sum(1 for _, t in self._consumer.worker_threads if t.is_alive())

    @property
    def paused(self) -> bool:
        """Paused by this process (`pause()`); the shared pause is `held`."""
        return self._paused_here

    @property
    def held(self) -> bool:
        """Held by the owner's Pause, shared by every process on the backend."""
        return self._held

    def pause(self) -> None:
        """Workers finish the download they are on, then take no more until `resume()`."""
        with self._hold_lock:
            self._paused_here = True
            self._gate.running.clear()

    def resume(self) -> None:
        with self._hold_lock:
            self._paused_here = False
            self._open_gate()

    def hold(self, held: bool) -> None:
        """Follow the shared pause flag: like `pause()`/`resume()`, but under a reason of its own."""
        with self._hold_lock:
            self._held = held
            if held:
                self._gate.running.clear()
            else:
                self._open_gate()

    def _open_gate(self) -> None:
        if not (self._paused_here or self._held):
            self._gate.running.set()
            self._gate.notify()
