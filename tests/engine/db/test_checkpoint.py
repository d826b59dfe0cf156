"""The listener's connection never checkpoints inside a webhook batch; the store's checkpointer thread does."""

from __future__ import annotations

from engine.config import Config
from engine.db import Database
from engine.db.checkpoint import Checkpointer
from engine.ingest import WebhookStore, parse_webhook
from engine.simulator import text_message


def test_store_leaves_the_wal_to_its_checkpointer(database: Database, config: Config) -> None:
    store = WebhookStore(database)
    try:
        store.store([parse_webhook(text_message(f"hello {i}")) for i in range(50)])
        conn = store._conn.connection.driver_connection
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        checkpointer = store._maintenance
        assert checkpointer is not None and checkpointer._thread.is_alive()
        busy, frames, done = Checkpointer(config.db_path).checkpoint()
        assert busy == 0 and frames > 0 and done == frames  # the batch's frames all reach the database
    finally:
        store.reset()
    # reset() (maintenance, stop) takes the thread down with the connection
    assert store._maintenance is None and not checkpointer._thread.is_alive()
    assert store.store([parse_webhook(text_message("after a reset"))])[0].messages == 1
    store.reset()
