"""Group commit on a file database (SQLite): the event loop's own thread writes.

SQLite takes one writer at a time; a commit per webhook costs about a quarter of the listener's throughput, a
connection per thread makes them wait on each other's locks, and handing bodies to a writer thread costs GIL
hand-offs on every request. So requests that arrive within one turn of the loop join one batch, the batch
commits, and each webhook is answered only after its data is durable.

Durable means synced (a 200 must survive a power cut), and a sync costs a millisecond or more of waiting on the
disk: on the loop's thread it would stall every request meanwhile. So the loop commits without syncing and one
sync at a time runs beside it: it covers every batch committed before it started, and the batches committed
while it runs wait for the next one. One sync per batch at most, fewer under load, and the loop keeps parsing
and committing the whole time. The sync runs in a forked helper process asked through a pipe
(engine.db.sync_helper): a thread of ours would cost two GIL hand-offs per sync, and on two busy cores those
cost more than the disk. Where there is no fork (Windows) a kept thread woken by a condition does it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.db.sync_helper import SyncHelper, can_fork
from engine.ingest import IngestResult, ParsedWebhook, WebhookStore
from engine.listener.writer import IDLE_S, MAX_BATCH, Entry, GroupCommitWriter, refusal_of

log = logging.getLogger(__name__)
HELPER_DEATHS = 3  # a sync helper that dies this often is not started again: the thread syncs instead


class FileWriter(GroupCommitWriter):
    def __init__(self, store: WebhookStore, *, sync_helper: Callable[[Path], SyncHelper] | None = SyncHelper,
                 **callbacks: Any) -> None:
        """`sync_helper` starts the process that syncs the WAL (None: sync on a thread of this process)."""
        super().__init__(store, **callbacks)
        self._make_helper = sync_helper if can_fork() else None
        self._pending: list[Entry] = []
        self._scheduled = False
        self._unsynced: list[tuple[list[asyncio.Future], list[IngestResult], list[IngestResult]]] = []
        self._syncing = False
        self._sync_cond = threading.Condition()
        self._sync_job: tuple[asyncio.AbstractEventLoop, list] | None = None
        self._sync_thread: threading.Thread | None = None
        # the forked sync helper (where there is fork), bound to the loop that started it
        self._helper: SyncHelper | None = None
        self._helper_loop: asyncio.AbstractEventLoop | None = None
        self._helper_generation = -1
        self._helper_entries: list | None = None
        self._helper_deaths = 0

    def close(self, timeout: float = 10.0) -> None:
        super().close(timeout)
        with self._sync_cond:
            thread = self._sync_thread
            self._sync_cond.notify_all()
        helper, loop = self._helper, self._helper_loop
        if helper is not None and loop is not None:
            try:
                loop.call_soon_threadsafe(self._drop_helper)
            except RuntimeError:  # its loop is closed (the listener stopped first): nothing watches the pipe now
                self._helper = None
                helper.close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    async def submit(self, parsed: ParsedWebhook) -> IngestResult:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[IngestResult] = loop.create_future()
        self._pending.append((parsed, fut))
        if len(self._pending) >= MAX_BATCH:
            self._flush()
        elif not self._scheduled and not self._syncing:  # a sync under way flushes when it ends
            self._scheduled = True
            loop.call_soon(self._flush)
        return await fut

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
        refused = refusal_of(exc) if exc is not None else None
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
