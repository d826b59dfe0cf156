"""Real faults against a running engine: a schema rolled back by another process, a database locked past its
busy timeout, pending media whose task was lost, and what `mediadesk health` says about them.

Everything goes over real HTTP on loopback to the engine's listener; the rollback and migrate are the real
`mediadesk` commands in processes of their own. (The full disk is in tests/engine/test_disk_full.py.)
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from mediadesk_testkit import MEDIADESK_BIN, listener_url, media_row, post_webhook, sql, wait_until

import engine.db.backend as backend_module
import engine.maintenance as maintenance_module
from engine.config import Config
from engine.db import migrate as migrations
from engine.dbfaults import DATABASE_UNAVAILABLE, DISK_FULL, SCHEMA, classify
from engine.errors import DatabaseError
from engine.events import MaintenanceChanged
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator, media_message, text_message


def cli(cfg: Config, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIADESK_")}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    return subprocess.run([str(MEDIADESK_BIN), *args, "--data-dir", str(cfg.data_dir)], env=env,
                          capture_output=True, text=True, timeout=120)


def healthz(eng: MediaDeskEngine) -> dict[str, Any]:
    return requests.get(f"{listener_url(eng)}/healthz", timeout=10).json()


def revision(db_path: Path) -> str:
    return sql(db_path, "select version_num from alembic_version")[0][0]


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.exc_info]


def test_rollback_from_another_process_is_maintenance_until_migrate(engine: MediaDeskEngine, sim: CloudSimulator,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    states: list[Any] = []
    engine.events.subscribe(lambda e: states.append(e.state) if isinstance(e, MaintenanceChanged) else None)
    head = revision(engine.cfg.db_path)
    sim.add_media("RB-A", "image/jpeg")
    assert post_webhook(listener_url(engine), media_message("image", "RB-A", "image/jpeg")).status_code == 200
    wait_until(lambda: media_row(engine.cfg.db_path, 1)["processing_status"] == "completed", what="RB-A")

    done = cli(engine.cfg, "rollback")
    assert done.returncode == 0, done.stderr
    behind = revision(engine.cfg.db_path)
    assert behind != head

    info = healthz(engine)  # at once: /healthz reads the revision itself
    assert info["status"] == "maintenance"
    assert behind in info["detail"] and head in info["detail"] and "migrate" in info["detail"]
    assert info["schema"] == {"revision": behind, "needed": head, "ok": False}
    sim.add_media("RB-B", "image/jpeg")
    r = post_webhook(listener_url(engine), media_message("image", "RB-B", "image/jpeg"))
    assert r.status_code == 503
    assert int(r.headers["Retry-After"]) > 0
    assert r.json()["reason"] == SCHEMA
    t = post_webhook(listener_url(engine), text_message("while rolled back"))
    assert t.status_code == 503
    state = engine.maintenance_state()
    assert not state.ok and state.maintenance and (state.found_revision, state.needed_revision) == (behind, head)
    wait_until(lambda: engine.workers_paused, what="the workers to pause")
    report = engine.health_check()
    schema = next(f for f in report.findings if f.name == "database schema")
    assert not schema.ok and behind in schema.detail and not report.ok

    done = cli(engine.cfg, "migrate")
    assert done.returncode == 0, done.stderr
    wait_until(lambda: healthz(engine)["status"] == "ok", timeout=10, what="/healthz ok after migrate")
    assert not engine.workers_paused
    assert engine.maintenance_state().ok
    assert post_webhook(listener_url(engine), media_message("image", "RB-B", "image/jpeg")).status_code == 200
    assert post_webhook(listener_url(engine), t.request.body).status_code == 200
    rows = sql(engine.cfg.db_path, "select id from chat_media where wa_media_id = 'RB-B'")
    assert len(rows) == 1
    wait_until(lambda: media_row(engine.cfg.db_path, rows[0][0])["processing_status"] == "completed", what="RB-B")
    assert [s.reason for s in states] == [SCHEMA, None]
    assert no_tracebacks(caplog) == []


def test_mediadesk_health_names_the_revisions_and_does_not_migrate(config: Config) -> None:
    migrations.migrate(config)
    head = migrations.head_revision(config)
    migrations.rollback(config)
    behind = revision(config.db_path)
    done = cli(config, "health", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    schema = next(f for f in report["findings"] if f["name"] == "database schema")
    assert schema["ok"] is False
    assert behind in schema["detail"] and head in schema["detail"] and "migrate" in schema["detail"]
    assert "Traceback" not in done.stderr
    assert revision(config.db_path) == behind  # a health check looks; it does not change the database


def test_a_newer_database_is_left_alone_and_the_engine_is_in_maintenance(config: Config,
                                                                         start_engine: Any) -> None:
    migrations.migrate(config)
    with sqlite3.connect(config.db_path) as c:
        c.execute("update alembic_version set version_num = '9999_from_the_future'")
    eng = start_engine(config)
    assert revision(config.db_path) == "9999_from_the_future"
    info = healthz(eng)
    assert info["status"] == "maintenance" and "9999_from_the_future" in info["detail"]
    assert post_webhook(listener_url(eng), text_message("from the future")).status_code == 503
    state = eng.maintenance_state()
    assert state.newer and "made by a newer MediaDesk" in state.detail
    # Neither a migration nor a rollback can know what that version did: both refuse in plain words.
    for change in (eng.migrate, eng.rollback):
        with pytest.raises(DatabaseError, match="made by a newer MediaDesk than this one"):
            change()
    assert revision(config.db_path) == "9999_from_the_future"
    assert not any(config.backups_dir.glob("*before-*"))  # refused before a backup was taken


def test_database_locked_past_the_busy_timeout_is_503_then_recovers(config: Config, start_engine: Any,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(backend_module, "BUSY_TIMEOUT_MS", 300)
    monkeypatch.setattr(maintenance_module, "HOLD_S", 0.5)
    eng = start_engine(config, workers=False)
    assert post_webhook(listener_url(eng), text_message("before the lock")).status_code == 200
    holder = sqlite3.connect(config.db_path, timeout=1, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process's long write, as far as SQLite can tell
        r = post_webhook(listener_url(eng), text_message("while locked"))
        assert r.status_code == 503
        assert r.json()["reason"] == DATABASE_UNAVAILABLE and int(r.headers["Retry-After"]) > 0
        info = healthz(eng)
        assert info["status"] == "error" and "busy or unavailable" in info["detail"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_until(lambda: healthz(eng)["status"] == "ok", timeout=10, what="/healthz ok once the lock is gone")
    assert post_webhook(listener_url(eng), r.request.body).status_code == 200
    assert sql(config.db_path, "select count(*) from chats")[0][0] == 2
    assert no_tracebacks(caplog) == []


def test_a_pending_media_whose_task_was_lost_is_swept_into_the_queue(engine: MediaDeskEngine,
                                                                     sim: CloudSimulator,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maintenance_module, "SWEEP_GRACE", timedelta(0))
    sim.add_media("LOST-1", "image/jpeg")
    engine.pause_workers()
    assert post_webhook(listener_url(engine), media_message("image", "LOST-1", "image/jpeg")).status_code == 200
    engine.queue.flush()  # the task is gone, as when queue.db was on a full disk
    engine.resume_workers()
    assert media_row(engine.cfg.db_path, 1)["processing_status"] == "pending"
    monkeypatch.setattr(maintenance_module, "SWEEP_EVERY_S", 0.2)
    wait_until(lambda: media_row(engine.cfg.db_path, 1)["processing_status"] == "completed", timeout=15,
               what="the swept media to complete")


def test_known_causes_are_classified_from_real_sqlite_errors(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    c = sqlite3.connect(db)
    c.execute("create table t (a)")
    with pytest.raises(sqlite3.OperationalError) as missing:
        c.execute("insert into t (b) values (1)")
    assert classify(missing.value) == SCHEMA
    c.close()
    one = sqlite3.connect(db, isolation_level=None)
    two = sqlite3.connect(db, timeout=0.05)
    one.execute("BEGIN EXCLUSIVE")
    with pytest.raises(sqlite3.OperationalError) as locked:
        two.execute("insert into t values (1)")
    assert classify(locked.value) == DATABASE_UNAVAILABLE
    one.execute("ROLLBACK")
    assert classify(OSError(28, "No space left on device")) == DISK_FULL
    assert classify(ValueError("a bug")) is None


def test_known_causes_are_classified_from_real_postgresql_errors(postgres_server) -> None:  # noqa: ANN001
    import psycopg
    from sqlalchemy.exc import OperationalError as WrappedOperationalError

    url = postgres_server.create_database()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create table t (a int)")
            with pytest.raises(psycopg.errors.UndefinedColumn) as missing_column:
                conn.execute("insert into t (b) values (1)")
            with pytest.raises(psycopg.errors.UndefinedTable) as missing_table:
                conn.execute("select * from nowhere")
            with pytest.raises(psycopg.errors.DivisionByZero) as bug:
                conn.execute("select 1 / 0")
        assert classify(missing_column.value) == SCHEMA
        assert classify(missing_table.value) == SCHEMA
        assert classify(bug.value) is None
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with pytest.raises(psycopg.OperationalError) as unreachable:
            psycopg.connect(f"postgresql://x@127.0.0.1:{port}/x", connect_timeout=2)
        assert classify(unreachable.value) == DATABASE_UNAVAILABLE
        wrapped = WrappedOperationalError("INSERT ...", {}, unreachable.value)
        assert classify(wrapped) == DATABASE_UNAVAILABLE
    finally:
        postgres_server.drop_database(url)
