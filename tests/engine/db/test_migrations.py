"""Alembic migrations on real SQLite files: migrate -> rollback -> migrate, with and without data."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from mediadesk_testkit import build_config, fixture_payloads, sql

from engine.config import Config
from engine.db.backup import list_backups
from engine.db.migrate import alembic_config, current_revision, head_revision, migrate, needs_migration, rollback
from engine.errors import DatabaseError
from engine.runtime import MediaDeskEngine

BASELINE = "0001_baseline"
PLAN = "0003_media_processing_status"  # the plan's revision: processing_status, processed_at, metadata
PLAN_COLUMNS = {"processing_status", "processed_at", "metadata"}
TABLES = {"workspaces", "contacts", "chats", "chat_media", "media_attempts", "settings"}


def revisions(cfg: Config) -> list[str]:
    """Every revision, baseline first."""
    script = ScriptDirectory.from_config(alembic_config(cfg))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def columns(db: Path, table: str) -> list[str]:
    return sorted(r[1] for r in sql(db, f"pragma table_info({table})"))


def tables(db: Path) -> set[str]:
    return {r[0] for r in sql(db, "select name from sqlite_master where type='table'")}


def indexes(db: Path, table: str) -> set[str]:
    return {r[1] for r in sql(db, f"pragma index_list({table})")}


BASELINE_COLUMNS = {
    "workspaces": "id, name, phone_number_id, waba_id, graph_api_version, settings, created_at",
    "contacts": "id, workspace_id, wa_id, name, created_at",
    "chats": "id, workspace_id, contact_id, wamid, direction, type, body, metadata, status, created_at, media_id",
    "chat_media": "id, name, path, type, size, location, wa_media_id, sha256, created_at, updated_at",
    "media_attempts": "id, media_id, started_at, finished_at, outcome, error, bytes",
    "settings": "key, value",
}


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every row of every table, in the columns every revision has."""
    return {t: [tuple(r) for r in sql(db, f"select {cols} from {t} order by 1")]
            for t, cols in BASELINE_COLUMNS.items()}


def test_revisions_start_at_baseline_and_include_the_plan(config: Config) -> None:
    revs = revisions(config)
    # The plan's revision is head: `mediadesk rollback` (one revision down) takes exactly it off.
    assert revs[0] == BASELINE and revs[-1] == PLAN
    assert head_revision(config) == revs[-1]


def test_fresh_data_dir_migrate_rollback_migrate(config: Config) -> None:
    db, head = config.db_path, head_revision(config)
    assert current_revision(config) is None
    assert needs_migration(config)
    first = migrate(config)
    assert (first.before, first.after) == (None, head)
    assert first.backup is None  # nothing to back up yet
    assert TABLES <= tables(db)
    at_head = {t: columns(db, t) for t in TABLES}
    assert PLAN_COLUMNS <= set(at_head["chat_media"])
    assert "ix_chat_media_processing_status" in indexes(db, "chat_media")
    assert not needs_migration(config)

    back = rollback(config)
    assert (back.before, back.after) == (head, revisions(config)[-2])
    assert back.backup is not None and back.backup.exists()

    again = migrate(config)
    assert (again.before, again.after) == (back.after, head)
    assert again.backup is not None and again.backup.exists()
    assert {t: columns(db, t) for t in TABLES} == at_head
    backups = list_backups(config.backups_dir)
    assert len(backups) >= 2
    assert all(p.parent == config.data_dir / "backups" for p in backups)
    assert any("before-rollback" in p.name for p in backups)
    assert any("before-migrate" in p.name for p in backups)


def test_rolling_back_to_baseline_removes_the_plans_columns_and_migrate_restores_them(config: Config) -> None:
    db = config.db_path
    migrate(config)
    at_head = {t: columns(db, t) for t in TABLES}
    while current_revision(config) != BASELINE:
        rollback(config)
    assert not PLAN_COLUMNS & set(columns(db, "chat_media"))
    assert "ix_chat_media_processing_status" not in indexes(db, "chat_media")
    assert {t: columns(db, t) for t in BASELINE_COLUMNS} == {
        t: sorted(c.strip() for c in cols.split(",")) for t, cols in BASELINE_COLUMNS.items()}
    migrate(config)
    assert {t: columns(db, t) for t in TABLES} == at_head
    assert len(list_backups(config.backups_dir)) == len(revisions(config))  # one per rollback, one for migrate


