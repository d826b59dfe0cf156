"""The roll-ups agree with the rows: metrics read from buckets equal the same metrics computed from every attempt
(`_direct_metrics`), on random data over weeks, across compaction, catch-up, live finishes and concurrent writers."""

from __future__ import annotations

import dataclasses
import math
import random
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text

from engine import metrics_rollup as rollups
from engine.db import ChatMedia, Database, MediaAttempt, MediaStatus
from engine.db.models import Setting, utcnow
from engine.events import EventBus
from engine.media.state import MediaStates
from engine.metrics import (
    WINDOWS,
    Metrics,
    _assemble,
    _direct_metrics,
    _live_counts,
    collect_metrics,
    format_metrics,
    window_bounds,
)

REASONS = ("gone", "expired", "timeout", "server", "auth")
# Minutes for 30 hours, hours for 35 days: 7d and 30d windows read minutes and hours, 'today' minutes only,
# and the data (40 days) reaches back into day buckets.
SHORT = rollups.Retention(minutes=timedelta(hours=30), hours=timedelta(days=35))


def _close(a: Any, b: Any, where: str) -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def _same(a: Any, b: Any) -> None:
    """Equal, floats within rounding (sums are added in another order)."""
    _close(dataclasses.asdict(a), dataclasses.asdict(b), "metrics")


def _add_history(db: Database, *, n: int, now: datetime, days: float, seed: int, open_every: int = 0) -> None:
    """`n` media with one or two finished attempts each, finished at random over the last `days` days, written
    straight to the tables (as an older version, or a restored backup, left them)."""
    rnd = random.Random(seed)
    media, attempts = [], []
    with db.engine.connect() as conn:
        first = (conn.execute(select(func.max(ChatMedia.id))).scalar() or 0) + 1
    for i in range(first, first + n):
        done = now - timedelta(seconds=rnd.uniform(0, days * 86400))
        created = done - timedelta(seconds=rnd.choice((rnd.uniform(0, 4), rnd.uniform(0, 90), rnd.uniform(0, 7200))))
        roll = rnd.random()
        reason = rnd.choice(REASONS)
        if open_every and i % open_every == 0:
            status, outcome, fin = MediaStatus.PROCESSING, None, None
        elif roll < 0.8:
            status, outcome, fin = MediaStatus.COMPLETED, "completed", done
        else:
            status, outcome, fin = MediaStatus.FAILED, "failed", done
        meta = {"reason": reason, "error": "x"} if status == MediaStatus.FAILED else {}
        media.append(dict(id=i, processing_status=status, created_at=created, updated_at=done, meta=meta,
                          processed_at=done if outcome == "completed" else None, location="local"))
        if rnd.random() < 0.3:  # an earlier attempt that was rescheduled
            attempts.append(dict(media_id=i, started_at=created, finished_at=created + (done - created) / 2,
                                 outcome="retry", error="later"))
        attempts.append(dict(media_id=i, started_at=created, finished_at=fin, outcome=outcome, error=None))
    rnd.shuffle(attempts)  # ids in another order than finish times, as concurrent workers leave them
    with db.engine.begin() as conn:
        conn.execute(insert(ChatMedia), media)
        conn.execute(insert(MediaAttempt), attempts)


def _buckets_only(db: Database, window: str) -> Metrics:
    """What the buckets hold now, without the catch-up or compaction a read would do first."""
    since, until, step = window_bounds(window, utcnow())
    with db.engine.connect() as conn:
        return _assemble(window, since, step, rollups.read(conn, since=since, until=until, step=step), _live_counts(db))


def _catch_up_all(db: Database, **kw: Any) -> int:
    calls = 1
    while not rollups.catch_up(db.engine, **kw):
        calls += 1
    return calls


def _compact_all(db: Database, **kw: Any) -> None:
    while rollups.compact(db.engine, **kw):
        pass


def test_every_window_matches_the_rows_across_compaction(database: Database) -> None:
    now = utcnow()
    _add_history(database, n=3000, now=now, days=40, seed=1, open_every=97)
    # Folded five days ago (everything of then into minutes), then compacted today: minutes became hours and days.
    then = now - timedelta(days=5)
    assert _catch_up_all(database, batch=777, now=then, retention=SHORT) > 3
    _compact_all(database, now=now, retention=SHORT, batch=500)
    with database.engine.connect() as conn:
        kept = dict(conn.execute(select(rollups.rollup.c.resolution, func.count())
                                 .group_by(rollups.rollup.c.resolution)).all())
    assert set(kept) == {rollups.MINUTE, rollups.HOUR, rollups.DAY}
    for window in WINDOWS:
        roll = collect_metrics(database, window=window, now=now, retention=SHORT)
        direct = _direct_metrics(database, window=window, now=now)
        _same(roll, direct)
        assert roll.status_counts["processing"] > 0
    assert collect_metrics(database, window="30d", now=now, retention=SHORT).status_counts["completed"] > 1500


