"""The media health check (SPEC section 5): run every 5 minutes by Huey and on demand."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from engine.db.models import ChatMedia, MediaStatus, Setting, utcnow
from engine.db.queries import download_failed
from engine.db.session import Database
from engine.db.settings_rows import put_setting
from engine.errors import StorageError
from engine.storage import Storage

log = logging.getLogger(__name__)
PENDING_TOO_LONG = timedelta(minutes=10)
FAILED_TODAY_ALERT = 10
FILE_CHECK_LIMIT = 5000  # newest completed media whose files are checked each run
SETTING_KEY = "health.last_report"


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    value: int | float | str | None
    detail: str
    level: str | None = None  # "ok" | "warn" | "bad" where a finding has a warning level between the two


@dataclass(frozen=True)
class HealthReport:
    ok: bool
    checked_at: str
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HealthReport:
        return cls(ok=bool(data["ok"]), checked_at=str(data["checked_at"]),
                   findings=[Finding(**f) for f in data.get("findings", [])])

    def format(self) -> str:
        head = f"health: {'OK' if self.ok else 'BAD'} (checked {self.checked_at})"
        rows = [f"  [{'!!' if not f.ok else 'warn' if f.level == 'warn' else 'ok'}] {f.name}: {f.detail}"
                for f in self.findings]
        return "\n".join([head, *rows])


def run_health_check(db: Database, storage_for: Callable[[str], Storage], *, queue_length: int | None = None,
                     workers_alive: int | None = None, workers_expected: bool = True,
                     extra_findings: Iterable[Finding] = (), schema_ok: bool = True) -> HealthReport:
    """SPEC section 5's checks; `extra_findings` (free space, schema, writes, backups, alert delivery: see
    `engine.monitoring`) join the report. With `schema_ok` False the media are not looked at (their columns
    may not be there) and the report is not saved (the database takes no writes)."""
    now = utcnow()
    extra = list(extra_findings)
    if not schema_ok:
        findings = [*extra]
        if workers_alive is not None:
            findings.append(Finding("workers alive", True, workers_alive,
                                    f"{workers_alive} download workers, paused until the schema is migrated"))
        return HealthReport(ok=False, checked_at=now.isoformat(timespec="seconds"), findings=findings)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with db.session() as s:
        stuck = s.execute(select(func.count()).where(
            ChatMedia.processing_status.in_([MediaStatus.PENDING, MediaStatus.PROCESSING]),
            ChatMedia.created_at < now - PENDING_TOO_LONG)).scalar_one()
        failed_today = s.execute(select(func.count()).where(
            download_failed(), ChatMedia.updated_at >= day_start)).scalar_one()
        completed = s.execute(select(ChatMedia.id, ChatMedia.path, ChatMedia.location).where(
            ChatMedia.processing_status == MediaStatus.COMPLETED).order_by(ChatMedia.id.desc())
            .limit(FILE_CHECK_LIMIT)).all()
    no_path = [mid for mid, path, _ in completed if not path]
    missing: list[int] = []
    storage_error = None
    for mid, path, location in completed:
        if path:
            try:
                if not storage_for(location).exists(path):
                    missing.append(mid)
            except StorageError as exc:
                storage_error = str(exc)
                break
    findings = [
        Finding("media pending over 10 minutes", stuck == 0, stuck,
                "none" if not stuck else f"{stuck} media have waited over 10 minutes"),
        Finding("media failed today", failed_today <= FAILED_TODAY_ALERT, failed_today,
                f"{failed_today} failed today (alert over {FAILED_TODAY_ALERT})"),
        Finding("completed media without a path", not no_path, len(no_path),
                "none" if not no_path else f"media {no_path[:5]} are completed but have no path"),
        Finding("completed media whose file is gone", not missing and storage_error is None,
                len(missing), storage_error or ("every file is there" if not missing
                                                else f"files of media {missing[:5]} are missing")),
    ]
    findings.append(stored_file_finding(db))
    if queue_length is not None:
        findings.append(Finding("queue length", True, queue_length, f"{queue_length} tasks waiting"))
    if workers_alive is not None:
        ok = workers_alive > 0 or not workers_expected
        findings.append(Finding("workers alive", ok, workers_alive, f"{workers_alive} download workers running"))
    findings.extend(extra)
    report = HealthReport(ok=all(f.ok for f in findings), checked_at=now.isoformat(timespec="seconds"),
                          findings=findings)
    save_report(db, report)
    return report


def stored_file_finding(db: Database) -> Finding:
    """Stored files a verify or scrub found damaged or removed (engine.media.verify) and not yet mended.

    Bad only for those WhatsApp no longer has: one being fetched again mends itself in seconds.
    """
    reason = ChatMedia.meta["reason"].as_string()
    with db.session() as s:
        lost = s.execute(select(func.count()).where(ChatMedia.processing_status == MediaStatus.FAILED,
                                                    reason.in_(["file_damaged", "file_removed"]))).scalar_one()
        mending = s.execute(select(func.count()).where(
            ChatMedia.processing_status.in_([MediaStatus.PENDING, MediaStatus.PROCESSING]),
            ChatMedia.meta["refetch"]["reason"].as_string().is_not(None))).scalar_one()
    if not lost and not mending:
        detail = "no damaged or removed files found"
    else:
        detail = f"{lost + mending} damaged or removed: {mending} being fetched again, {lost} gone from WhatsApp too"
    return Finding("damaged stored files", lost == 0, lost + mending, detail)


def save_report(db: Database, report: HealthReport) -> None:
    from engine.dbfaults import classify, short

    try:
        with db.session() as s:
            put_setting(s, SETTING_KEY, json.dumps(report.to_dict()))
    except Exception as exc:
        if classify(exc) is None:
            raise
        # The report is still returned and shown; only the copy for the console's next start is missing.
        log.warning("the health report could not be saved: %s", short(exc))


def last_report(db: Database) -> HealthReport | None:
    with db.session() as s:
        row = s.get(Setting, SETTING_KEY)
        if row is None or not row.value:
            return None
        return HealthReport.from_dict(json.loads(row.value))
