"""A completed file is durable before its row says so: bytes synced, renamed into place, its folder synced;
and every database commit is synced (SQLite synchronous=FULL, or the listener's own WAL sync), so a 200 to
Meta survives a power cut.

The sync calls are observed (os.fsync wrapped, the real one still called), never replaced.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.db import Database
from engine.ingest import WebhookStore, parse_webhook
from engine.simulator import text_message
from engine.storage import LocalStorage


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The path of every file or folder os.fsync is called on, in order."""
    seen: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name the synced files")
    monkeypatch.setattr(os, "fsync", fsync)
    return seen


def test_store_syncs_the_folder_after_the_rename(tmp_path: Path, synced: list[str]) -> None:
    storage = LocalStorage(tmp_path)
    key = "uploads/media/whatsapp/1/2026/01/photo-1.jpg"
    folder = storage.temp_dir(key)  # new dated folders: each one's parent is synced as it is made
    made = [str((tmp_path / p).resolve()) for p in ("", "uploads", "uploads/media", "uploads/media/whatsapp",
                                                     "uploads/media/whatsapp/1", "uploads/media/whatsapp/1/2026")]
    assert synced == made
    synced.clear()
    tmp = folder / "photo-1.jpg.part"
    tmp.write_bytes(b"bytes")
    storage.store(tmp, key, content_type="image/jpeg")
    assert synced == [str(folder)]  # the rename is in the folder: synced before store() returns
    assert (folder / "photo-1.jpg").read_bytes() == b"bytes"
    synced.clear()
    storage.temp_dir(key)
    assert synced == []  # an existing folder costs nothing


def test_every_commit_is_synced(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL: SQLite syncs each commit
    # The listener's store commits with NORMAL and syncs the WAL itself (off the event loop, in the writer):
    # a store() returns synced, a store(sync=False) once sync() has returned.
    synced: list[str] = []
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    store = WebhookStore(database)
    wal = str(Path(database.engine.url.database).resolve()) + "-wal"
    try:
        store.store([parse_webhook(text_message("durable"))])
        assert synced == [wal]
        store.store([parse_webhook(text_message("later"))], sync=False)
        assert synced == [wal]
        store.sync()
        assert synced == [wal, wal]
    finally:
        store.reset()
