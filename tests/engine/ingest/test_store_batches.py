"""WebhookStore batches on both databases: text-only batches from known contacts take the one-statement way on a
server (a transaction of its own, committed when it returns); anything else takes the usual transaction."""

from __future__ import annotations

import contextlib

import psycopg
import pytest
from sqlalchemy import text

from engine.db import Database
from engine.ingest import WebhookStore, parse_webhook
from engine.simulator import media_message, status_update, text_message


def _texts(n: int, *, sender: str = "15550001111", name: str = "Ana") -> list:
    return [parse_webhook(text_message(f"hello {i}", wa_id=sender, name=name)) for i in range(n)]


@pytest.fixture
def store_and_spy(database: Database, monkeypatch: pytest.MonkeyPatch) -> tuple[WebhookStore, list[int]]:
    store = WebhookStore(database)
    entered: list[int] = []
    real = store.backend.one_statement

    @contextlib.contextmanager
    def counted(conn):
        with real(conn) as cursor:
            entered.append(1)
            yield cursor

    monkeypatch.setattr(store.backend, "one_statement", counted)
    yield store, entered
    store.reset()


def _count(database: Database, sql: str) -> int:
    with database.engine.connect() as c:
        return c.execute(text(sql)).scalar_one()


@pytest.mark.both_backends
def test_known_contacts_texts_are_stored_once_and_committed(database: Database, store_and_spy) -> None:
    store, entered = store_and_spy
    first = _texts(1)
    assert [r.messages for r in store.store(first)] == [1]  # a new contact: the usual way
    assert entered == []
    batch = _texts(5)
    results = store.store(batch)
    assert [(r.messages, r.duplicates) for r in results] == [(1, 0)] * 5
    # On a server the batch took the one-statement way; an SQLite file has nothing to gain from it.
    assert entered == ([1] if database.backend.store_off_loop else [])
    assert _count(database, "select count(*) from chats") == 6  # seen from another connection: committed
    again = store.store(batch)  # Meta delivers the same bodies again
    assert [(r.messages, r.duplicates) for r in again] == [(0, 1)] * 5
    assert _count(database, "select count(*) from chats") == 6
    if database.backend.store_off_loop:
        driver = store._conn.connection.driver_connection
        assert driver.autocommit is False and driver.info.transaction_status.name == "IDLE"


@pytest.mark.both_backends
def test_a_batch_needing_more_than_an_insert_takes_the_transaction(database: Database, store_and_spy) -> None:
    store, entered = store_and_spy
    store.store(_texts(1))
    photo = media_message("image", "MEDIA1", "image/jpeg", wa_id="15550001111", name="Ana")
    wamid = photo["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    batch = [*_texts(2),
             parse_webhook(text_message("new contact", wa_id="15550002222", name="Bo")),
             parse_webhook(photo),
             parse_webhook(status_update(wamid, "read", recipient_id="15550001111"))]
    results = store.store(batch)
    assert [r.messages for r in results] == [1, 1, 1, 1, 0] and results[4].statuses == 1
    assert len(results[3].media_ids) == 1
    assert entered == []
    assert _count(database, "select count(*) from chats") == 5
    store.store(_texts(2, name="Ana Maria"))  # a contact's new name is an UPDATE too: the transaction
    assert entered == []
    assert _count(database, "select count(*) from contacts where name = 'Ana Maria'") == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # a file database has no connection to lose
def test_a_server_connection_lost_under_the_insert_raises_its_own_error_and_the_next_batch_reconnects(
        database: Database, store_and_spy) -> None:
    store, _entered = store_and_spy
    store.store(_texts(1))
    pid = store._conn.connection.driver_connection.info.backend_pid
    with database.engine.connect() as other:
        other.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})
        other.commit()
    with pytest.raises(psycopg.OperationalError):  # what the server said, not a complaint about autocommit
        store.store(_texts(3))
    assert [r.messages for r in store.store(_texts(2))] == [1, 1]
    assert _count(database, "select count(*) from chats") == 3
