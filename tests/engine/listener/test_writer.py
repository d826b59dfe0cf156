"""The group-commit writer: an answer waits for its batch to be durable, and duplicates count as duplicates.

SQLite: a webhook's future resolves only after a WAL sync that started after its batch committed (the sync
helper is held back here, the real fdatasync still called); what arrives during a sync commits as one batch.
PostgreSQL: one batch at a time. Text messages from known contacts are one multi-row INSERT sent from the event
loop on an async connection; any other batch is stored by a thread of the writer's own, so the loop never waits
on a round trip.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.db import Database
from engine.db.sync_helper import can_fork
from engine.dbfaults import DISK_FULL, WriteRefused
from engine.ingest import WebhookStore, parse_webhook
from engine.listener.writer import GroupCommitWriter
from engine.listener.writer_for import writer_for
from engine.simulator import new_wamid, status_update, text_message


class HeldHelper:
    """A sync helper whose syncs end when the test says: the real fdatasync, answered through a real pipe."""

    made: list[HeldHelper] = []

    def __init__(self, wal: Path) -> None:
        self.wal = wal
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        self.asked = 0
        self.closed = False
        HeldHelper.made.append(self)

    def fileno(self) -> int:
        return self._r

    def request(self) -> None:
        self.asked += 1

    def forget(self) -> None:
        pass

    def answer(self, code: int = 0) -> None:
        fd = os.open(self.wal, os.O_RDONLY)
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)
        os.write(self._w, bytes((code,)))

    def die(self) -> None:
        os.close(self._w)  # what the writer sees when the process is gone: the end of its answers

    def answers(self) -> list[OSError | None]:
        data = os.read(self._r, 64)
        if not data:
            self.closed = True
        return [None if c == 0 else OSError(c, os.strerror(c)) for c in data]

    def close(self) -> None:
        os.close(self._r)
        if not self.closed:
            os.close(self._w)
        self.closed = True


@pytest.fixture
def held(database: Database) -> Iterator[tuple[GroupCommitWriter, list[int]]]:
    """A writer whose syncs the test ends by hand, and the number of batches it has committed so far."""
    HeldHelper.made.clear()
    store = WebhookStore(database)
    committed = [0]
    real_store = store.store

    def counting_store(parsed, *, sync=True):
        out = real_store(parsed, sync=sync)
        committed[0] += 1
        return out

    store.store = counting_store  # type: ignore[method-assign]
    writer = writer_for(store, sync_helper=HeldHelper)
    yield writer, committed
    writer.close()
    store.reset()


async def until(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the writer did not get there")


def test_an_answer_waits_for_the_sync_after_its_commit_and_arrivals_meanwhile_commit_together(
        held: tuple[GroupCommitWriter, list[int]]) -> None:
    writer, committed = held

    async def scenario() -> None:
        first = asyncio.ensure_future(writer.submit(parse_webhook(text_message("first"))))
        await until(lambda: bool(HeldHelper.made) and HeldHelper.made[0].asked == 1)
        helper = HeldHelper.made[0]
        assert committed[0] == 1 and not first.done()  # committed, not yet synced: no answer
        later = [asyncio.ensure_future(writer.submit(parse_webhook(text_message(f"later {i}")))) for i in range(3)]
        await asyncio.sleep(0.1)
        assert committed[0] == 1 and not any(f.done() for f in later)  # they wait for the sync under way
        helper.answer()
        assert (await asyncio.wait_for(first, 5)).messages == 1
        await until(lambda: helper.asked == 2)
        assert committed[0] == 2  # the three in one batch, and a sync begun after it
        assert not any(f.done() for f in later)
        helper.answer()
        assert [r.messages for r in await asyncio.wait_for(asyncio.gather(*later), 5)] == [1, 1, 1]
        assert len(HeldHelper.made) == 1

    asyncio.run(scenario())


def test_a_sync_refused_for_a_full_disk_answers_each_webhook_with_the_reason(
        held: tuple[GroupCommitWriter, list[int]]) -> None:
    writer, _ = held
    refused: list[WriteRefused] = []
    writer.on_refused = refused.append

    async def scenario() -> None:
        first = asyncio.ensure_future(writer.submit(parse_webhook(text_message("first"))))
        await until(lambda: bool(HeldHelper.made) and HeldHelper.made[0].asked == 1)
        HeldHelper.made[0].answer(errno.ENOSPC)
        with pytest.raises(WriteRefused) as caught:
            await asyncio.wait_for(first, 5)
        assert caught.value.reason == DISK_FULL and refused and refused[0].reason == DISK_FULL

    asyncio.run(scenario())


def test_a_helper_that_dies_mid_sync_is_replaced_and_the_batch_synced_again(
        held: tuple[GroupCommitWriter, list[int]]) -> None:
    writer, committed = held

    async def scenario() -> None:
        first = asyncio.ensure_future(writer.submit(parse_webhook(text_message("first"))))
        await until(lambda: bool(HeldHelper.made) and HeldHelper.made[0].asked == 1)
        HeldHelper.made[0].die()
        await until(lambda: len(HeldHelper.made) == 2 and HeldHelper.made[1].asked == 1)
        assert not first.done() and committed[0] == 1  # committed once, synced by the new helper
        HeldHelper.made[1].answer()
        assert (await asyncio.wait_for(first, 5)).messages == 1

    asyncio.run(scenario())


@pytest.mark.skipif(not can_fork(), reason="the forked helper needs os.fork")
def test_the_real_helper_killed_between_batches_is_replaced(database: Database) -> None:
    store = WebhookStore(database)
    writer = writer_for(store)

    async def scenario() -> None:
        assert (await writer.submit(parse_webhook(text_message("one")))).messages == 1
        assert writer._helper is not None
        os.kill(writer._helper.pid, signal.SIGKILL)
        await asyncio.sleep(0.1)
        assert (await asyncio.wait_for(writer.submit(parse_webhook(text_message("two"))), 5)).messages == 1

    try:
        asyncio.run(scenario())
    finally:
        writer.close()
        store.reset()


@pytest.mark.both_backends
def test_a_batch_counts_duplicates_and_keeps_order(database: Database, database_url: str | None) -> None:
    store = WebhookStore(database)
    writer = writer_for(store)
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


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_text_from_known_contacts_is_one_insert_from_the_loop_and_the_rest_the_usual_way(
        database: Database, database_url: str) -> None:
    store = WebhookStore(database)
    refusals: list[WriteRefused] = []
    writer = writer_for(store, on_refused=refusals.append)
    assert writer._inserts is not None
    usual: list[int] = []
    real_store = store.store

    def recording_store(parsed, *, sync=True):
        usual.append(len(parsed))
        return real_store(parsed, sync=sync)

    store.store = recording_store  # type: ignore[method-assign]
    sent: list[str] = []
    real_insert = writer._inserts.insert

    async def recording_insert(sql, params, generation):
        sent.append(sql)
        return await real_insert(sql, params, generation)

    writer._inserts.insert = recording_insert  # type: ignore[method-assign]
    first, again = new_wamid(), new_wamid()

    async def batch(bodies: list[dict]) -> list:
        return await asyncio.gather(*(writer.submit(parse_webhook(b)) for b in bodies), return_exceptions=True)

    async def scenario() -> tuple[list, list, list, list]:
        known = await batch([text_message("hello", wamid=first)])  # a new contact: the usual way
        texts = await batch([text_message("one more", wamid=again), text_message("one more", wamid=again),
                             text_message("hello", wamid=first)])
        with_status = await batch([text_message("and", wamid=new_wamid()), status_update(first, "read")])

        async def unknown_fault(sql, params, generation):
            raise RuntimeError("not a fault the engine knows")

        writer._inserts.insert = unknown_fault  # type: ignore[method-assign]
        fallback = await batch([text_message("still stored")])

        async def server_gone(sql, params, generation):
            import psycopg

            raise psycopg.OperationalError("server closed the connection unexpectedly")

        writer._inserts.insert = server_gone  # type: ignore[method-assign]
        refused = await batch([text_message("not stored now")])
        return known, texts, with_status, fallback + refused

    try:
        known, texts, with_status, last = asyncio.run(scenario())
    finally:
        writer.close()
        store.reset()
    assert [(r.messages, r.duplicates) for r in known] == [(1, 0)]
    assert [(r.messages, r.duplicates) for r in texts] == [(1, 0), (0, 1), (0, 1)]
    assert len(sent) == 1 and sent[0].count("), (") == 2  # the three as one INSERT
    assert [(r.messages, r.statuses) for r in with_status] == [(1, 0), (0, 1)]
    assert usual == [1, 2, 1]  # the new contact, the batch with a status, the fallback: never the texts alone
    assert last[0].messages == 1
    assert isinstance(last[1], WriteRefused) and last[1].reason == "database_unavailable"
    assert [r.reason for r in refusals] == ["database_unavailable"]
    stored = database.engine.raw_connection()
    try:
        cur = stored.cursor()
        cur.execute("select body from chats order by id")
        assert [r[0] for r in cur.fetchall()] == ["hello", "one more", "and", "still stored"]
    finally:
        stored.close()
