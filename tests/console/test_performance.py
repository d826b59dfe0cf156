"""Opening a long chat costs a constant number of statements and stays well under 200 ms."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, insert, select

from console.conversation import PAGE, MessageListModel
from engine import MediaDeskEngine
from engine.db import Chat, ChatMedia, Contact, Workspace


def _fill(engine: MediaDeskEngine, wa_id: str, n: int) -> int:
    """`n` messages, every third with a completed media, written in bulk (ingest is tested elsewhere)."""
    start = datetime(2026, 1, 1)
    with engine.db.session() as s:
        wid = s.execute(select(Workspace.id)).scalar() or s.execute(
            insert(Workspace).values(name="w", phone_number_id="1", settings={}).returning(Workspace.id)).scalar()
        cid = s.execute(insert(Contact).values(workspace_id=wid, wa_id=wa_id, name=wa_id)
                        .returning(Contact.id)).scalar()
        media_rows = [dict(name=f"m{i}.jpg", path=f"uploads/m{i}.jpg", type="image/jpeg", size=1000,
                           processing_status="completed", meta={}, wa_media_id=f"{wa_id}-{i}")
                      for i in range(0, n, 3)]
        ids = list(s.execute(insert(ChatMedia).returning(ChatMedia.id), media_rows).scalars()) if media_rows else []
        media_of = dict(zip(range(0, n, 3), ids, strict=True))
        s.execute(insert(Chat), [dict(workspace_id=wid, contact_id=cid, wamid=f"{wa_id}.{i}", direction="in",
                                      type="image" if i in media_of else "text", body=f"message {i}", meta={},
                                      created_at=start + timedelta(seconds=i), media_id=media_of.get(i))
                                 for i in range(n)])
    return cid


def _open(qtbot: Any, engine: MediaDeskEngine, cid: int) -> tuple[int, float, MessageListModel]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    model = MessageListModel(engine)
    event.listen(engine.db.engine, "before_cursor_execute", count)
    try:
        started = time.perf_counter()
        with qtbot.waitSignal(model.loaded, timeout=5000):
            model.open_chat(cid)
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", count)
    return len(statements), elapsed, model


def test_opening_a_10000_message_chat_is_constant_and_fast(qtbot: Any, engine: MediaDeskEngine) -> None:
    small = _fill(engine, "10", 10)
    big = _fill(engine, "10000", 10_000)
    _open(qtbot, engine, small)  # warm the connection pool and statement cache
    n_small, _, _ = _open(qtbot, engine, small)
    n_big, elapsed, model = _open(qtbot, engine, big)
    assert n_big == n_small <= 3
    assert model.rowCount() == PAGE and model.has_older
    assert elapsed < 200, f"opening took {elapsed:.0f} ms"
    newest = model.message(PAGE - 1)
    assert newest.body == "message 9999" and newest.media.status == "completed"

    with qtbot.waitSignal(model.older_loaded, timeout=5000):
        model.load_older()
    assert model.rowCount() == 2 * PAGE and model.message(0).body == f"message {10_000 - 2 * PAGE}"
