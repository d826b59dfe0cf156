"""The group-commit writer for a store's database: a file's or a server's."""

from __future__ import annotations

from typing import Any

from engine.ingest import WebhookStore
from engine.listener.file_writer import FileWriter
from engine.listener.server_writer import ServerWriter
from engine.listener.writer import GroupCommitWriter


def writer_for(store: WebhookStore, **options: Any) -> GroupCommitWriter:
    """`ServerWriter` where a write is round trips to a server (PostgreSQL), else `FileWriter` (SQLite); `options`
    are theirs (`on_committed`, `on_refused`, `on_stored`, and the file writer's `sync_helper`)."""
    chosen = ServerWriter if store.backend.store_off_loop else FileWriter
    return chosen(store, **options)
