"""Media metrics from chat_media and media_attempts: what the console charts and `mediadesk stats` prints."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import String, func, select, type_coerce

from engine.db.models import ChatMedia, MediaStatus, utcnow
from engine.db.session import Database

SUCCESS_TARGET = 0.99
UNAVAILABLE_TARGET = 0.005
PROCESSING_TARGET_S = 30.0


@dataclass(frozen=True)
class Metrics:
    total: int
    status_counts: dict[str, int]
    success_rate: float | None  # completed / (completed + failed)
    unavailable_share: float | None  # failed / total: "Content not available" as the owner sees it
    processing_avg_s: float | None  # webhook received -> file stored
    processing_p50_s: float | None
    processing_p95_s: float | None
    histogram: list[tuple[float, float, int]] = field(default_factory=list)  # (from s, to s, count)
    over_time: list[tuple[str, float]] = field(default_factory=list)  # (completed at ISO, seconds), recent
    throughput: list[tuple[str, int]] = field(default_factory=list)  # (minute ISO, completed), last hour
    failure_reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = max(0, math.ceil(q * len(sorted_values)) - 1)
    return sorted_values[k]


def _histogram(values: list[float], bins: int = 20) -> list[tuple[float, float, int]]:
    if not values:
        return []
    hi = max(values)
    width = (hi / bins) if hi > 0 else 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int(v / width))] += 1
    return [(round(i * width, 4), round((i + 1) * width, 4), c) for i, c in enumerate(counts)]


def collect_metrics(db: Database, *, recent: int = 2000, window: int = 50_000) -> Metrics:
    """Compute every metric in four queries. Aggregation stays in SQLite and only numbers and text come back
    (no per-row datetime parsing): the charts ask for this every few seconds, off the GUI thread but under the GIL."""
    seconds = (func.julianday(ChatMedia.processed_at) - func.julianday(ChatMedia.created_at)) * 86400.0
    completed_rows = (ChatMedia.processing_status == MediaStatus.COMPLETED, ChatMedia.processed_at.is_not(None))
    minute = func.strftime("%Y-%m-%dT%H:%M:00", ChatMedia.processed_at)
    hour_ago = utcnow() - timedelta(hours=1)
    with db.session() as s:
        counts = dict(s.execute(select(ChatMedia.processing_status, func.count()).group_by(
            ChatMedia.processing_status)).all())
        # One scan, newest first: the durations of the last `window` and the times of the last `recent` of them.
        newest = s.execute(select(type_coerce(ChatMedia.processed_at, String), seconds).where(*completed_rows)
                           .order_by(ChatMedia.processed_at.desc()).limit(window)).all()
        per_minute = s.execute(select(minute, func.count()).where(*completed_rows, ChatMedia.processed_at >= hour_ago)
                               .group_by(minute).order_by(minute)).all()
        reasons = s.execute(
            select(func.json_extract(ChatMedia.meta, "$.reason"), func.count())
            .where(ChatMedia.processing_status == MediaStatus.FAILED)
            .group_by(func.json_extract(ChatMedia.meta, "$.reason"))
        ).all()
    durations = sorted(max(0.0, float(d)) for _, d in newest if d is not None)
    status_counts = {st.value: int(counts.get(st.value, 0)) for st in MediaStatus}
    total = sum(status_counts.values())
    # A file the retention policy removed was delivered: it is neither a failure nor a gap in the rate.
    completed, failed = status_counts["completed"] + status_counts.get("removed", 0), status_counts["failed"]
    # SQLAlchemy stores "YYYY-MM-DD HH:MM:SS.ffffff": with a T it is ISO 8601 as it is
    over_time = [(at.replace(" ", "T", 1), max(0.0, float(d))) for at, d in reversed(newest[:recent])
                 if at and d is not None]
    return Metrics(
        total=total,
        status_counts=status_counts,
        success_rate=(completed / (completed + failed)) if completed + failed else None,
        unavailable_share=(failed / total) if total else None,
        processing_avg_s=(sum(durations) / len(durations)) if durations else None,
        processing_p50_s=_percentile(durations, 0.50),
        processing_p95_s=_percentile(durations, 0.95),
        histogram=_histogram(durations),
        over_time=over_time,
        throughput=[(str(m), int(c)) for m, c in per_minute],
        failure_reasons={str(r or "unknown"): int(c) for r, c in reasons},
    )


def format_metrics(m: Metrics) -> str:
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x * 100:.2f}%"

    def secs(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.2f} s"

    lines = [
        f"media total          {m.total}",
        "status               " + ", ".join(f"{k} {v}" for k, v in m.status_counts.items()),
        f"success rate         {pct(m.success_rate)} (target {SUCCESS_TARGET * 100:.0f}%+)",
        f"content not available {pct(m.unavailable_share)} (target under {UNAVAILABLE_TARGET * 100:.1f}%)",
        f"processing time      avg {secs(m.processing_avg_s)}, p50 {secs(m.processing_p50_s)}, "
        f"p95 {secs(m.processing_p95_s)} (target under {PROCESSING_TARGET_S:.0f} s)",
        f"throughput           {sum(c for _, c in m.throughput)} completed in the last hour",
    ]
    if m.failure_reasons:
        lines.append("failure reasons      " + ", ".join(f"{k} {v}" for k, v in sorted(
            m.failure_reasons.items(), key=lambda kv: -kv[1])))
    return "\n".join(lines)
