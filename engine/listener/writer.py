"""Group commit: every webhook that arrives while a batch is being formed is stored in one transaction.

SQLite (a file on this machine): the event loop's own thread writes. SQLite takes one writer at a time; a commit
per webhook costs about a quarter of the listener's throughput, a connection per thread makes them wait on each
other's locks, and handing bodies to a writer thread costs GIL hand-offs on every request. So requests that
arrive within one turn of the loop join one batch, the batch commits, and each webhook is answered only after
its data is durable.

Durable means synced (a 200 must survive a power cut), and a sync costs a millisecond or more of waiting on the
disk: on the loop's thread it would stall every request meanwhile. So the loop commits without syncing and one
sync at a time runs beside it: it covers every batch committed before it started, and the batches committed
while it runs wait for the next one. One sync per batch at most, fewer under load, and the loop keeps parsing
and committing the whole time. The sync runs in a forked helper process asked through a pipe
(engine.db.sync_helper): a thread of ours would cost two GIL hand-offs per sync, and on two busy cores those
cost more than the disk. Where there is no fork (Windows) a kept thread woken by a condition does it.

PostgreSQL (a server): a batch is network round trips, durable at COMMIT, and none of them may stall the loop.
One batch is stored at a time, in order of arrival: whatever queued while the previous one was stored. A batch
of nothing but text messages from known contacts is one autocommitted INSERT, sent from the loop itself on an
async connection (engine.db.loop_inserts says why); any other batch goes to a writer thread of its own,
and the loop settles the answers when it is done.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from engine.db.sync_helper import SyncHelper, can_fork
from engine.dbfaults import WriteRefused, classify, short
from engine.ingest import IngestResult, ParsedWebhook, WebhookStore
from engine.ingest.store import TextBatch

log = logging.getLogger(__name__)
MAX_BATCH = 256
# A thread idle this long ends (a new one starts with the next webhook): nothing needs closing when the engine
# drops its writer, and a stopped engine leaves no thread behind.
IDLE_S = 10.0
HELPER_DEATHS = 3  # a sync helper that dies this often is not started again: the thread syncs instead

Outcome = IngestResult | BaseException
Entry = tuple[ParsedWebhook, asyncio.Future]


class _Lane:
    """A server database's batches from one event loop: one in flight at a time, the rest waiting."""

    __slots__ = ("loop", "pending", "in_flight", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: list[Entry] = []
        self.in_flight = False
        self.scheduled = False


class GroupCommitWriter:
    def __init__(self, store: WebhookStore, *, on_committed: Callable[[list[IngestResult]], None] | None = None,
                 on_refused: Callable[[WriteRefused], None] | None = None,
                 on_stored: Callable[[], None] | None = None,
                 sync_helper: Callable[[Path], SyncHelper] | None = SyncHelper):
        """`sync_helper` starts the process that syncs the WAL (None: sync on a thread of this process)."""
        self.store = store
        self._make_helper = sync_helper if can_fork() else None
        self.on_committed = on_committed
        self.on_refused = on_refused  # the database refused a batch for a known reason (disk full, ...)
        self.on_stored = on_stored  # a batch was stored: writes work (again)
        self.off_loop = bool(getattr(store.backend, "store_off_loop", False))
        # the loop's own batches (SQLite)
        self._pending: list[Entry] = []
        self._scheduled = False
        self._unsynced: list[tuple[list[asyncio.Future], list[IngestResult], list[IngestResult]]] = []
        self._syncing = False
        self._sync_cond = threading.Condition()
        self._sync_job: tuple[asyncio.AbstractEventLoop, list] | None = None
        self._sync_thread: threading.Thread | None = None
        # the forked sync helper (SQLite, where there is fork), bound to the loop that started it
        self._helper: SyncHelper | None = None
        self._helper_loop: asyncio.AbstractEventLoop | None = None
        self._helper_generation = -1
        self._helper_entries: list | None = None
        self._helper_deaths = 0
        # a server database's batches: each loop's lane, the loop's own async INSERTs, the writer thread's jobs
        self._lanes: dict[asyncio.AbstractEventLoop, _Lane] = {}
        self._inserts = store.backend.loop_inserts() if self.off_loop else None
        self._cond = threading.Condition()
        self._queue: list[tuple[_Lane, list[Entry]]] = []
        self._thread: threading.Thread | None = None
        self._waiting = False
        self._closed = False

    def close(self, timeout: float = 10.0) -> None:
        """End the writer's threads once their work in hand is done (the engine stops, its listener went)."""
        self._closed = True
        threads = []
        with self._cond:
            threads.append(self._thread)
            self._cond.notify_all()
        with self._sync_cond:
            threads.append(self._sync_thread)
            self._sync_cond.notify_all()
        helper, loop = self._helper, self._helper_loop
        if helper is not None and loop is not None:
            try:
                loop.call_soon_threadsafe(self._drop_helper)
            except RuntimeError:  # its loop is closed (the listener stopped first): nothing watches the pipe now
                self._helper = None
                helper.close()
        for t in threads:
            if t is not None and t is not threading.current_thread():
                t.join(timeout)
        if self._inserts is not None:
            self._inserts.drop()

    async def submit(self, parsed: ParsedWebhook) -> IngestResult:
        """Store `parsed` with whatever else arrived meanwhile; returns once it is committed and durable."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[IngestResult] = loop.create_future()
        if self.off_loop:
            lane = self._lanes.get(loop) or self._new_lane(loop)
            lane.pending.append((parsed, fut))
            if not lane.in_flight and not lane.scheduled:
                lane.scheduled = True
                loop.call_soon(self._send_next, lane)
            return await fut
        self._pending.append((parsed, fut))
        if len(self._pending) >= MAX_BATCH:
            self._flush()
        elif not self._scheduled and not self._syncing:  # a sync under way flushes when it ends
            self._scheduled = True
            loop.call_soon(self._flush)
        return await fut

    # -- PostgreSQL: one batch at a time per loop; text on the loop's connection, the rest on a writer thread
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
            refused = _refusal(exc)
            if refused is None:
                # Not a known fault (a contact id that another writer had not committed yet, say): the usual
                # way decides, statement by statement, and says what is wrong.
                log.info("a batch of text messages is stored the usual way: %s", short(exc))
                self._to_thread(lane, batch)
                return
            self._refused(refused)
            _settle([(fut, refused) for _, fut in batch])
        except BaseException as exc:  # cancelled: the loop is closing
            _settle([(fut, exc) for _, fut in batch])
            raise
        else:
            texts.count(stored)
            _settle([(fut, result) for (_, fut), result in zip(batch, texts.results, strict=True)])
            self._committed(texts.results)
        self._lane_done(lane)

    def _lane_done(self, lane: _Lane) -> None:
        lane.in_flight = False
        if lane.pending:
            self._send_next(lane)

    def _thread_done(self, lane: _Lane, settled: list[tuple[asyncio.Future, Outcome]]) -> None:
        _settle(settled)
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

    # -- SQLite: the loop's own thread, a sync thread
    def _flush(self) -> None:
        self._scheduled = False
        if self._syncing and len(self._pending) < MAX_BATCH:
            # A sync is under way: what arrives meanwhile waits for it and commits as one batch, then one sync
            # covers it. One commit per sync writes each touched page once (fewer WAL frames to sync).
            return
        batch, self._pending = self._pending, []
        if not batch:
            return
        outcomes, results = self._store_batch(batch)
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
        if self._ask_helper(entries):
            return
        with self._sync_cond:
            self._sync_job = (asyncio.get_running_loop(), entries)
            if self._sync_thread is None:
                self._sync_thread = threading.Thread(target=self._sync_loop, name="mediadesk-wal-sync", daemon=True)
                self._sync_thread.start()
            else:
                self._sync_cond.notify()

    def _ask_helper(self, entries: list) -> bool:
        """Hand one sync of `entries` to the forked helper; False where there is none (the thread syncs)."""
        for _ in range(2):  # a helper found dead is replaced once
            helper = self._helper_for(asyncio.get_running_loop())
            if helper is None:
                return False
            try:
                if self._helper_generation != self.store.generation:
                    helper.forget()  # the store reopened: the WAL may be another file now
                    self._helper_generation = self.store.generation
                helper.request()
            except OSError as exc:
                self._helper_died(exc)
                continue
            self._helper_entries = entries
            return True
        return False

    def _helper_for(self, loop: asyncio.AbstractEventLoop) -> SyncHelper | None:
        if self._helper is not None:
            return self._helper if self._helper_loop is loop else None
        wal = self.store.wal_path
        if wal is None or self._closed or self._helper_deaths >= HELPER_DEATHS or self._make_helper is None:
            return None
        try:
            helper = self._make_helper(wal)
        except OSError as exc:
            log.warning("WAL syncs run on a thread: their helper process could not start (%s)", exc)
            self._helper_deaths = HELPER_DEATHS
            return None
        loop.add_reader(helper.fileno(), self._helper_answered)
        self._helper, self._helper_loop, self._helper_generation = helper, loop, self.store.generation
        return helper

    def _helper_answered(self) -> None:
        helper = self._helper
        if helper is None:
            return
        for error in helper.answers():
            entries, self._helper_entries = self._helper_entries, None
            if entries is not None:
                self._synced(entries, error)
        if helper.closed and self._helper is helper:
            self._helper_died(None)

    def _helper_died(self, exc: OSError | None) -> None:
        self._helper_deaths += 1
        log.warning("the WAL sync helper stopped%s; %s", f" ({exc})" if exc else "",
                    "starting another" if self._helper_deaths < HELPER_DEATHS else "syncing on a thread from now on")
        self._drop_helper()
        entries, self._helper_entries = self._helper_entries, None
        if entries is not None:  # committed, not yet known to be durable: sync them again
            self._unsynced[:0] = entries
            self._syncing = False
            self._start_sync()

    def _drop_helper(self) -> None:
        helper, self._helper = self._helper, None
        if helper is None:
            return
        if self._helper_loop is not None and not self._helper_loop.is_closed():
            self._helper_loop.remove_reader(helper.fileno())
        helper.close()

    def _sync_loop(self) -> None:
        while True:
            with self._sync_cond:
                while self._sync_job is None:
                    if (not self._sync_cond.wait(IDLE_S) or self._closed) and self._sync_job is None:
                        self._sync_thread = None
                        return
                (loop, entries), self._sync_job = self._sync_job, None
            error: BaseException | None = None
            try:
                self.store.sync()
            except BaseException as exc:
                error = exc
            try:
                loop.call_soon_threadsafe(self._synced, entries, error)
            except RuntimeError:  # the loop is closed: its requests are gone
                pass

    def _synced(self, entries: list, exc: BaseException | None) -> None:
        self._syncing = False
        # First: what came meanwhile commits and its sync starts; it need not wait for the answers below.
        if self._pending:
            self._flush()
        if self._unsynced and not self._syncing:
            self._start_sync()
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

    # -- both
    def _store_batch(self, batch: list[Entry]) -> tuple[list[Outcome], list[IngestResult]]:
        """Each webhook's outcome (its result, or why it was not stored) and the results stored."""
        try:
            results = self.store.store([p for p, _ in batch], sync=False)
            return list(results), results
        except Exception as exc:
            refused = _refusal(exc)
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


def _settle(settled: list[tuple[asyncio.Future, Outcome]]) -> None:
    for fut, outcome in settled:
        if fut.done():
            continue  # the request went away
        if isinstance(outcome, BaseException):
            fut.set_exception(outcome)
        else:
            fut.set_result(outcome)


def _refusal(exc: BaseException) -> WriteRefused | None:
    if isinstance(exc, WriteRefused):
        return exc
    reason = classify(exc)
    return WriteRefused(reason, short(exc)) if reason else None
