"""What may commit without its own sync: a claim (lost to a power cut, the row is only taken again) and the
queue file (the rows are the truth). Everything else keeps SQLite's FULL."""

from __future__ import annotations

import os
import sqlite3

import pytest
from sqlalchemy import text

from engine.config import Config
from engine.db import Database, checkpoint
from engine.db.backend import backend_for


def test_an_unsynced_session_commits_with_normal_and_leaves_its_connection_full(database: Database) -> None:
    with database.unsynced_session() as s:
        assert s.execute(text("pragma synchronous")).scalar() == 1
        s.execute(text("insert into settings (key, value) values ('probe', '\"1\"')"))
    with database.session() as s:
        assert s.execute(text("select value from settings where key = 'probe'")).scalar() == '"1"'  # committed
        assert s.execute(text("pragma synchronous")).scalar() == 2  # the pooled connection is FULL again
    try:
        with database.unsynced_session() as s:
            s.execute(text("insert into settings (key, value) values ('gone', '\"1\"')"))
            raise RuntimeError("the work failed")
    except RuntimeError:
        pass
    with database.session() as s:
        assert s.execute(text("select count(*) from settings where key = 'gone'")).scalar() == 0  # rolled back
        assert s.execute(text("pragma synchronous")).scalar() == 2


def test_the_queue_file_syncs_at_checkpoints_only(config: Config) -> None:
    huey = backend_for(config.sqlalchemy_url).make_huey(config, "probe")
    conn = huey.storage.conn
    assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert conn.execute("pragma synchronous").fetchone()[0] == 1


def test_a_durable_session_syncs_the_wal_after_its_commit_and_outside_the_write_lock(
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The WAL is synced once the commit is written (so the commit is durable when the block ends), and by then
    another connection can write: the sync no longer holds SQLite's write lock."""
    seen: list[tuple[str, int]] = []

    def datasync(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else "?"
        other = sqlite3.connect(str(database.backend.path), timeout=0)  # fails at once if the lock is held
        try:
            other.execute("insert into settings (key, value) values ('beside', '\"1\"')")
            other.commit()
        finally:
            other.close()
        with database.session() as s:
            n = s.execute(text("select count(*) from settings where key = 'durable'")).scalar()
        seen.append((name, n))

    monkeypatch.setattr(checkpoint, "_datasync", datasync)
    with database.durable_session() as s:
        assert s.execute(text("pragma synchronous")).scalar() == 1
        s.execute(text("insert into settings (key, value) values ('durable', '\"1\"')"))
        assert seen == [], "nothing is synced before the commit"
    assert len(seen) == 1
    name, committed = seen[0]
    assert committed == 1, "the sync came after the commit"
    assert name == "?" or name.endswith("-wal")
