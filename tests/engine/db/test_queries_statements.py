"""Read queries load media eagerly: a conversation costs the same number of SQL statements at any size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event

from engine.db import Chat, ChatMedia, Contact, Database, MediaStatus, Workspace, queries


def seed(db: Database, wa_id: str, n: int, *, failed_every: int = 7) -> int:
    """A contact with `n` messages, every one carrying a media row; returns the contact id."""
    start = datetime(2026, 1, 1)
    with db.session() as s:
        ws = s.query(Workspace).first()
        if ws is None:
            ws = Workspace(name="Bakery", phone_number_id="PN", settings={})
            s.add(ws)
            s.flush()
        contact = Contact(workspace_id=ws.id, wa_id=wa_id, name=f"Customer {wa_id}")
        s.add(contact)
        s.flush()
        for i in range(n):
            status = MediaStatus.FAILED if i % failed_every == 0 else MediaStatus.COMPLETED
            media = ChatMedia(name=f"photo-{i}.jpg", type="image/jpeg", size=1000 + i, processing_status=status,
                              path=None if status == MediaStatus.FAILED else f"uploads/{wa_id}-{i}.jpg",
                              meta={"reason": "gone", "error": "gone", "attempts": 1} if status == "failed" else {},
                              wa_media_id=f"{wa_id}-{i}")
            s.add(media)
            s.flush()
            s.add(Chat(workspace_id=ws.id, contact_id=contact.id, wamid=f"wamid.{wa_id}.{i}", type="image",
                       body=f"caption {i}", created_at=start + timedelta(seconds=i), media_id=media.id))
        return contact.id


@contextmanager
def count_statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def open_conversation(db: Database, contact_id: int) -> tuple[list[queries.MessageView], list[str]]:
    with count_statements(db) as seen, db.sessions() as s:
        views = queries.conversation(s, contact_id, limit=None)  # the whole chat, not one page
        # touching every media must not load anything more
        touched = [(v.media.status, v.media.name, v.media.reason) for v in views if v.media]
        assert len(touched) == len(views)
    return views, list(seen)


def test_conversation_statement_count_is_constant(database: Database) -> None:
    small = seed(database, "111", 10)
    large = seed(database, "222", 1000)
    small_views, small_sql = open_conversation(database, small)
    large_views, large_sql = open_conversation(database, large)
    assert len(small_views) == 10 and len(large_views) == 1000
    assert len(large_sql) == len(small_sql), large_sql
    assert len(large_sql) <= 2


def test_conversation_is_oldest_first_with_media_fields(database: Database) -> None:
    contact = seed(database, "333", 20)
    views, _ = open_conversation(database, contact)
    assert [v.body for v in views] == [f"caption {i}" for i in range(20)]
    first = views[0].media
    assert first is not None and first.status == "failed" and first.reason == "gone" and first.attempts == 1
    assert views[1].media is not None and views[1].media.status == "completed"
    limited, _ = (lambda: (lambda s: (queries.conversation(s, contact, limit=5), None))(database.sessions()))()
    assert [v.body for v in limited] == [f"caption {i}" for i in range(15, 20)]


def test_chat_list_statement_count_is_constant(database: Database) -> None:
    for i in range(3):
        seed(database, f"4{i:02d}", 5)
    with count_statements(database) as few, database.sessions() as s:
        summaries_few = queries.chat_summaries(s)
    for i in range(3, 60):
        seed(database, f"4{i:02d}", 5)
    with count_statements(database) as many, database.sessions() as s:
        summaries_many = queries.chat_summaries(s)
    assert len(summaries_few) == 3 and len(summaries_many) == 60
    assert len(many) == len(few) <= 2
    top = summaries_many[0]
    assert top.messages == 5 and top.failed_media == 1  # i = 0 fails (failed_every=7)
    assert queries.chat_summaries(database.sessions(), search="459")[0].wa_id == "459"


def test_failed_media_ids_and_single_media(database: Database) -> None:
    seed(database, "555", 15)
    with database.sessions() as s:
        failed = queries.failed_media_ids(s)
        assert len(failed) == 3  # 0, 7, 14
        view = queries.media(s, failed[0])
        assert view is not None and view.status == "failed"
        assert queries.media(s, 10_000_000) is None
