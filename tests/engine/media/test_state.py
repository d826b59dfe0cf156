"""Every transition of a media's processing status, against a real SQLite file, and its one owner."""

from __future__ import annotations

import ast
import os
import re
from datetime import datetime, timedelta

import pytest
from mediadesk_testkit import REPO, media_row, sql

from engine.config import Config
from engine.db import Database
from engine.db.models import utcnow
from engine.events import EventBus, MediaStatusChanged
from engine.media.reasons import FailureReason
from engine.media.state import Claim, Held, MediaStates, insert_new

OWNER = REPO / "engine" / "media" / "state.py"
MODELS = REPO / "engine" / "db" / "models.py"  # declares the column (and its default), writes no row


@pytest.fixture
def events() -> list[MediaStatusChanged]:
    return []


@pytest.fixture
def states(database: Database, events: list[MediaStatusChanged]) -> MediaStates:
    bus = EventBus()
    bus.subscribe(lambda e: events.append(e) if isinstance(e, MediaStatusChanged) else None)
    return MediaStates(database, bus)


def new_media(database: Database, **kwargs: object) -> int:
    with database.engine.begin() as conn:
        return insert_new(conn, name="photo.jpg", mime="image/jpeg", wa_media_id="WA-1", sha256=None, **kwargs)


def attempts(config: Config, media_id: int) -> list[dict]:
    return [dict(r) for r in sql(config.db_path, "select * from media_attempts where media_id = ? order by id",
                                 media_id)]


def claimed(states: MediaStates, database: Database, events: list[MediaStatusChanged]) -> Claim:
    claim = states.claim(new_media(database), download_timeout=60)
    assert claim is not None
    events.clear()
    return claim


# -- created ---------------------------------------------------------------------------------------------------
def test_created_pending_is_silent_until_its_batch_is_announced(config: Config, database: Database,
                                                                  events: list[MediaStatusChanged]) -> None:
    row = media_row(config.db_path, new_media(database))
    assert row["processing_status"] == "pending" and row["metadata"] == {} and row["location"] == "local"
    assert events == []  # MessagesStored announces it, after the batch commits


def test_created_failed_records_why_and_is_announced_after_commit(config: Config, database: Database,
                                                                   states: MediaStates,
                                                                   events: list[MediaStatusChanged]) -> None:
    mid = new_media(database, error="too large for WhatsApp", reason=FailureReason.TOO_LARGE)
    row = media_row(config.db_path, mid)
    assert row["processing_status"] == "failed"
    assert row["metadata"]["reason"] == "too_large" and row["metadata"]["attempts"] == 0
    assert row["metadata"]["error"] == "too large for WhatsApp" and row["metadata"]["failed_at"]
    states.announce_failed([mid])
    assert [(e.media_id, e.status) for e in events] == [(mid, "failed")]


def test_created_rolls_back_with_its_batch(config: Config, database: Database) -> None:
    with pytest.raises(RuntimeError), database.engine.begin() as conn:
        insert_new(conn, name=None, mime=None, wa_media_id="WA-X", sha256=None)
        raise RuntimeError("the batch failed")
    assert sql(config.db_path, "select count(*) from chat_media")[0][0] == 0


# -- claimed, progress -----------------------------------------------------------------------------------------
def test_claimed_takes_a_pending_media_once_with_holder_lease_and_attempt(
        config: Config, database: Database, states: MediaStates, events: list[MediaStatusChanged]) -> None:
    mid = new_media(database)
    before = utcnow()
    claim = states.claim(mid, download_timeout=60)
    assert claim is not None and claim.media_id == mid and claim.attempt == 1
    assert claim.wa_media_id == "WA-1" and claim.mime == "image/jpeg" and claim.kind is None
    row = media_row(config.db_path, mid)
    assert row["processing_status"] == "processing"
    held = row["metadata"]["holder"]
    assert held["pid"] == os.getpid()
    assert datetime.fromisoformat(held["lease_until"]) >= before + timedelta(seconds=60)
    assert [a["id"] for a in attempts(config, mid)] == [claim.attempt_id]
    assert attempts(config, mid)[0]["finished_at"] is None
    assert [(e.media_id, e.status) for e in events] == [(mid, "processing")]
    assert states.claim(mid, download_timeout=60) is None  # a second task finds it taken
    assert len(events) == 1 and len(attempts(config, mid)) == 1


