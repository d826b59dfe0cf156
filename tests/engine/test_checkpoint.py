"""The listener's connection never checkpoints inside a webhook batch; the checkpointer thread does."""

from __future__ import annotations

import sqlite3

from engine.config import Config
from engine.db import Database
from engine.db.checkpoint import Checkpointer
from engine.ingest import WebhookStore, parse_webhook
from engine.simulator import text_message


def test_store_leaves_the_wal_to_the_checkpointer(database: Database, config: Config) -> None:
    store = WebhookStore(database)
    try:
        store.store([parse_webhook(text_message(f"hello {i}")) for i in range(50)])
        conn = store._conn.connection.driver_connection
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        with sqlite3.connect(config.db_path) as reader:
            before = reader.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        # A PASSIVE checkpoint through a fresh connection copies every frame the batch wrote.
        assert before[0] == 0 and before[1] == before[2] and before[1] > 0
        Checkpointer(config.db_path).checkpoint()  # and the checkpointer's own pass works on a live database
        assert store.store([parse_webhook(text_message("after the checkpoint"))])[0].messages == 1
    finally:
        store.reset()
