"""What may commit without its own sync: a claim (lost to a power cut, the row is only taken again) and the
queue file (the rows are the truth). Everything else keeps SQLite's FULL."""

from __future__ import annotations

from sqlalchemy import text

from engine.config import Config
from engine.db import Database
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
