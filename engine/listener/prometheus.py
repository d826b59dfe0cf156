"""`GET /metrics` in Prometheus' text format: what this listener received and refused, and the shared state.

Webhook counters are this process's (Prometheus sums them over listeners). Media by status, the download
duration histogram, the queue length and the workers alive (by their heartbeats) are read from the shared
database and queue at each scrape, so any listener tells the whole deployment's story, whichever process did
the downloading.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError

from engine.db.models import ChatMedia, MediaAttempt, MediaStatus
from engine.db.session import Database

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DOWNLOAD_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class _SharedState(Collector):
    def __init__(self, db: Database, queue_length: Callable[[], int] | None,
                 workers_alive: Callable[[], int] | None, process_workers: Callable[[], int] | None) -> None:
        self.db = db
        self.queue_length = queue_length
        self.workers_alive = workers_alive
        self.process_workers = process_workers

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("mediadesk_database_up", "1 when the database answered this scrape")
        try:
            yield from self._from_database()
            up.add_metric([], 1)
        except SQLAlchemyError as exc:
            log.warning("metrics: the database did not answer: %s", self.db.backend.explain(exc))
            up.add_metric([], 0)
        yield up
        for name, doc, read in (
            ("mediadesk_queue_length", "download and housekeeping tasks waiting", self.queue_length),
            ("mediadesk_workers_alive", "download worker threads alive in every process on the queue",
             self.workers_alive),
        ):
            if read is None:
                continue
            try:
                value = read()
            except Exception as exc:  # the queue's server is down: the other metrics still count
                log.warning("metrics: the queue did not answer: %s", exc)
            else:
                yield GaugeMetricFamily(name, doc, value=value)
        if self.process_workers is not None:
            yield GaugeMetricFamily("mediadesk_process_workers_alive", "download worker threads alive in this process",
                                    value=self.process_workers())

    def _from_database(self) -> Iterator[Metric]:
        seconds = self.db.backend.seconds_between(MediaAttempt.started_at, MediaAttempt.finished_at)
        buckets = [func.coalesce(func.sum(case((seconds <= b, 1), else_=0)), 0) for b in DOWNLOAD_BUCKETS]
        with self.db.session() as s:
            counts = dict(s.execute(select(ChatMedia.processing_status, func.count())
                                    .group_by(ChatMedia.processing_status)).all())
            row = s.execute(select(func.count(), func.coalesce(func.sum(seconds), 0.0), *buckets).where(
                MediaAttempt.outcome == "completed", MediaAttempt.finished_at.is_not(None))).one()
        media = GaugeMetricFamily("mediadesk_media", "media by processing status", labels=["status"])
        for st in MediaStatus:
            media.add_metric([st.value], int(counts.get(st.value, 0)))
        yield media
        total, total_s, *cumulative = row
        hist = HistogramMetricFamily("mediadesk_download_duration_seconds",
                                     "how long each completed download attempt took")
        hist.add_metric([], [*((str(b), int(c)) for b, c in zip(DOWNLOAD_BUCKETS, cumulative, strict=True)),
                             ("+Inf", int(total))], sum_value=float(total_s or 0.0))
        yield hist


class ListenerMetrics:
    """One registry per listener (several engines may live in one process, in tests and the console)."""

    def __init__(self, db: Database | None = None, *, queue_length: Callable[[], int] | None = None,
                 workers_alive: Callable[[], int] | None = None,
                 process_workers: Callable[[], int] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.received = Counter("mediadesk_webhooks_received", "webhook POSTs received", registry=self.registry)
        self.refused = Counter("mediadesk_webhooks_refused", "webhook POSTs refused, by reason", ["reason"],
                               registry=self.registry)
        if db is not None:
            self.registry.register(_SharedState(db, queue_length, workers_alive, process_workers))

    def refuse(self, reason: str) -> None:
        self.refused.labels(reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
