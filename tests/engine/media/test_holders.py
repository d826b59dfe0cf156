"""A start-up reconciler frees only what a dead process left: rows and temp files a live worker holds stay."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from engine.config import Config
from engine.db import Database
from engine.db.models import utcnow
from engine.media.holders import HOST, holder, holder_is_gone, temp_file_is_orphaned, temp_name
from engine.media.reconcile import remove_stale_temp_files, unfinished_media


@pytest.fixture
def live_pid() -> Iterator[int]:
    """A real process of this machine that is still running (a worker, as far as the rows can tell)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def held_by(pid: int, *, host: str = HOST, lease_minutes: float = 10) -> dict:
    return {"holder": {"host": host, "pid": pid,
                       "lease_until": (utcnow() + timedelta(minutes=lease_minutes)).isoformat()}}


def test_whether_a_holder_is_gone(live_pid: int, dead_pid: int) -> None:
    now = utcnow()
    assert not holder_is_gone(held_by(live_pid), now)
    assert holder_is_gone(held_by(dead_pid), now)
    assert holder_is_gone({}, now)  # claimed before holders were recorded
    assert holder_is_gone(None, now)
    assert not holder_is_gone(held_by(1, host="other-machine"), now)  # its lease still runs
    assert holder_is_gone(held_by(1, host="other-machine", lease_minutes=-1), now)
    assert holder_is_gone({"holder": {"host": HOST, "pid": "garbage"}}, now)


def test_a_claims_lease_outlasts_the_download_timeout() -> None:
    now = utcnow()
    mine = holder(now, download_timeout=300)
    assert mine["host"] == HOST
    assert datetime.fromisoformat(mine["lease_until"]) - now > timedelta(seconds=300)
    # seen from another machine, the claim holds until its lease ends
    elsewhere = {"holder": {**mine, "host": "other-machine"}}
    assert not holder_is_gone(elsewhere, now + timedelta(seconds=301))
    assert holder_is_gone(elsewhere, now + timedelta(seconds=301) + timedelta(minutes=3))


def insert_media(db_path: Path, status: str, meta: dict) -> int:
    with sqlite3.connect(db_path) as conn:
        cur = conn.execute("insert into chat_media (location, processing_status, metadata, created_at, updated_at)"
                           " values ('local', ?, ?, datetime('now'), datetime('now'))", (status, json.dumps(meta)))
        mid = cur.lastrowid
    conn.close()
    return mid


def test_reconcile_leaves_a_live_workers_download_alone(config: Config, database: Database, live_pid: int,
                                                        dead_pid: int) -> None:
    alive = insert_media(config.db_path, "processing", held_by(live_pid))
    crashed = insert_media(config.db_path, "processing", held_by(dead_pid))
    legacy = insert_media(config.db_path, "processing", {})
    waiting = insert_media(config.db_path, "pending", {})
    todo = dict(unfinished_media(database))
    assert set(todo) == {crashed, legacy, waiting}
    with sqlite3.connect(config.db_path) as conn:
        states = dict(conn.execute("select id, processing_status from chat_media"))
    conn.close()
    assert states[alive] == "processing"
    assert states[crashed] == states[legacy] == "pending"


def test_only_orphaned_temp_files_are_removed(tmp_path: Path, live_pid: int, dead_pid: int) -> None:
    folder = tmp_path / "uploads" / "media" / "whatsapp" / "1" / "2026" / "11"
    folder.mkdir(parents=True)
    mine_now = folder / temp_name("photo-1.jpg", "abcd1234")
    assert temp_file_is_orphaned(mine_now)  # our own pid at start-up: an earlier life's leftover
    live = folder / f".photo-2.jpg.p{live_pid}.abcd1234.part"
    dead = folder / f".photo-3.jpg.p{dead_pid}.abcd1234.part"
    legacy = folder / ".photo-4.jpg.abcd1234.part"
    for f in (live, dead, legacy):
        f.write_bytes(b"half a file")
    assert remove_stale_temp_files(tmp_path) == 2
    assert live.exists() and not dead.exists() and not legacy.exists()
