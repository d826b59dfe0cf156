"""Group commit: every webhook that arrives while a batch is being formed is stored in one transaction, and
answered once that transaction is durable.

How depends on the database, and `writer_for(store, ...)` (engine.listener.writer_for) gives the store's:
- a file (SQLite): `engine.listener.file_writer`, the event loop commits and a sync helper makes it durable;
- a server (PostgreSQL): `engine.listener.server_writer`, one batch in flight at a time, never waited on by the loop.
What both share is here: storing a batch (one by one when a body is bad), and what follows a commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from engine.dbfaults import WriteRefused, classify, short
from engine.ingest import IngestResult, ParsedWebhook, WebhookStore

log = logging.getLogger(__name__)
MAX_BATCH = 256
# A thread idle this long ends (a new one starts with the next webhook): nothing needs closing when the engine
# drops its writer, and a stopped engine leaves no thread behind.
IDLE_S = 10.0

Outcome = IngestResult | BaseException
Entry = tuple[ParsedWebhook, asyncio.Future]


class GroupCommitWriter:
    """Stores the listener's webhooks in batches: what `FileWriter` and `ServerWriter` share."""

    off_loop = False  # whether the event loop's thread never waits on the database (a server)

    def __init__(self, store: WebhookStore, *, on_committed: Callable[[list[IngestResult]], None] | None = None,
                 on_refused: Callable[[WriteRefused], None] | None = None,
                 on_stored: Callable[[], None] | None = None) -> None:
        self.store = store
        self.on_committed = on_committed
        self.on_refused = on_refused  # the database refused a batch for a known reason (disk full, ...)
        self.on_stored = on_stored  # a batch was stored: writes work (again)
        self._closed = False

    def close(self, timeout: float = 10.0) -> None:
        """End the writer's threads once their work in hand is done (the engine stops, its listener went)."""
        self._closed = True

    async def submit(self, parsed: ParsedWebhook) -> IngestResult:
        """Store `parsed` with whatever else arrived meanwhile; returns once it is committed and durable."""
        raise NotImplementedError

    def _store_batch(self, batch: list[Entry]) -> tuple[list[Outcome], list[IngestResult]]:
        """Each webhook's outcome (its result, or why it was not stored) and the results stored."""
        try:
            results = self.store.store([p for p, _ in batch], sync=False)
            return list(results), results
        except Exception as exc:
            refused = refusal_of(exc)
            if refused is not None:
                # The database, not a body, is the problem: one by one would only fail len(batch) times.
                self._refused(refused)
                return [refused] * len(batch), []
            return self._one_by_one(batch)

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

    def _one_by_one(self, batch: list[Entry]) -> tuple[list[Outcome], list[IngestResult]]:
        """One bad body must not cost the others: store them one by one."""
        outcomes: list[Outcome] = []
        results: list[IngestResult] = []
        for p, _ in batch:
            try:
                r = self.store.store([p], sync=False)[0]
                outcomes.append(r)
                results.append(r)
            except Exception as exc:
                refused = refusal_of(exc)
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


def settle(settled: list[tuple[asyncio.Future, Outcome]]) -> None:
    """Give each future its outcome, on the thread of its loop."""
    for fut, outcome in settled:
        if fut.done():
            continue  # the request went away
        if isinstance(outcome, BaseException):
            fut.set_exception(outcome)
        else:
            fut.set_result(outcome)


def refusal_of(exc: BaseException) -> WriteRefused | None:
    """`exc` as the 503 it should be, when its cause is known and goes away (disk full, database unavailable)."""
    if isinstance(exc, WriteRefused):
        return exc
    reason = classify(exc)
    return WriteRefused(reason, short(exc)) if reason else None
