"""Backups with SQLite's online backup API; restore checks the file and keeps the current database first."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from mediadesk_testkit import sql

from engine.config import Config
from engine.db import Database
from engine.db.backup import backup_database, check_integrity, list_backups, restore_database
from engine.db.migrate import migrate
from engine.errors import DatabaseError
from engine.runtime import MediaDeskEngine
from engine.simulator import text_message


def chats(db: Path) -> int:
    return int(sql(db, "select count(*) from chats")[0][0])


@pytest.fixture
def engine_with_data(config: Config) -> MediaDeskEngine:
    eng = MediaDeskEngine(config)
    eng.open()
    eng.ingest([text_message(f"message {i}") for i in range(5)])
    yield eng
    eng.stop()


def test_backup_is_a_complete_database_in_backups_dir(engine_with_data: MediaDeskEngine, config: Config) -> None:
    path = engine_with_data.backup()
    assert path.parent == config.data_dir / "backups"
    assert path.name.startswith("mediadesk-") and path.suffix == ".db"
    check_integrity(path)
    assert chats(path) == 5
    assert list_backups(config.backups_dir) == [path]
    assert not list(config.backups_dir.glob("*.partial"))


def test_backup_while_the_database_is_being_written(engine_with_data: MediaDeskEngine, config: Config) -> None:
    """WAL: rows committed but not yet checkpointed are in the backup too."""
    engine_with_data.ingest([text_message("late")])
    path = backup_database(config.db_path, config.backups_dir, label="wal")
    assert chats(path) == 6


def test_backups_get_distinct_names(config: Config, database: Database) -> None:
    names = {backup_database(config.db_path, config.backups_dir).name for _ in range(3)}
    assert len(names) == 3


def test_backup_without_a_database_is_a_clear_error(config: Config) -> None:
    with pytest.raises(DatabaseError, match="no database to back up"):
        backup_database(config.db_path, config.backups_dir)


def test_restore_replaces_the_database_and_keeps_the_current_one_first(
        engine_with_data: MediaDeskEngine, config: Config) -> None:
    snapshot = engine_with_data.backup()
    engine_with_data.ingest([text_message(f"after backup {i}") for i in range(3)])
    assert chats(config.db_path) == 8
    safety = engine_with_data.restore(snapshot)
    assert safety is not None and "before-restore" in safety.name
    assert chats(safety) == 8  # what was replaced is kept
    assert chats(config.db_path) == 5
    # the engine keeps working on the restored database
    engine_with_data.ingest([text_message("after restore")])
    assert chats(config.db_path) == 6


@pytest.mark.parametrize("damage", ["garbage", "truncated", "not-mediadesk", "missing", "empty"])
def test_restore_refuses_a_damaged_file_and_changes_nothing(config: Config, database: Database, tmp_path: Path,
                                                            damage: str) -> None:
    database.dispose()
    good = backup_database(config.db_path, config.backups_dir)
    bad = tmp_path / f"{damage}.db"
    if damage == "garbage":
        bad.write_bytes(b"this is not an sqlite database at all" * 100)
    elif damage == "truncated":
        data = good.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
        # a half file can still open; the integrity check has to catch it
    elif damage == "not-mediadesk":
        with sqlite3.connect(bad) as conn:
            conn.execute("create table notes (x)")
    elif damage == "empty":
        bad.write_bytes(b"")
    original = config.db_path.read_bytes()
    before = list_backups(config.backups_dir)
    with pytest.raises(DatabaseError) as err:
        restore_database(bad, config.db_path, config.backups_dir)
    assert str(bad) in str(err.value)
    assert "\n" not in str(err.value)
    assert config.db_path.read_bytes() == original
    assert list_backups(config.backups_dir) == before


def test_corrupted_page_is_caught_by_the_integrity_check(config: Config, database: Database, tmp_path: Path) -> None:
    eng = MediaDeskEngine(config)
    eng.open()
    eng.ingest([text_message("x" * 2000) for _ in range(50)])
    eng.stop()
    database.dispose()
    copy = tmp_path / "copy.db"
    shutil.copyfile(backup_database(config.db_path, config.backups_dir), copy)
    page_size = int(sql(copy, "pragma page_size")[0][0])
    root = int(sql(copy, "select rootpage from sqlite_master where name = 'chats'")[0][0])
    data = bytearray(copy.read_bytes())
    start = (root - 1) * page_size
    data[start:start + 64] = b"\xa5" * 64  # the chats table's b-tree page header, scribbled over
    copy.write_bytes(bytes(data))
    with pytest.raises(DatabaseError):
        check_integrity(copy)


def test_restore_on_a_data_dir_without_a_database(config: Config, database: Database, tmp_path: Path) -> None:
    database.dispose()
    good = backup_database(config.db_path, config.backups_dir)
    fresh = config.with_changes(data_dir=tmp_path / "fresh")
    fresh.data_dir.mkdir()
    assert restore_database(good, fresh.db_path, fresh.backups_dir) is None
    check_integrity(fresh.db_path)
    migrate(fresh)