def test_progress_is_an_event_only(config: Config, database: Database, states: MediaStates,
                                   events: list[MediaStatusChanged]) -> None:
    claim = claimed(states, database, events)
    before = media_row(config.db_path, claim.media_id)
    states.progress(claim, bytes_done=4096, bytes_total=8192)
    assert media_row(config.db_path, claim.media_id) == before
    assert [(e.status, e.bytes_done, e.bytes_total) for e in events] == [("processing", 4096, 8192)]


# -- the end of an attempt -------------------------------------------------------------------------------------
def test_completed_records_the_file_and_closes_the_attempt(config: Config, database: Database,
                                                           states: MediaStates,
                                                           events: list[MediaStatusChanged]) -> None:
    claim = claimed(states, database, events)
    states.complete(claim, path="uploads/x.jpg", location="local", size=123, mime="image/jpeg",
                    sha256_hex="ab" * 32, duration_ms=42)
    row = media_row(config.db_path, claim.media_id)
    assert row["processing_status"] == "completed" and row["processed_at"]
    assert (row["path"], row["location"], row["size"]) == ("uploads/x.jpg", "local", 123)
    assert "holder" not in row["metadata"] and row["metadata"]["verified_sha256"] == "ab" * 32
    assert row["metadata"]["duration_ms"] == 42 and row["metadata"]["attempts"] == 1
    (attempt,) = attempts(config, claim.media_id)
    assert attempt["outcome"] == "completed" and attempt["bytes"] == 123 and attempt["finished_at"]
    assert [(e.media_id, e.status) for e in events] == [(claim.media_id, "completed")]


def test_failed_records_why_and_closes_the_attempt(config: Config, database: Database, states: MediaStates,
                                                   events: list[MediaStatusChanged]) -> None:
    claim = claimed(states, database, events)
    states.fail(claim, error="the media is gone", reason=FailureReason.GONE)
    row = media_row(config.db_path, claim.media_id)
    assert row["processing_status"] == "failed"
    assert row["metadata"]["reason"] == "gone" and row["metadata"]["error"] == "the media is gone"
    assert row["metadata"]["failed_at"] and "holder" not in row["metadata"]
    (attempt,) = attempts(config, claim.media_id)
    assert attempt["outcome"] == "failed" and attempt["error"] == "the media is gone"
    assert [(e.status, e.reason, e.error) for e in events] == [("failed", "gone", "the media is gone")]


def test_rescheduled_is_pending_again_with_its_due_time(config: Config, database: Database,
                                                        states: MediaStates,
                                                        events: list[MediaStatusChanged]) -> None:
    claim = claimed(states, database, events)
    before = utcnow()
    states.reschedule(claim, error="timed out", reason=FailureReason.TIMEOUT, delay=30)
    row = media_row(config.db_path, claim.media_id)
    assert row["processing_status"] == "pending" and "holder" not in row["metadata"]
    due = datetime.fromisoformat(row["metadata"]["next_attempt_at"])
    assert before + timedelta(seconds=30) <= due <= utcnow() + timedelta(seconds=30)
    assert attempts(config, claim.media_id)[0]["outcome"] == "retry"
    assert [(e.status, e.reason) for e in events] == [("pending", "timeout")]
    again = states.claim(claim.media_id, download_timeout=60)
    assert again is not None and again.attempt == 2
    assert "next_attempt_at" not in media_row(config.db_path, claim.media_id)["metadata"]


