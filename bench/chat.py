"""Figure 7: opening a chat of 10,000 messages with media through `engine.db.queries.conversation`.

The reference is the same join done with the bare sqlite3 module (rows as tuples, no ORM). Statements are
counted with a SQLAlchemy `before_cursor_execute` listener, for a chat of 100 and one of 10,000.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from datetime import datetime, timedelta
from typing import Any

from bench.common import Figure, engine_config, median, tmpdir

TARGET_MS = 200.0
BIG, SMALL = 10_000, 100


def _build(eng: Any) -> tuple[int, int]:
    from sqlalchemy import insert

    from engine.db.models import Chat, ChatMedia, Contact, Workspace

    t0 = datetime(2025, 1, 1)
    with eng.db.engine.begin() as c:
        ws = c.execute(insert(Workspace).values(name="bench", phone_number_id="PNID-BENCH")).inserted_primary_key[0]
        big = c.execute(insert(Contact).values(workspace_id=ws, wa_id="15550000001",
                                               name="Big")).inserted_primary_key[0]
        small = c.execute(insert(Contact).values(workspace_id=ws, wa_id="15550000002",
                                                 name="Small")).inserted_primary_key[0]
        mid = 0
        for cid, n in ((big, BIG), (small, SMALL)):
            media, chats = [], []
            for i in range(n):
                mid += 1
                at = t0 + timedelta(seconds=i)
                media.append(dict(id=mid, name=f"photo{i}.jpg", path=f"uploads/x/photo{i}-{mid}.jpg", type="image/jpeg",
                                  size=50_000 + i, location="local", processing_status="completed", processed_at=at,
                                  meta={"attempts": 1, "verified_sha256": "ab" * 32}, wa_media_id=f"W{mid}",
                                  created_at=at, updated_at=at))
                chats.append(dict(workspace_id=ws, contact_id=cid, wamid=f"wamid.CHAT{mid:07d}", direction="in",
                                  type="image", body=f"caption {i}", meta={}, created_at=at, media_id=mid))
            c.execute(insert(ChatMedia), media)
            c.execute(insert(Chat), chats)
    return int(big), int(small)


def _raw(path: str, cid: int) -> list[tuple]:
    with sqlite3.connect(path) as c:
        return c.execute(
            "select c.id, c.wamid, c.direction, c.type, c.body, c.status, c.created_at, c.metadata, m.id, "
            "m.processing_status, m.type, m.name, m.size, m.path, m.location, m.metadata, m.wa_media_id "
            "from chats c left join chat_media m on m.id = c.media_id where c.contact_id = ? "
            "order by c.created_at desc, c.id desc", (cid,)).fetchall()[::-1]


def run(quick: bool, name: str = "chat") -> list[Figure]:
    from sqlalchemy import event

    from engine.db import queries
    from engine.runtime import MediaDeskEngine

    rounds = 5 if quick else 15
    work = tmpdir("chat")
    eng = MediaDeskEngine(engine_config(work / "data", "http://127.0.0.1:9"))
    eng.open()
    statements: list[str] = []
    try:
        big, small = _build(eng)
        event.listen(eng.db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

        def open_chat(cid: int, **kw: Any) -> tuple[float, int, int]:
            statements.clear()
            t0 = time.perf_counter()
            with eng.db.session() as s:
                msgs = queries.conversation(s, cid, **kw)
            dt = time.perf_counter() - t0
            return dt * 1000, len(statements), len(msgs)

        open_chat(big)  # warm-up (statement cache, page cache)
        _raw(str(eng.cfg.db_path), big)
        subject, full, ref = [], [], []
        for _ in range(rounds):  # A B A B: the console's first page, everything, the bare sqlite3 join
            ms, n_page, got_page = open_chat(big)
            subject.append(ms)
            ms, n_big, got = open_chat(big, limit=None)
            full.append(ms)
            t0 = time.perf_counter()
            _raw(str(eng.cfg.db_path), big)
            ref.append((time.perf_counter() - t0) * 1000)
        _, n_small, got_small = open_chat(small, limit=None)
    finally:
        eng.stop()
        shutil.rmtree(work, ignore_errors=True)
    return [
        Figure("chat.open_10k", subject, "ms", f"< {TARGET_MS:.0f} ms", median(subject) < TARGET_MS,
               note=f"conversation() default page: newest {got_page} of {BIG} messages with media, "
                    f"{n_page} statement(s)"),
        Figure("chat.read_all_10k", full, "ms", "report (opening reads a page)", None,
               note=f"conversation(limit=None): all {got} messages (exports, CLI); bare sqlite3 join of all "
                    f"{median(ref):.1f} ms"),
        Figure("chat.statements", [float(n_small), float(n_big)], "stmts", "constant (100 vs 10,000)",
               n_small == n_big, note=f"{n_small} SQL statements for {got_small} messages, {n_big} for {got}"),
    ]
