"""Nothing stuck: a claim held past its lease is freed and downloaded again by a running engine, no restart."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from mediadesk_testkit import listener_url, media_row, post_webhook, sql, wait_until

import engine.media.sweeper as sweeper_module
from engine.config import Config
from engine.db import Database
from engine.db.models import utcnow
from engine.events import EventBus, MediaStatusChanged
from engine.media.holders import HOST, lease_has_run_out
from engine.media.sweeper import LeaseSweeper, free_expired_claims
from engine.simulator import CloudSimulator, media_message


def held_here(lease_minutes: float) -> dict:
    """A holder naming this very process, as its own claim writes it."""
    lease = (utcnow() + timedelta(minutes=lease_minutes)).isoformat()
    return {"attempts": 1, "holder": {"host": HOST, "pid": os.getpid(), "lease_until": lease}}


def set_processing(db_path: Path, media_id: int, meta: dict) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("update chat_media set processing_status = 'processing', metadata = ? where id = ?",
                     (json.dumps(meta), media_id))
    conn.close()


def insert_processing(db_path: Path, meta: dict) -> int:
    with sqlite3.connect(db_path) as conn:
        mid = conn.execute("insert into chat_media (location, processing_status, metadata, created_at, updated_at)"
                           " values ('local', 'processing', ?, datetime('now'), datetime('now'))",
                           (json.dumps(meta),)).lastrowid
    conn.close()
    return mid


def test_whether_a_lease_has_run_out() -> None:
    now = utcnow()
    assert lease_has_run_out(held_here(-1), now)
    assert not lease_has_run_out(held_here(+1), now)
    other = {"holder": {"host": "other-machine", "pid": 1, "lease_until": (now - timedelta(seconds=1)).isoformat()}}
    assert lease_has_run_out(other, now)
    # Nothing readable to judge by: the start-up reconciler decides those.
    assert not lease_has_run_out({}, now) and not lease_has_run_out(None, now)
    assert not lease_has_run_out({"holder": {"host": HOST, "lease_until": "garbage"}}, now)


def test_only_claims_past_their_lease_are_freed(config: Config, database: Database) -> None:
    expired = insert_processing(config.db_path, held_here(-1))
    running = insert_processing(config.db_path, held_here(+5))
    legacy = insert_processing(config.db_path, {})
    seen: list[MediaStatusChanged] = []
    bus = EventBus()
    bus.subscribe(seen.append)
    assert free_expired_claims(database, bus) == [expired]
    states = dict(sql(config.db_path, "select id, processing_status from chat_media"))
    assert states == {expired: "pending", running: "processing", legacy: "processing"}
    assert [(e.media_id, e.status) for e in seen] == [(expired, "pending")]


def test_the_sweeper_runs_at_start_then_periodically_and_survives_a_failing_sweep() -> None:
    calls: list[int] = []
    three = threading.Event()

    def sweep() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database is locked")
        if len(calls) >= 3:
            three.set()

    sweeper = LeaseSweeper(sweep, every_s=0.05)
    sweeper.start()
    try:
        assert three.wait(5), "the sweeper stopped after a failing sweep"
    finally:
        sweeper.stop()
    n = len(calls)
    assert not sweeper._thread.is_alive()
    assert len(calls) == n  # stopped means stopped


def test_an_own_claim_past_its_lease_completes_without_a_restart(
        sim_config: Config, sim: CloudSimulator, start_engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweeper_module, "SWEEP_EVERY_S", 0.2)
    eng = start_engine(sim_config)
    eng.pause_workers()
    sim.add_media("STUCK-1", "image/jpeg")
    assert post_webhook(listener_url(eng), media_message("image", "STUCK-1", "image/jpeg")).status_code == 200
    (row,) = sql(sim_config.db_path, "select id from chat_media where wa_media_id = 'STUCK-1'")
    mid = int(row[0])
    # What an attempt whose failure could not be recorded leaves: the row still ours, past its lease, and no
    # task for it in the queue.
    eng.queue.flush()
    set_processing(sim_config.db_path, mid, held_here(-1))
    eng.resume_workers()
    done = wait_until(lambda: (r := media_row(sim_config.db_path, mid))["processing_status"] == "completed" and r,
                      timeout=20, what="the stuck media to be freed and completed")
    assert done["size"] == sim.media("STUCK-1").file_size
    assert sim.metadata_calls["STUCK-1"] == 1
