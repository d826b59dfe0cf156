"""Group commit: every webhook that arrives within one turn of the event loop is stored in one transaction.

SQLite takes one writer at a time; a commit per webhook costs about a quarter of the listener's throughput,
a connection per thread makes them wait on each other's locks, and handing bodies to a writer thread costs
GIL hand-offs on every request. So the event loop's own thread writes: requests that arrive while a batch
is pending join it, the batch commits, and each webhook is answered only after its data is durable.

Durable means synced (a 200 must survive a power cut), and a sync costs a millisecond or more of waiting on the
disk: on the loop's thread it would stall every request meanwhile. So the loop commits without syncing and one
sync at a time runs on a thread (the GIL is released while the disk works): it covers every batch committed
before it started, and the batches committed while it runs wait for the next one. One sync per batch at most,
fewer under load, and the loop keeps parsing and committing the whole time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from engine.dbfaults import WriteRefused, classify, short
from engine.ingest import IngestResult, ParsedWebhook, WebhookStore

log = logging.getLogger(__name__)
MAX_BATCH = 256


class GroupCommitWriter:
    def __init__(self, store: WebhookStore, *, on_committed: Callable[[list[IngestResult]], None] | None = None,
                 on_refused: Callable[[WriteRefused], None] | None = None,
                 on_stored: Callable[[], None] | None = None):
        self.store = store
        self.on_committed = on_committed
        self.on_refused = on_refused  # the database refused a batch for a known reason (disk full, ...)
        self.on_stored = on_stored  # a batch was stored: writes work (again)
        self._pending: list[tuple[ParsedWebhook, asyncio.Future]] = []
        self._scheduled = False
        self._unsynced: list[tuple[list[asyncio.Future], list[IngestResult], list[IngestResult]]] = []
        self._syncing = False

    async def submit(self, parsed: ParsedWebhook) -> IngestResult:
        """Store `parsed` with whatever else arrived meanwhile; returns once it is committed and synced."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[IngestResult] = loop.create_future()
        self._pending.append((parsed, fut))
        if len(self._pending) >= MAX_BATCH:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await fut

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            results = self.store.store([p for p, _ in batch], sync=False)
            outcomes: list[IngestResult | BaseException] = list(results)
        except Exception as exc:
            refused = _refusal(exc)
            if refused is not None:
                # The database, not a body, is the problem: one by one would only fail len(batch) times.
                self._refused(refused)
                outcomes, results = [refused] * len(batch), []
            else:
                outcomes, results = self._one_by_one(batch)
        stored_futs, stored = [], []
        for (_, fut), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not fut.done():
                    fut.set_exception(outcome)
            else:
                stored_futs.append(fut)
                stored.append(outcome)
        if stored_futs:
            self._unsynced.append((stored_futs, stored, results))
            if not self._syncing:
                self._start_sync()

    def _start_sync(self) -> None:
        entries, self._unsynced = self._unsynced, []
        self._syncing = True
        done = asyncio.get_running_loop().run_in_executor(None, self.store.sync)
        done.add_done_callback(lambda f: self._synced(entries, f))

    def _synced(self, entries: list, done: asyncio.Future) -> None:
        self._syncing = False
        if self._unsynced:
            self._start_sync()  # first: the batches that came meanwhile need not wait for the answers below
        exc = asyncio.CancelledError("the sync was cancelled") if done.cancelled() else done.exception()
        refused = _refusal(exc) if exc is not None else None
        if exc is not None:
            # Committed but maybe not on disk: a 5xx makes Meta deliver them again, and a wamid is stored once.
            if refused is not None:
                self._refused(refused)
            else:
                log.error("could not sync the database: %s", exc)
        for futs, outcomes, results in entries:
            for fut, outcome in zip(futs, outcomes, strict=True):
                if fut.done():
                    continue
                if exc is not None:
                    fut.set_exception(refused or exc)
                else:
                    fut.set_result(outcome)
            if exc is None:
                self._committed(results)

    def _committed(self, results: list[IngestResult]) -> None:
        if results and self.on_stored:
            self.on_stored()
        if results and self.on_committed:
            try:
                self.on_committed(results)
            except Exception as exc:
                # The rows are stored as pending: the engine's sweep of pending rows without a task (or the
                # reconciler at the next start) enqueues them.
                reason = classify(exc)
                if reason is None:
                    log.exception("could not hand new media to the download queue")
                else:
                    log.warning("new media are stored but could not be queued (%s: %s); they are queued "
                                "again once that clears", WriteRefused(reason), short(exc))

    def _one_by_one(self, batch: list[tuple[ParsedWebhook, asyncio.Future]]):
        """One bad body must not cost the others: store them one by one."""
        outcomes: list[IngestResult | BaseException] = []
        results: list[IngestResult] = []
        for p, _ in batch:
            try:
                r = self.store.store([p], sync=False)[0]
                outcomes.append(r)
                results.append(r)
            except Exception as exc:
                refused = _refusal(exc)
                if refused is None:
                    log.exception("could not store a webhook")
                    outcomes.append(exc)
                else:
                    self._refused(refused)
                    outcomes.append(refused)
        return outcomes, results

    def _refused(self, refused: WriteRefused) -> None:
        if self.on_refused is not None:
            try:
                self.on_refused(refused)
            except Exception:
                log.exception("the write-refused handler failed")
        else:
            log.warning("webhooks refused with 503: %s", refused)


def _refusal(exc: BaseException) -> WriteRefused | None:
    if isinstance(exc, WriteRefused):
        return exc
    reason = classify(exc)
    return WriteRefused(reason, short(exc)) if reason else None
