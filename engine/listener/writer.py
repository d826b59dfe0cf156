"""Group commit: one writer thread stores whatever webhooks arrived meanwhile in one transaction.

SQLite takes one writer at a time; a commit per webhook costs about a quarter of the listener's
throughput and a connection per thread makes them wait on each other's locks. One writer that commits
a batch answers every webhook in the batch only after its data is durable.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from engine.ingest import IngestResult, ParsedWebhook, WebhookStore

log = logging.getLogger(__name__)
MAX_BATCH = 256
_STOP = object()


class GroupCommitWriter:
    def __init__(self, store: WebhookStore, *, on_committed: Callable[[list[IngestResult]], None] | None = None):
        self.store = store
        self.on_committed = on_committed
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="mediadesk-writer", daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def stop(self) -> None:
        if self._started:
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
            self._started = False

    async def submit(self, parsed: ParsedWebhook) -> IngestResult:
        """Store `parsed`; returns once it is committed (raises if the batch could not be stored)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[IngestResult] = loop.create_future()
        self._queue.put((parsed, fut, loop))
        return await fut

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[ParsedWebhook, asyncio.Future, asyncio.AbstractEventLoop]]) -> None:
        try:
            results = self.store.store([p for p, _, _ in batch])
            outcomes: list[Any] = list(results)
        except Exception:
            if len(batch) == 1:
                log.exception("could not store a webhook")
                outcomes = [None]
                results = []
            else:
                # One bad body must not cost the others: store them one by one.
                outcomes, results = [], []
                for p, _, _ in batch:
                    try:
                        r = self.store.store([p])[0]
                        outcomes.append(r)
                        results.append(r)
                    except Exception as exc:
                        log.exception("could not store a webhook")
                        outcomes.append(exc)
        for (_, fut, loop), outcome in zip(batch, outcomes, strict=True):
            loop.call_soon_threadsafe(_resolve, fut, outcome)
        if results and self.on_committed:
            try:
                self.on_committed(results)
            except Exception:
                # The rows are stored as pending: the reconciler enqueues them at the next start.
                log.exception("could not hand new media to the download queue")


def _resolve(fut: asyncio.Future, outcome: Any) -> None:
    if fut.done():
        return
    if isinstance(outcome, IngestResult):
        fut.set_result(outcome)
    else:
        fut.set_exception(outcome if isinstance(outcome, BaseException) else RuntimeError("store failed"))
