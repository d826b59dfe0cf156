"""Group commit on a server database (PostgreSQL): a batch is network round trips, durable at COMMIT, and none of
them may stall the event loop.

One batch is stored at a time, in order of arrival: whatever queued while the previous one was stored. A batch
of nothing but text messages from known contacts is one autocommitted INSERT, sent from the loop itself on an
async connection (engine.db.loop_inserts says why); any other batch goes to a writer thread of its own, and the
loop settles the answers when it is done.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from engine.dbfaults import short
from engine.ingest import IngestResult, ParsedWebhook, WebhookStore
from engine.ingest.store import TextBatch
from engine.listener.writer import IDLE_S, MAX_BATCH, Entry, GroupCommitWriter, Outcome, refusal_of, settle

log = logging.getLogger(__name__)


class _Lane:
    """The batches from one event loop: one in flight at a time, the rest waiting."""

    __slots__ = ("loop", "pending", "in_flight", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: list[Entry] = []
        self.in_flight = False
        self.scheduled = False


class ServerWriter(GroupCommitWriter):
    off_loop = True

    def __init__(self, store: WebhookStore, *, sync_helper: Any = None, **callbacks: Any) -> None:
        """`sync_helper` is the file writer's: a server's commits are durable by themselves."""
        super().__init__(store, **callbacks)
        # Each loop's lane (a listener replaced in Settings has a loop of its own), the loop's own async INSERTs,
        # the writer thread's jobs.
        self._lanes: dict[asyncio.AbstractEventLoop, _Lane] = {}
        self._inserts = store.backend.loop_inserts()
        self._cond = threading.Condition()
        self._queue: list[tuple[_Lane, list[Entry]]] = []
        self._thread: threading.Thread | None = None
        self._waiting = False

    def close(self, timeout: float = 10.0) -> None:
        super().close(timeout)
        with self._cond:
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self._inserts is not None:
            self._inserts.drop()

    async def submit(self, parsed: ParsedWebhook) -> IngestResult:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[IngestResult] = loop.create_future()
        lane = self._lanes.get(loop) or self._new_lane(loop)
        lane.pending.append((parsed, fut))
        if not lane.in_flight and not lane.scheduled:
            lane.scheduled = True
            loop.call_soon(self._send_next, lane)
        return await fut

    def _new_lane(self, loop: asyncio.AbstractEventLoop) -> _Lane:
        for old in [lp for lp in list(self._lanes) if lp.is_closed()]:  # a listener replaced in Settings, say
            self._lanes.pop(old, None)
        lane = self._lanes[loop] = _Lane(loop)
        return lane

    def _send_next(self, lane: _Lane) -> None:
        lane.scheduled = False
        if lane.in_flight or not lane.pending:
            return
        batch, lane.pending = lane.pending[:MAX_BATCH], lane.pending[MAX_BATCH:]
        lane.in_flight = True
        texts = self.store.text_batch([p for p, _ in batch]) if self._inserts is not None else None
        if texts is None:
            self._to_thread(lane, batch)
        else:
            lane.loop.create_task(self._insert_on_loop(lane, batch, texts))

    async def _insert_on_loop(self, lane: _Lane, batch: list[Entry], texts: TextBatch) -> None:
        assert self._inserts is not None
        try:
            stored = await self._inserts.insert(texts.sql, texts.params(), self.store.generation)
        except Exception as exc:
            refused = refusal_of(exc)
            if refused is None:
                # Not a known fault (a contact id that another writer had not committed yet, say): the usual
                # way decides, statement by statement, and says what is wrong.
                log.info("a batch of text messages is stored the usual way: %s", short(exc))
                self._to_thread(lane, batch)
                return
            self._refused(refused)
            settle([(fut, refused) for _, fut in batch])
        except BaseException as exc:  # cancelled: the loop is closing
            settle([(fut, exc) for _, fut in batch])
            raise
        else:
            texts.count(stored)
            settle([(fut, result) for (_, fut), result in zip(batch, texts.results, strict=True)])
            self._committed(texts.results)
        self._lane_done(lane)

    def _lane_done(self, lane: _Lane) -> None:
        lane.in_flight = False
        if lane.pending:
            self._send_next(lane)

    def _thread_done(self, lane: _Lane, settled: list[tuple[asyncio.Future, Outcome]]) -> None:
        settle(settled)
        self._lane_done(lane)

    def _to_thread(self, lane: _Lane, batch: list[Entry]) -> None:
        with self._cond:
            self._queue.append((lane, batch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._write_loop, name="mediadesk-writer", daemon=True)
                self._thread.start()
            elif self._waiting:
                self._waiting = False
                self._cond.notify()

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._waiting = True
                    self._cond.wait(IDLE_S)
                    if not self._queue and (self._waiting or self._closed):  # timed out, or closed: nothing queued
                        self._waiting = False
                        self._thread = None
                        return
                    self._waiting = False
                lane, batch = self._queue.pop(0)
            try:
                outcomes, results = self._store_batch(batch)
            except BaseException as exc:  # never leave a request without an answer
                outcomes, results = [exc] * len(batch), []
            settled = [(fut, outcome) for (_, fut), outcome in zip(batch, outcomes, strict=True)]
            try:
                lane.loop.call_soon_threadsafe(self._thread_done, lane, settled)
            except RuntimeError:  # that loop is closed: its requests are gone
                pass
            if results:
                self._committed(results)  # on this thread: queueing media is a round trip too