# -- the owner's commands --------------------------------------------------------------------------------------
def four_states(states: MediaStates, database: Database) -> dict[str, int]:
    ids = {name: new_media(database) for name in ("pending", "processing", "completed", "failed")}
    for name in ("processing", "completed", "failed"):
        claim = states.claim(ids[name], download_timeout=60)
        if name == "completed":
            states.complete(claim, path="p", location="local", size=1, mime=None, sha256_hex="", duration_ms=1)
        elif name == "failed":
            states.reschedule(claim, error="e", reason=FailureReason.SERVER, delay=0)
            states.fail(states.claim(ids[name], download_timeout=60), error="e", reason=FailureReason.SERVER)
    return ids


def test_retried_resets_failed_and_pending_only(config: Config, database: Database, states: MediaStates,
                                                events: list[MediaStatusChanged]) -> None:
    ids = four_states(states, database)
    events.clear()
    chosen = states.retry(ids.values())
    assert sorted(chosen) == sorted([ids["pending"], ids["failed"]])
    failed = media_row(config.db_path, ids["failed"])
    assert failed["processing_status"] == "pending" and failed["metadata"]["attempts"] == 0
    assert failed["metadata"]["retried_at"] and "next_attempt_at" not in failed["metadata"]
    assert media_row(config.db_path, ids["processing"])["processing_status"] == "processing"
    assert media_row(config.db_path, ids["completed"])["processing_status"] == "completed"
    assert sorted(e.media_id for e in events if e.status == "pending") == sorted(chosen)
    assert states.retry([]) == []


def test_retried_all_takes_every_failed_and_pending(database: Database, states: MediaStates) -> None:
    ids = four_states(states, database)
    assert sorted(states.retry_all()) == sorted([ids["pending"], ids["failed"]])


def test_left_pending_by_a_flush(config: Config, database: Database, states: MediaStates,
                                 events: list[MediaStatusChanged]) -> None:
    ids = four_states(states, database)
    events.clear()
    assert states.leave_pending() == [ids["processing"]]
    assert media_row(config.db_path, ids["processing"])["processing_status"] == "pending"
    assert media_row(config.db_path, ids["completed"])["processing_status"] == "completed"
    assert [(e.media_id, e.status) for e in events] == [(ids["processing"], "pending")]


# -- freed -----------------------------------------------------------------------------------------------------
def test_freed_only_while_it_still_carries_the_lease_it_was_judged_by(
        config: Config, database: Database, states: MediaStates, events: list[MediaStatusChanged]) -> None:
    stranded = claimed(states, database, events)
    taken_again = claimed(states, database, events)
    judged = {row.media_id: row for row in states.held()}
    assert set(judged) == {stranded.media_id, taken_again.media_id}
    # Meanwhile the second one ends and is claimed again: a new holder, with a new lease.
    states.reschedule(taken_again, error="e", reason=FailureReason.NETWORK, delay=0)
    assert states.claim(taken_again.media_id, download_timeout=120) is not None
    events.clear()
    assert states.free(judged.values()) == [stranded.media_id]
    assert media_row(config.db_path, stranded.media_id)["processing_status"] == "pending"
    assert media_row(config.db_path, taken_again.media_id)["processing_status"] == "processing"
    assert [(e.media_id, e.status) for e in events] == [(stranded.media_id, "pending")]


def test_freed_a_claim_from_before_holders_were_recorded(config: Config, database: Database,
                                                         states: MediaStates) -> None:
    mid = new_media(database)
    with database.engine.begin() as conn:
        conn.exec_driver_sql("update chat_media set processing_status = 'processing' where id = ?", (mid,))
    assert states.free([Held(mid, {})]) == [mid]
    assert media_row(config.db_path, mid)["processing_status"] == "pending"


# -- one owner -------------------------------------------------------------------------------------------------
_SQL_WRITE = re.compile(r"\b(update|insert)\b.*\bprocessing_status\b", re.IGNORECASE | re.DOTALL)


