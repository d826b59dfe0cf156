"""Metrics roll-ups: finished download attempts counted into time buckets, so the charts and `mediadesk stats`
read a window's worth of buckets instead of every media ever received.

A bucket is one (resolution, start, outcome, reason) row: how many attempts ended that way in it, the sum and
maximum of their processing times (webhook received -> attempt finished, completed attempts only) and a
histogram of those times over fixed bins, so buckets add up without the rows. Minute buckets are kept for two
days, then compacted into hours; hours are kept for 40 days, then compacted into days. Every window offered
starts on a boundary of each resolution that can exist at its start, so no bucket is ever cut in two.

Where the roll-ups live, and why not Alembic: they are derived data, rebuildable from `media_attempts` and
`chat_media` at any time, like Huey's own queue tables, which live outside Alembic too. A contract scenario
requires that one `mediadesk rollback` from head removes `chat_media.processing_status`, so the head revision must
stay 0003 and no revision may be added for them. So this module creates and versions its own table,
`metrics_rollup_v1`, through a MetaData of its own (not the models' `Base.metadata`: the models-vs-migrations
check compares only the records, and ignores this table by name). A change of layout is a new name (`_v2`) and a
new watermark key: the new table is rebuilt from the rows by the catch-up, the old one is left unread. Only
SQLAlchemy Core is used (no SQLite-only SQL), so it runs on SQLite and PostgreSQL alike; the upsert is an
UPDATE of the keys that exist and an INSERT of the others.

Exactly once: the watermark `W` (in `settings`, key `WATERMARK_KEY`) is the highest `media_attempts.id` the
roll-ups have passed. An attempt at or below `W` that was finished when `W` passed it is counted; one that was
still open then is counted by `record_finished` when it finishes (its id is at or below `W` by then). Attempts
above `W` are counted by whoever moves `W` past them: `record_finished` for a short stretch (the attempts running
beside it), `catch_up` for the rest (rows finished by an older version, a restored backup, rows finished while
the roll-ups did not exist), a bounded number per call. Every writer of the roll-ups first locks the watermark
row (an UPDATE of it: SQLite's write lock, PostgreSQL's row lock), so writers are serialized: two processes
finishing media at once cannot both count the same attempt, nor lose one, and the update-then-insert cannot race.

The reason of a failed attempt is not in its `media_attempts` row: a fold takes the media's `metadata.reason`
as it is when the attempt is folded (for a live finish, the reason just written).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.schema import CreateTable

from engine.db.models import NAMING_CONVENTION, ChatMedia, MediaAttempt, Setting

TABLE_NAME = "metrics_rollup_v1"
WATERMARK_KEY = "metrics_rollup_v1.watermark"
MINUTE, HOUR, DAY = 60, 3600, 86400
# Bins of processing time in seconds: [EDGES[i], EDGES[i + 1]), the last one open-ended.
EDGES: tuple[float, ...] = (0, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 300, 600, 1800, 3600)
BINS = len(EDGES)
OUTCOMES = ("completed", "failed", "retry")  # media_attempts.outcome
CATCH_UP_BATCH = 50_000  # attempts per call: about a second of work, whatever the history
LIVE_SPAN = 1_000  # a finish passes the watermark over at most this many ids; further is the catch-up's
COMPACT_BATCH = 5_000  # buckets moved per level and call

metadata = MetaData(naming_convention=NAMING_CONVENTION)
rollup = Table(
    TABLE_NAME, metadata,
    Column("resolution", Integer, primary_key=True),  # seconds: MINUTE, HOUR or DAY
    Column("bucket_start", BigInteger, primary_key=True),  # epoch seconds, UTC
    Column("outcome", String(16), primary_key=True),
    Column("reason", String(64), primary_key=True),  # "" for completed
    Column("n", Integer, nullable=False),
    Column("seconds_sum", Float, nullable=False),
    Column("seconds_max", Float, nullable=False),
    *(Column(f"h{i:02d}", Integer, nullable=False) for i in range(BINS)),
)
_HIST = [rollup.c[f"h{i:02d}"] for i in range(BINS)]
_KEY = (rollup.c.resolution, rollup.c.bucket_start, rollup.c.outcome, rollup.c.reason)
_EPOCH = datetime(1970, 1, 1)
_CHUNK = 400  # keys per IN (...)


@dataclass(frozen=True)
class Retention:
    """How long each resolution is kept before it is compacted into the next (tests shorten them)."""

    minutes: timedelta = timedelta(days=2)
    hours: timedelta = timedelta(days=40)

    def cutoffs(self, now: datetime) -> tuple[int, int]:
        """(minutes before this are hours, hours before this are days), in epoch seconds, on hour/day bounds."""
        t = epoch(now)
        return (t // HOUR * HOUR - int(self.minutes.total_seconds()) // HOUR * HOUR,
                t // DAY * DAY - int(self.hours.total_seconds()) // DAY * DAY)

    def resolution_at(self, t: int, now: datetime) -> int:
        minute_cut, hour_cut = self.cutoffs(now)
        return MINUTE if t >= minute_cut else HOUR if t >= hour_cut else DAY


DEFAULT_RETENTION = Retention()


@dataclass
class Tally:
    """What one bucket (or a sum of buckets) holds."""

    n: int = 0
    seconds_sum: float = 0.0
    seconds_max: float = 0.0
    hist: list[int] = field(default_factory=lambda: [0] * BINS)

    def add_one(self, seconds: float | None) -> None:
        self.n += 1
        if seconds is not None:
            self.seconds_sum += seconds
            self.seconds_max = max(self.seconds_max, seconds)
            self.hist[bisect.bisect_right(EDGES, seconds) - 1] += 1

    def merge(self, other: Tally) -> None:
        self.n += other.n
        self.seconds_sum += other.seconds_sum
        self.seconds_max = max(self.seconds_max, other.seconds_max)
        self.hist = [a + b for a, b in zip(self.hist, other.hist, strict=True)]


Key = tuple[int, int, str, str]  # (resolution, bucket_start, outcome, reason)


def epoch(at: datetime) -> int:
    """Naive UTC (as every stored time is) to epoch seconds."""
    return int((at - _EPOCH).total_seconds())


@dataclass(frozen=True)
class Finished:
    """One finished attempt as the roll-ups see it."""

    finished_at: datetime
    outcome: str
    reason: str
    seconds: float | None  # completed attempts only


def finished_attempts() -> Any:
    """The select of attempts with what a fold needs: id, finished_at, outcome, media created_at, reason."""
    return (select(MediaAttempt.id, MediaAttempt.finished_at, MediaAttempt.outcome, ChatMedia.created_at,
                   ChatMedia.meta["reason"].as_string())
            .join(ChatMedia, ChatMedia.id == MediaAttempt.media_id))


def to_finished(finished_at: datetime | None, outcome: str | None, created_at: datetime | None,
                reason: str | None) -> Finished | None:
    """A row of `finished_attempts()` as a Finished; None for one still open (or never closed)."""
    if finished_at is None or outcome not in OUTCOMES:
        return None
    if outcome == "completed":
        seconds = max(0.0, (finished_at - created_at).total_seconds()) if created_at is not None else 0.0
        return Finished(finished_at, outcome, "", seconds)
    return Finished(finished_at, outcome, str(reason or "unknown"), None)


def tally(rows: Iterable[Finished], *, now: datetime, retention: Retention = DEFAULT_RETENTION) -> dict[Key, Tally]:
    out: dict[Key, Tally] = {}
    for f in rows:
        t = epoch(f.finished_at)
        res = retention.resolution_at(t, now)
        key = (res, t // res * res, f.outcome, f.reason)
        out.setdefault(key, Tally()).add_one(f.seconds)
    return out


# -- writing (every writer holds the watermark lock)
def _lock_watermark(conn: Connection) -> int | None:
    """Lock the watermark row and read it; None when the roll-ups are not set up in this database."""
    value = conn.execute(update(Setting).where(Setting.key == WATERMARK_KEY).values(value=Setting.value)
                         .returning(Setting.value)).scalar_one_or_none()
    return None if value is None else int(value)


def _set_watermark(conn: Connection, value: int) -> None:
    conn.execute(update(Setting).where(Setting.key == WATERMARK_KEY).values(value=str(value)))


def _chunks(seq: Sequence[Any], n: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _add(conn: Connection, tallies: dict[Key, Tally]) -> None:
    """Add `tallies` into the table: the keys that exist are updated in place (n = n + ...), the others inserted."""
    keys = list(tallies)
    existing: set[Key] = set()
    for part in _chunks(keys):
        existing.update(tuple(r) for r in conn.execute(select(*_KEY).where(tuple_(*_KEY).in_(part))))
    params = [_params(k, tallies[k]) for k in keys]
    updates = [p for k, p in zip(keys, params, strict=True) if k in existing]
    inserts = [p for k, p in zip(keys, params, strict=True) if k not in existing]
    if updates:
        m = bindparam("p_max")
        conn.execute(
            update(rollup).where(*(c == bindparam(f"k_{c.name}") for c in _KEY)).values(
                n=rollup.c.n + bindparam("p_n"),
                seconds_sum=rollup.c.seconds_sum + bindparam("p_sum"),
                seconds_max=case((rollup.c.seconds_max < m, m), else_=rollup.c.seconds_max),
                **{c.name: c + bindparam(f"p_{c.name}") for c in _HIST}),
            updates)
    if inserts:
        conn.execute(insert(rollup), [{**{c.name: p[f"k_{c.name}"] for c in _KEY}, "n": p["p_n"],
                                       "seconds_sum": p["p_sum"], "seconds_max": p["p_max"],
                                       **{c.name: p[f"p_{c.name}"] for c in _HIST}} for p in inserts])


def _params(key: Key, t: Tally) -> dict[str, Any]:
    return {**{f"k_{c.name}": v for c, v in zip(_KEY, key, strict=True)}, "p_n": t.n, "p_sum": t.seconds_sum,
            "p_max": t.seconds_max, **{f"p_{c.name}": v for c, v in zip(_HIST, t.hist, strict=True)}}


def _fold_ids(conn: Connection, after: int, upto: int | None, *, limit: int | None, now: datetime,
              retention: Retention) -> int:
    """Count the finished attempts with id in (after, upto] (at most `limit` ids); returns the last id passed."""
    q = finished_attempts().where(MediaAttempt.id > after).order_by(MediaAttempt.id)
    if upto is not None:
        q = q.where(MediaAttempt.id <= upto)
    if limit is not None:
        q = q.limit(limit)
    rows = conn.execute(q).all()
    done = [f for _, fin, out, created, reason in rows if (f := to_finished(fin, out, created, reason))]
    if done:
        _add(conn, tally(done, now=now, retention=retention))
    return rows[-1][0] if rows else (upto if upto is not None else after)


def record_finished(conn: Connection, attempt_id: int, *, retention: Retention = DEFAULT_RETENTION) -> None:
    """Count attempt `attempt_id`, just finished on `conn`, in the caller's transaction (the media state owner
    calls this as it closes an attempt, so the roll-ups never disagree with the rows)."""
    w = _lock_watermark(conn)
    if w is None:
        return  # not set up here (yet): the catch-up counts it
    now = _now()
    if attempt_id <= w:
        row = conn.execute(finished_attempts().where(MediaAttempt.id == attempt_id)).first()
        f = to_finished(*row[1:]) if row else None
        if f is not None:
            _add(conn, tally([f], now=now, retention=retention))
    elif attempt_id - w <= LIVE_SPAN:
        _set_watermark(conn, _fold_ids(conn, w, attempt_id, limit=None, now=now, retention=retention))
    # further ahead: the catch-up is still on its way there, and counts this one when it passes


def ensure(engine: Engine) -> None:
    """Create the table and the watermark if this database has none (a new, restored or older database)."""
    try:
        with engine.begin() as conn:
            had_table = conn.dialect.has_table(conn, TABLE_NAME)
            conn.execute(CreateTable(rollup, if_not_exists=True))
            has_mark = conn.execute(select(Setting.value).where(Setting.key == WATERMARK_KEY)).first() is not None
            if had_table and has_mark:
                return
            # A table without its watermark (or the reverse) cannot be trusted: counted again from the rows.
            conn.execute(delete(rollup))
            conn.execute(delete(Setting).where(Setting.key == WATERMARK_KEY))
            conn.execute(insert(Setting).values(key=WATERMARK_KEY, value="0"))
    except IntegrityError:
        pass  # another process set them up at the same moment


def rebuild(engine: Engine) -> None:
    """Forget every bucket: the catch-up counts everything again from the rows."""
    with engine.begin() as conn:
        conn.execute(delete(Setting).where(Setting.key == WATERMARK_KEY))
    ensure(engine)


def catch_up(engine: Engine, *, batch: int | None = None, retention: Retention = DEFAULT_RETENTION,
             now: datetime | None = None) -> bool:
    """Count up to `batch` (default CATCH_UP_BATCH) attempts the roll-ups have not passed yet; True when none
    is left."""
    now = now or _now()
    batch = batch or CATCH_UP_BATCH
    try:
        w = _peek(engine)
    except (OperationalError, ProgrammingError):
        w = None
    if w is None:
        ensure(engine)
        w = 0
    with engine.connect() as conn:
        newest = conn.execute(select(func.max(MediaAttempt.id))).scalar() or 0
    if newest <= w:
        return True  # the common case costs one index lookup, and no write lock
    with engine.begin() as conn:
        w = _lock_watermark(conn)
        if w is None:
            return False
        last = _fold_ids(conn, w, None, limit=batch, now=now, retention=retention)
        _set_watermark(conn, last)
    return last >= newest


def _peek(engine: Engine) -> int | None:
    with engine.connect() as conn:
        value = conn.execute(select(Setting.value).where(Setting.key == WATERMARK_KEY)).scalar_one_or_none()
        if value is not None:
            conn.execute(select(rollup.c.n).limit(1)).all()  # the table is there too (a restore may have lost it)
    return None if value is None else int(value)


def compact(engine: Engine, *, now: datetime | None = None, retention: Retention = DEFAULT_RETENTION,
            batch: int = COMPACT_BATCH) -> int:
    """Move minute buckets past their retention into hours, and hours into days; returns the buckets moved."""
    now = now or _now()
    minute_cut, hour_cut = retention.cutoffs(now)
    moved = 0
    for res, cut, into in ((MINUTE, minute_cut, HOUR), (HOUR, hour_cut, DAY)):
        old = and_(rollup.c.resolution == res, rollup.c.bucket_start < cut)
        with engine.connect() as conn:
            if conn.execute(select(rollup.c.n).where(old).limit(1)).first() is None:
                continue  # nothing due: no write lock taken
        with engine.begin() as conn:
            if _lock_watermark(conn) is None:
                return moved
            rows = [r._mapping for r in conn.execute(select(rollup).where(old).order_by(rollup.c.bucket_start)
                                                     .limit(batch))]
            merged: dict[Key, Tally] = {}
            for r in rows:
                t = Tally(r["n"], r["seconds_sum"], r["seconds_max"], [r[c.name] for c in _HIST])
                key = (into, r["bucket_start"] // into * into, r["outcome"], r["reason"])
                merged.setdefault(key, Tally()).merge(t)
            _add(conn, merged)
            for part in _chunks([tuple(r[c.name] for c in _KEY) for r in rows]):
                conn.execute(delete(rollup).where(tuple_(*_KEY).in_(part)))
            moved += len(rows)
    return moved


# -- reading
def read(conn: Connection, *, since: int, until: int, step: int) -> dict[tuple[int, str, str], Tally]:
    """The buckets starting in [since, until), summed per (step start, outcome, reason)."""
    at = rollup.c.bucket_start // step * step
    q = (select(at, rollup.c.outcome, rollup.c.reason, func.sum(rollup.c.n), func.sum(rollup.c.seconds_sum),
                func.max(rollup.c.seconds_max), *(func.sum(c) for c in _HIST))
         .where(rollup.c.resolution.in_((MINUTE, HOUR, DAY)), rollup.c.bucket_start >= since,
                rollup.c.bucket_start < until)
         .group_by(at, rollup.c.outcome, rollup.c.reason))
    out: dict[tuple[int, str, str], Tally] = {}
    for row in conn.execute(q):
        out[(int(row[0]), row[1], row[2])] = Tally(int(row[3]), float(row[4]), float(row[5]),
                                                   [int(v) for v in row[6:]])
    return out


def _now() -> datetime:
    from engine.db.models import utcnow

    return utcnow()