def test_old_attempts_caught_up_go_straight_to_their_resolution(database: Database) -> None:
    now = utcnow()
    _add_history(database, n=500, now=now, days=60, seed=3)
    _catch_up_all(database, batch=100, now=now, retention=SHORT)
    assert rollups.compact(database.engine, now=now, retention=SHORT) == 0  # nothing left to compact
    for window in WINDOWS:
        _same(collect_metrics(database, window=window, now=now, retention=SHORT),
              _direct_metrics(database, window=window, now=now))


def _pending(db: Database, n: int) -> list[int]:
    now = utcnow()
    with db.engine.begin() as conn:
        conn.execute(insert(ChatMedia), [dict(processing_status=MediaStatus.PENDING, created_at=now - timedelta(
            seconds=i % 50), updated_at=now, meta={}, location="local") for i in range(n)])
        return list(conn.execute(select(ChatMedia.id).where(ChatMedia.processing_status == MediaStatus.PENDING)
                                 .order_by(ChatMedia.id)).scalars())


def _finish(states: MediaStates, media_id: int, how: str) -> None:
    claim = states.claim(media_id, download_timeout=30)
    assert claim is not None
    if how == "complete":
        states.complete(claim, path=f"f/{media_id}", location="local", size=1, mime=None, sha256_hex="0",
                        duration_ms=1)
    elif how == "fail":
        states.fail(claim, error="gone at WhatsApp", reason="gone")
    else:
        states.reschedule(claim, error="slow", reason="timeout", delay=60)


def test_live_finishes_and_rows_from_an_older_version_are_each_counted_once(database: Database) -> None:
    states = MediaStates(database, EventBus())
    ids = _pending(database, 60)
    # Before the roll-ups exist: finishes written like an older version would (nothing recorded).
    for mid in ids[:10]:
        _finish(states, mid, "complete")
    assert collect_metrics(database, window="hour").status_counts["completed"] == 10  # caught up on first read
    # An attempt opened, passed by the catch-up while open, finished afterwards: counted live.
    held = states.claim(ids[10], download_timeout=30)
    _add_history(database, n=5, now=utcnow(), days=0.01, seed=4)  # more rows nobody saw finish
    rollups.catch_up(database.engine)
    states.complete(held, path="f", location="local", size=1, mime=None, sha256_hex="0", duration_ms=1)
    for i, mid in enumerate(ids[11:40]):
        _finish(states, mid, ("complete", "fail", "reschedule")[i % 3])
    _same(_buckets_only(database, "hour"), _direct_metrics(database, window="hour"))  # counted as they finished
    for window in WINDOWS:
        _same(collect_metrics(database, window=window), _direct_metrics(database, window=window))
    m = collect_metrics(database, window="hour")
    assert m.retried > 0 and m.failure_reasons.get("gone", 0) > 0


def test_a_finish_far_ahead_of_the_watermark_is_left_to_the_catch_up(database: Database,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    states = MediaStates(database, EventBus())
    ids = _pending(database, 8)
    rollups.ensure(database.engine)
    monkeypatch.setattr(rollups, "LIVE_SPAN", 2)
    _add_history(database, n=6, now=utcnow(), days=0.01, seed=5)  # six attempts the roll-ups have not passed
    _finish(states, ids[0], "complete")  # ids above the watermark by more than LIVE_SPAN: not counted yet
    with database.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(rollups.rollup)).scalar() == 0
    _same(collect_metrics(database, window="hour"), _direct_metrics(database, window="hour"))
    monkeypatch.setattr(rollups, "LIVE_SPAN", 1000)
    for mid in ids[1:]:
        _finish(states, mid, "fail")
    _same(collect_metrics(database, window="hour"), _direct_metrics(database, window="hour"))