def status_writes(source: str) -> list[int]:
    """Lines of `source` that write processing_status: an ORM attribute assignment, a keyword or dict key
    in a call (insert().values, update().values, ChatMedia(...)), or SQL text that updates or inserts it."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            lines += [t.lineno for t in targets if isinstance(t, ast.Attribute) and t.attr == "processing_status"]
        elif isinstance(node, ast.Call):
            lines += [node.lineno for k in node.keywords if k.arg == "processing_status"]
            lines += [node.lineno for a in node.args if isinstance(a, ast.Dict) and any(
                isinstance(k, ast.Constant) and k.value == "processing_status" for k in a.keys)]
            if isinstance(node.func, ast.Name) and node.func.id == "setattr":
                lines += [node.lineno for a in node.args
                          if isinstance(a, ast.Constant) and a.value == "processing_status"]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _SQL_WRITE.search(node.value):
            lines.append(node.lineno)
    return sorted(set(lines))


def test_the_guard_sees_every_kind_of_write() -> None:
    sample = (
        "m.processing_status = 'failed'\n"
        "s.execute(update(ChatMedia).values(processing_status='pending'))\n"
        "s.execute(update(ChatMedia).values({'processing_status': 'pending'}))\n"
        "setattr(m, 'processing_status', 'failed')\n"
        "cur.execute(\"UPDATE chat_media SET processing_status = 'pending'\")\n"
        "select(ChatMedia).where(ChatMedia.processing_status == 'failed')\n"
        "x = {'processing_status': 1}.get('processing_status')\n"
    )
    assert sorted(status_writes(sample)) == [1, 2, 3, 4, 5]


def test_no_module_but_the_owner_writes_processing_status() -> None:
    found = {}
    for path in sorted((REPO / "engine").rglob("*.py")):
        if path in (OWNER, MODELS):
            continue
        lines = status_writes(path.read_text(encoding="utf-8"))
        if lines:
            found[str(path.relative_to(REPO))] = lines
    assert found == {}, "only engine/media/state.py changes a media's processing status"
    assert status_writes(OWNER.read_text(encoding="utf-8")), "the owner writes it (else the guard sees nothing)"


def test_reasons_keep_their_stored_values_and_words() -> None:
    stored = {"gone", "expired", "expired_at_meta", "too_large", "mime_mismatch", "auth", "rate_limited",
              "checksum", "truncated", "storage", "network", "timeout", "server", "internal"}
    assert stored <= {r.value for r in FailureReason}
    assert all(r.text and r.label for r in FailureReason)
    assert FailureReason.words_for("gone") == "Deleted by the sender or no longer on WhatsApp"
    assert FailureReason.words_for("transient") is None  # generic: the row's error sentence says more
    assert FailureReason.words_for("no_such_reason") is None and FailureReason.words_for(None) is None
    assert FailureReason.label_for("rate_limited") == "rate limited"
    assert FailureReason.label_for("some_new_reason") == "some new reason"
    assert FailureReason.label_for(None) == "unknown"


def test_media_errors_default_reasons_are_failure_reasons() -> None:
    from engine.errors import MediaError, PermanentMediaError, TransientMediaError

    for cls in (MediaError, PermanentMediaError, TransientMediaError):
        assert FailureReason.of(cls.reason) is not None, cls


def _media_error_calls(tree: ast.AST):
    """Calls that build a media error (`TransientMediaError(...)`, `errors.PermanentMediaError(...)`): other
    errors (a refused connect, say) have reasons of their own that are not a media's failure reason."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name.endswith("MediaError"):
                yield node


def test_every_reason_the_engine_raises_is_a_member() -> None:
    raised = set()
    for path in (REPO / "engine").rglob("*.py"):
        for call in _media_error_calls(ast.parse(path.read_text(encoding="utf-8"))):
            for kw in call.keywords:
                if kw.arg == "reason" and isinstance(kw.value, ast.Constant) and kw.value.value is not None:
                    raised.add((str(path.relative_to(REPO)), kw.value.value))
    assert raised == set(), "reasons are FailureReason members, not bare strings"
