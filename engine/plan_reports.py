"""The original plan's two monitoring-dashboard reports, in its own words (`mediadesk stats --window today`).

"Media processing stats": per processing_status, the count and avg_process_time (seconds from received to
stored) of today's media. "Failed media reasons": today's failed media grouped by `metadata.error`.
"Today" starts at midnight UTC, as every stored time and the health check's "failed today" do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from engine.db.models import ChatMedia, MediaStatus, utcnow
from engine.db.session import Database


@dataclass(frozen=True)
class StatusRow:
    processing_status: str
    count: int
    avg_process_time: float | None  # seconds; None where no media of that status has been processed


@dataclass(frozen=True)
class FailureRow:
    error: str | None
    count: int


@dataclass(frozen=True)
class PlanReports:
    since: str
    processing: list[StatusRow] = field(default_factory=list)
    failures: list[FailureRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_reports(db: Database, *, since: datetime | None = None) -> PlanReports:
    """Both reports over the media created since `since` (default: today's midnight, UTC)."""
    since = since or utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    seconds = db.backend.seconds_between(ChatMedia.created_at, ChatMedia.processed_at)
    error = ChatMedia.meta["error"].as_string()
    with db.session() as s:
        processing = s.execute(
            select(ChatMedia.processing_status, func.count(), func.avg(seconds))
            .where(ChatMedia.created_at >= since).group_by(ChatMedia.processing_status)
            .order_by(ChatMedia.processing_status)).all()
        failures = s.execute(
            select(error, func.count()).where(ChatMedia.processing_status == MediaStatus.FAILED,
                                              ChatMedia.created_at >= since)
            .group_by(error).order_by(func.count().desc(), error)).all()
    return PlanReports(
        since=since.isoformat(timespec="seconds"),
        processing=[StatusRow(str(st), int(n), None if avg is None else round(float(avg), 2))
                    for st, n, avg in processing],
        failures=[FailureRow(err, int(n)) for err, n in failures])


def format_plan_reports(r: PlanReports) -> str:
    since = r.since.replace("T", " ")
    lines = [f"Media processing stats (today, since {since} UTC)",
             f"  {'processing_status':<18} {'count':>7}  avg_process_time"]
    lines += [f"  {row.processing_status:<18} {row.count:>7}  "
              + ("-" if row.avg_process_time is None else f"{row.avg_process_time:.2f} s") for row in r.processing]
    if not r.processing:
        lines.append("  (no media today)")
    lines += ["", "Failed media reasons (today)", f"  {'count':>7}  error"]
    lines += [f"  {row.count:>7}  {row.error if row.error is not None else '(no error recorded)'}"
              for row in r.failures]
    if not r.failures:
        lines.append("  (no media failed today)")
    return "\n".join(lines)