def test_a_restored_or_lost_roll_up_is_rebuilt_from_the_rows(database: Database) -> None:
    now = utcnow()
    _add_history(database, n=400, now=now, days=3, seed=6)
    expected = {w: _direct_metrics(database, window=w, now=now) for w in WINDOWS}
    _same(collect_metrics(database, window="7d", now=now), expected["7d"])
    with database.engine.begin() as conn:  # a backup from before the roll-ups: neither table nor watermark
        conn.execute(text(f"DROP TABLE {rollups.TABLE_NAME}"))
        conn.execute(delete(Setting).where(Setting.key == rollups.WATERMARK_KEY))
    _same(collect_metrics(database, window="7d", now=now), expected["7d"])
    with database.engine.begin() as conn:  # a table without its watermark: not trusted, counted again
        conn.execute(delete(Setting).where(Setting.key == rollups.WATERMARK_KEY))
    for w in WINDOWS:
        _same(collect_metrics(database, window=w, now=now), expected[w])
    rollups.rebuild(database.engine)
    _same(collect_metrics(database, window="today", now=now), expected["today"])


def test_catch_up_is_bounded_per_call(database: Database) -> None:
    now = utcnow()
    _add_history(database, n=1000, now=now, days=1, seed=7)
    assert rollups.catch_up(database.engine, batch=300, now=now) is False
    with database.engine.connect() as conn:
        mark = int(conn.execute(select(Setting.value).where(Setting.key == rollups.WATERMARK_KEY)).scalar())
        ids = list(conn.execute(select(MediaAttempt.id).order_by(MediaAttempt.id).limit(300)).scalars())
    assert mark == ids[-1]
    assert _catch_up_all(database, batch=300, now=now) == 4
    _same(collect_metrics(database, window="today", now=now), _direct_metrics(database, window="today", now=now))


def test_a_refresh_says_it_is_still_catching_up_and_a_report_catches_up_whole(database: Database,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    now = utcnow()
    _add_history(database, n=900, now=now, days=1, seed=8)
    monkeypatch.setattr(rollups, "CATCH_UP_BATCH", 200)
    partial = collect_metrics(database, window="today", now=now)
    assert partial.catching_up and partial.status_counts["completed"] < 900 * 0.8
    assert "still being counted" in format_metrics(partial)
    whole = collect_metrics(database, window="today", now=now, catch_up_batches=None)
    assert not whole.catching_up
    _same(whole, dataclasses.replace(_direct_metrics(database, window="today", now=now), catching_up=False))


def test_concurrent_finishes_are_counted_once_each(database: Database) -> None:
    ids = _pending(database, 120)
    rollups.ensure(database.engine)
    errors: list[BaseException] = []

    def worker(mine: list[int]) -> None:
        states = MediaStates(Database(database.url), EventBus())
        try:
            for i, mid in enumerate(mine):
                _finish(states, mid, ("complete", "fail", "reschedule")[i % 3])
        except BaseException as exc:  # reported below: a thread's exception would otherwise vanish
            errors.append(exc)
        finally:
            states.db.dispose()

    threads = [threading.Thread(target=worker, args=(ids[k::4],)) for k in range(4)]
    catcher = threading.Thread(target=lambda: [rollups.catch_up(database.engine) for _ in range(20)])
    for t in (*threads, catcher):
        t.start()
    for t in (*threads, catcher):
        t.join()
    assert errors == []
    _same(_buckets_only(database, "hour"), _direct_metrics(database, window="hour"))
    m = collect_metrics(database, window="hour")
    _same(m, _direct_metrics(database, window="hour"))
    assert m.status_counts["completed"] == 40 and m.status_counts["failed"] == 40 and m.retried == 40


def test_media_created_failed_at_ingest_count_as_failures(database: Database) -> None:
    from engine.media.state import insert_new

    with database.engine.begin() as conn:
        insert_new(conn, name=None, mime="image/jpeg", wa_media_id="W1", sha256=None)
    rollups.ensure(database.engine)
    with database.engine.begin() as conn:
        insert_new(conn, name=None, mime="image/jpeg", wa_media_id="W2", sha256=None,
                   error="Meta says it cannot come", reason="gone")
    m = collect_metrics(database, window="hour")
    assert m.status_counts == {"pending": 1, "processing": 0, "completed": 0, "failed": 1, "removed": 0}
    assert m.failure_reasons == {"gone": 1}
    _same(m, _direct_metrics(database, window="hour"))


def test_an_unknown_window_is_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="unknown metrics window"):
        collect_metrics(database, window="year")