def test_migrate_at_head_is_a_no_op_without_a_backup(config: Config) -> None:
    migrate(config)
    result = migrate(config)
    assert not result.changed and result.backup is None
    assert "already at" in result.describe()
    assert list_backups(config.backups_dir) == []


def test_rollback_without_a_database_is_a_clear_error(config: Config) -> None:
    with pytest.raises(DatabaseError, match="no database"):
        rollback(config)


def ingest_fixtures(cfg: Config) -> None:
    eng = MediaDeskEngine(cfg)
    eng.open()
    try:
        eng.ingest(json.loads(f.read_text(encoding="utf-8")) for f in fixture_payloads())
    finally:
        eng.stop()


def test_cycle_on_a_database_holding_data_loses_nothing(config: Config) -> None:
    db = config.db_path
    migrate(config)
    ingest_fixtures(config)
    with sqlite3.connect(db) as conn:  # one media finished with an attempt, one failed: both must survive
        conn.execute("update chat_media set path = 'uploads/x.jpg', processing_status = 'completed' where id = 1")
        conn.execute("update chat_media set processing_status = 'failed', metadata = '{\"reason\": \"gone\"}' "
                     "where id = 2")
        conn.execute("insert into media_attempts (media_id, started_at, outcome) values (1, '2026-01-01', 'completed')")
        conn.execute("insert into settings (key, value) values ('storage_system', 'local')")
    before = snapshot(db)
    assert len(before["chats"]) >= 30 and len(before["chat_media"]) >= 5
    assert all(row[2] is not None for row in before["chats"] if row[4] == "in")  # every inbound chat has a contact
    assert any(row[10] is not None for row in before["chats"])  # and media are linked
    # one revision down and up again (the console's Roll back / Migrate)
    rollback(config)
    assert snapshot(db) == before
    migrate(config)
    assert snapshot(db) == before
    # all the way down to the baseline and up again
    while current_revision(config) != BASELINE:
        rollback(config)
        assert snapshot(db) == before, f"rows changed rolling back to {current_revision(config)}"
    migrate(config)
    assert snapshot(db) == before
    status = dict(sql(db, "select id, processing_status from chat_media"))
    # A stored file means done; everything else waits for a download again after the round trip.
    assert status[1] == "completed"
    assert all(s == "pending" for mid, s in status.items() if mid != 1)
    assert sql(db, "pragma integrity_check")[0][0] == "ok"
    assert sql(db, "pragma foreign_key_check") == []
    assert len(list_backups(config.backups_dir)) >= 2


def test_engine_start_migrates_an_older_database_with_a_backup(config: Config) -> None:
    migrate(config)
    ingest_fixtures(config)
    rollback(config)
    n_backups = len(list_backups(config.backups_dir))
    eng = MediaDeskEngine(config)
    try:
        result = eng.open()
        assert (result.before, result.after) == (revisions(config)[-2], head_revision(config))
        assert result.backup is not None and result.backup.exists()
        assert "migrated from" in result.describe()
    finally:
        eng.stop()
    assert len(list_backups(config.backups_dir)) == n_backups + 1
    assert current_revision(config) == head_revision(config)


def test_an_unstamped_database_from_before_alembic_is_adopted(config: Config) -> None:
    """The plan's original schema (tables, no alembic_version): stamped as baseline, then upgraded."""
    migrate(config)
    while current_revision(config) != BASELINE:
        rollback(config)
    with sqlite3.connect(config.db_path) as conn:
        conn.execute("insert into workspaces (name, settings, created_at) values ('Old', '{}', '2024-01-01')")
        conn.execute("insert into chat_media (name, path, location, created_at, updated_at) "
                     "values ('a.jpg', 'uploads/a.jpg', 'local', '2024-01-01', '2024-01-01')")
        conn.execute("drop table alembic_version")
    assert current_revision(config) == "0001_baseline(unstamped)"
    migrate(config)
    assert current_revision(config) == head_revision(config)
    assert sql(config.db_path, "select processing_status from chat_media")[0][0] == "completed"


def test_database_url_setting_is_honoured(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.db"
    cfg = build_config(tmp_path / "data", database_url=f"sqlite:///{other}")
    migrate(cfg)
    assert other.exists() and not cfg.db_path.exists()
    assert TABLES <= tables(other)
