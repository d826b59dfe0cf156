"""Media metrics over a window (last hour, today, 7 days, 30 days): what the console charts and `mediadesk stats`
print.

They are read from the roll-ups (`engine.metrics_rollup`), kept as attempts finish, so a refresh costs the
same at a million media as at ten thousand: a window's buckets, plus the pending and processing counts of now
(an index count of the backlog, not of the history). `_direct_metrics` computes the same from the rows, for
the tests that hold the two to each other.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from engine import metrics_rollup as rollups
from engine.db.models import ChatMedia, MediaAttempt, MediaStatus, utcnow
from engine.db.session import Database
from engine.metrics_rollup import DAY, EDGES, HOUR, MINUTE, Retention, Tally, epoch

SUCCESS_TARGET = 0.99
UNAVAILABLE_TARGET = 0.005
PROCESSING_TARGET_S = 30.0
# key -> the owner's words; the charts' picker and `mediadesk stats --window` offer these
WINDOWS: dict[str, str] = {"hour": "last hour", "today": "today", "7d": "last 7 days", "30d": "last 30 days"}
DEFAULT_WINDOW = "today"
_STEPS = {"hour": MINUTE, "today": 10 * MINUTE, "7d": HOUR, "30d": DAY}
# Counted as they are now, not as finished in the window (removed: taken off by the retention policy).
_LIVE = (MediaStatus.PENDING, MediaStatus.PROCESSING, MediaStatus.REMOVED)


@dataclass(frozen=True)
class Metrics:
    """Finished in the window (completed, failed, their times and reasons) and loading now (pending, processing)."""

    total: int
    status_counts: dict[str, int]
    success_rate: float | None  # completed / (completed + failed)
    unavailable_share: float | None  # failed / total: "Content not available" as the owner sees it
    processing_avg_s: float | None  # webhook received -> file stored
    processing_p50_s: float | None
    processing_p95_s: float | None
    histogram: list[tuple[float, float, int]] = field(default_factory=list)  # (from s, to s, count)
    over_time: list[tuple[str, float]] = field(default_factory=list)  # (step start ISO, avg seconds)
    throughput: list[tuple[str, int]] = field(default_factory=list)  # (step start ISO, completed)
    failure_reasons: dict[str, int] = field(default_factory=dict)  # failed for good in the window, by reason
    window: str = DEFAULT_WINDOW
    since: str = ""  # the window's start, ISO (UTC)
    step_s: int = MINUTE  # the width of one over_time / throughput point
    retried: int = 0  # attempts that failed with retries left (rescheduled) in the window
    catching_up: bool = False  # older finished attempts not counted yet (an old or restored database)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def window_bounds(window: str, now: datetime) -> tuple[int, int, int]:
    """(since, until, step) in epoch seconds. Each start lies on a bound of every resolution the roll-ups can
    hold there (minutes for two days, hours for 40): a bucket is wholly in a window or wholly out."""
    if window not in _STEPS:
        raise ValueError(f"unknown metrics window {window!r}: one of {', '.join(WINDOWS)}")
    t = epoch(now)
    until = t // MINUTE * MINUTE + MINUTE  # the minute under way counts
    since = {"hour": until - HOUR, "today": t // DAY * DAY, "7d": t // HOUR * HOUR - 7 * DAY,
             "30d": t // HOUR * HOUR - 30 * DAY}[window]
    return since, until, _STEPS[window]


def _iso(t: int) -> str:
    return (rollups._EPOCH + timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:00")


def _percentile(t: Tally, q: float) -> float | None:
    """The value at rank ceil(q * n), placed linearly inside its bin (the bins are all the roll-ups keep)."""
    n = sum(t.hist)
    if not n:
        return None
    rank = max(1, math.ceil(q * n))
    before = 0
    for i, count in enumerate(t.hist):
        if count and before + count >= rank:
            lo = EDGES[i]
            hi = min(EDGES[i + 1], t.seconds_max) if i + 1 < len(EDGES) else t.seconds_max
            hi = max(hi, lo)
            return lo + (hi - lo) * (rank - before) / count
        before += count
    return t.seconds_max


def _histogram(t: Tally) -> list[tuple[float, float, int]]:
    last = max((i for i, c in enumerate(t.hist) if c), default=-1)
    return [(float(EDGES[i]), float(EDGES[i + 1]) if i + 1 < len(EDGES) else round(max(t.seconds_max, EDGES[i]), 4),
             t.hist[i]) for i in range(last + 1)]


def _assemble(window: str, since: int, step: int, tallies: dict[tuple[int, str, str], Tally],
              live: dict[str, int], *, catching_up: bool = False) -> Metrics:
    done = Tally()
    per_step: dict[int, Tally] = {}
    reasons: dict[str, int] = {}
    failed = retried = 0
    for (at, outcome, reason), t in tallies.items():
        if outcome == "completed":
            done.merge(t)
            per_step.setdefault(at, Tally()).merge(t)
        elif outcome == "failed":
            failed += t.n
            reasons[reason] = reasons.get(reason, 0) + t.n
        else:
            retried += t.n
    status_counts = {st.value: 0 for st in MediaStatus}
    status_counts.update(completed=done.n, failed=failed, pending=int(live.get("pending", 0)),
                         processing=int(live.get("processing", 0)), removed=int(live.get("removed", 0)))
    total = sum(status_counts.values())
    steps = sorted(per_step.items())
    return Metrics(
        total=total,
        status_counts=status_counts,
        success_rate=(done.n / (done.n + failed)) if done.n + failed else None,
        unavailable_share=(failed / total) if total else None,
        processing_avg_s=(done.seconds_sum / done.n) if done.n else None,
        processing_p50_s=_percentile(done, 0.50),
        processing_p95_s=_percentile(done, 0.95),
        histogram=_histogram(done),
        over_time=[(_iso(at), t.seconds_sum / t.n) for at, t in steps if t.n],
        throughput=[(_iso(at), t.n) for at, t in steps if t.n],
        failure_reasons=dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        window=window,
        since=_iso(since),
        step_s=step,
        retried=retried,
        catching_up=catching_up,
    )


def _live_counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {str(st): int(n) for st, n in conn.execute(
            select(ChatMedia.processing_status, func.count()).where(ChatMedia.processing_status.in_(_LIVE))
            .group_by(ChatMedia.processing_status))}


def collect_metrics(db: Database, *, window: str = DEFAULT_WINDOW, now: datetime | None = None,
                    retention: Retention = rollups.DEFAULT_RETENTION, catch_up_batches: int | None = 1) -> Metrics:
    """The metrics over `window` (a key of WINDOWS), from the roll-ups.

    First a bounded step of upkeep: count attempts the roll-ups never saw finish (`catch_up_batches` batches;
    None: all of them, for a one-off report), compact old buckets; each is an index lookup when there is
    nothing to do. Then one grouped read of the window's buckets.
    """
    now = now or utcnow()
    since, until, step = window_bounds(window, now)
    caught_up, batches = False, 0
    while not caught_up and (catch_up_batches is None or batches < catch_up_batches):
        caught_up = rollups.catch_up(db.engine, now=now, retention=retention)
        batches += 1
    rollups.compact(db.engine, now=now, retention=retention)
    with db.engine.connect() as conn:
        tallies = rollups.read(conn, since=since, until=until, step=step)
    return _assemble(window, since, step, tallies, _live_counts(db), catching_up=not caught_up)


def _direct_metrics(db: Database, *, window: str = DEFAULT_WINDOW, now: datetime | None = None) -> Metrics:
    """The same metrics straight from the rows (every attempt finished in the window): the tests' reference."""
    now = now or utcnow()
    since, until, step = window_bounds(window, now)
    start, end = rollups._EPOCH + timedelta(seconds=since), rollups._EPOCH + timedelta(seconds=until)
    with db.engine.connect() as conn:
        rows = conn.execute(rollups.finished_attempts().where(MediaAttempt.finished_at >= start,
                                                              MediaAttempt.finished_at < end)).all()
    tallies: dict[tuple[int, str, str], Tally] = {}
    for _, fin, outcome, created, reason in rows:
        f = rollups.to_finished(fin, outcome, created, reason)
        if f is not None:
            at = epoch(f.finished_at) // step * step
            tallies.setdefault((at, f.outcome, f.reason), Tally()).add_one(f.seconds)
    return _assemble(window, since, step, tallies, _live_counts(db))


def format_metrics(m: Metrics) -> str:
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x * 100:.2f}%"

    def secs(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.2f} s"

    lines = [
        f"window               {WINDOWS.get(m.window, m.window)} (since {m.since} UTC)",
        f"media total          {m.total} (finished in the window, and loading now)",
        "status               " + ", ".join(f"{k} {v}" for k, v in m.status_counts.items()),
        f"success rate         {pct(m.success_rate)} (target {SUCCESS_TARGET * 100:.0f}%+)",
        f"content not available {pct(m.unavailable_share)} (target under {UNAVAILABLE_TARGET * 100:.1f}%)",
        f"processing time      avg {secs(m.processing_avg_s)}, p50 {secs(m.processing_p50_s)}, "
        f"p95 {secs(m.processing_p95_s)} (target under {PROCESSING_TARGET_S:.0f} s)",
        f"throughput           {sum(c for _, c in m.throughput)} completed, {m.retried} attempts to retry",
    ]
    if m.catching_up:
        lines.append("note                 older media are still being counted: these figures will grow")
    if m.failure_reasons:
        lines.append("failure reasons      " + ", ".join(f"{k} {v}" for k, v in sorted(
            m.failure_reasons.items(), key=lambda kv: -kv[1])))
    return "\n".join(lines)
