"""The group-commit writer: an answer waits for its batch to be durable, and duplicates count as duplicates.

SQLite: a webhook's future resolves only after a WAL sync that started after its batch committed (the sync is
held back here, the real one still called). PostgreSQL: the batch is stored by a thread of the writer's own,
one multi-row INSERT for the text messages, and the event loop is never the thread that talks to the server.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from engine.db import Database
from engine.ingest import WebhookStore, parse_webhook
from engine.listener.writer import GroupCommitWriter
from engine.simulator import new_wamid, status_update, text_message


def test_an_answer_waits_for_a_sync_that_started_after_its_commit(database: Database,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    store = WebhookStore(database)
    writer = GroupCommitWriter(store)
    assert not writer.off_loop
    gates = [threading.Event(), threading.Event()]
    started: list[int] = []  # batches committed when each sync began
    committed = [0]
    real_store, real_sync = store.store, store.sync

    def counting_store(parsed, *, sync=True):
        out = real_store(parsed, sync=sync)
        committed[0] += 1
        return out

    def held_sync() -> None:
        n = len(started)
        started.append(committed[0])
        assert gates[n].wait(10)
        real_sync()

    monkeypatch.setattr(store, "store", counting_store)
    monkeypatch.setattr(store, "sync", held_sync)

    async def scenario() -> None:
        first = asyncio.ensure_future(writer.submit(parse_webhook(text_message("first"))))
        await asyncio.sleep(0.2)
        assert committed[0] == 1 and started == [1]
        assert not first.done()  # committed, not yet synced: no answer
        second = asyncio.ensure_future(writer.submit(parse_webhook(text_message("second"))))
        await asyncio.sleep(0.2)
        assert committed[0] == 2 and started == [1]  # committed while the first sync runs
        gates[0].set()
        assert (await asyncio.wait_for(first, 5)).messages == 1
        await asyncio.sleep(0.2)
        assert started == [1, 2]  # a second sync, begun after the second commit
        assert not second.done()  # the first sync began before its commit: it does not count
        gates[1].set()
        assert (await asyncio.wait_for(second, 5)).messages == 1

    try:
        asyncio.run(scenario())
    finally:
        for g in gates:
            g.set()
        store.reset()


@pytest.mark.both_backends
def test_a_batch_counts_duplicates_and_keeps_order(database: Database, database_url: str | None) -> None:
    store = WebhookStore(database)
    writer = GroupCommitWriter(store)
    assert writer.off_loop == (database_url is not None)
    loop_thread: list[threading.Thread] = []
    store_threads: set[str] = set()
    real_store = store.store

    def recording_store(parsed, *, sync=True):
        store_threads.add(threading.current_thread().name)
        return real_store(parsed, sync=sync)

    store.store = recording_store  # type: ignore[method-assign]
    a, b = new_wamid(), new_wamid()
    bodies = [text_message("one", wamid=a), text_message("again", wamid=a), text_message("two", wamid=b),
              status_update(b, "read"), text_message("three")]

    async def scenario() -> list:
        loop_thread.append(threading.current_thread())
        return await asyncio.gather(*(writer.submit(parse_webhook(body)) for body in bodies))

    try:
        results = asyncio.run(scenario())
        again = asyncio.run(scenario())
    finally:
        store.reset()
    assert [(r.messages, r.duplicates, r.statuses) for r in results] == [
        (1, 0, 0), (0, 1, 0), (1, 0, 0), (0, 0, 1), (1, 0, 0)]
    assert [(r.messages, r.duplicates) for r in again][:3] == [(0, 1), (0, 1), (0, 1)]
    if database_url is not None:
        assert loop_thread[0].name not in store_threads  # no round trip on the event loop
