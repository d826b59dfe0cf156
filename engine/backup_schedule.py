"""Backups by themselves (SPEC section 14): a copy of the SQLite database every `cfg.backup_every_hours`
(daily by default, 0 for off), the newest `cfg.backup_keep` scheduled ones kept. Backups taken before a
migration, a rollback or a restore, and those taken by hand, are never pruned: the owner decides on those.

Only the embedded SQLite database is covered; a database at MEDIADESK_DATABASE_URL (PostgreSQL) is not
backed up by MediaDesk yet, and every place that lists or checks backups says so.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from huey import crontab
from sqlalchemy.exc import SQLAlchemyError

from engine.config import Config
from engine.db.backup import backup_database
from engine.db.claims import claim_setting, read_setting
from engine.db.models import utcnow
from engine.db.session import Database
from engine.errors import DatabaseError
from engine.health import Finding
from engine.sizes import size_words

log = logging.getLogger(__name__)

SCHEDULED = "scheduled"
LAST_KEY = "backups.last_scheduled"  # when the newest scheduled backup was claimed (UTC)
WATCH_KEY = "backups.watched_since"  # when a health check first found no backup at all (UTC)
CHECK_EVERY = crontab(minute="*/10")  # how often a running engine asks "is a backup due?"
FINDING = "newest backup"
REASONS = {
    SCHEDULED: "scheduled",
    "manual": "taken by hand",
    "before-migrate": "before a database upgrade",
    "before-rollback": "before a rollback",
    "before-restore": "before a restore",
}
_NAME = re.compile(r"^mediadesk-(\d{8}-\d{6}-\d{6})-(.+)\.db$")


@dataclass(frozen=True)
class BackupInfo:
    """One backup file. `taken_at` is local time, as in its name."""

    path: Path
    taken_at: datetime
    label: str
    size: int

    @property
    def reason(self) -> str:
        return REASONS.get(self.label, self.label)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "taken_at": self.taken_at.isoformat(timespec="seconds"),
                "reason": self.reason, "label": self.label, "size": self.size}


def not_covered(cfg: Config) -> str | None:
    """Why backups do not cover this database, in words; None when they do."""
    if cfg.database_url is None:
        return None
    if cfg.database_url.startswith("postgres"):
        return ("the database is PostgreSQL (MEDIADESK_DATABASE_URL): MediaDesk's backups do not cover PostgreSQL "
                "yet; use pg_dump or the server's own backups")
    return "only the embedded SQLite database is backed up; the one at MEDIADESK_DATABASE_URL is not covered yet"


def list_backups(cfg: Config) -> list[BackupInfo]:
    """Every backup in `cfg.backups_dir`, newest first (empty when the database is not covered)."""
    if not_covered(cfg) or not cfg.backups_dir.is_dir():
        return []
    found = []
    for path in cfg.backups_dir.glob("mediadesk-*.db"):
        m = _NAME.match(path.name)
        if not m:
            continue
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue  # pruned or deleted meanwhile
        found.append(BackupInfo(path, datetime.strptime(m.group(1), "%Y%m%d-%H%M%S-%f"), m.group(2), size))
    return sorted(found, key=lambda b: b.taken_at, reverse=True)


def format_backups(cfg: Config) -> str:
    """`mediadesk backup --list`: one line a backup, newest first."""
    why_not = not_covered(cfg)
    if why_not:
        return f"no backups listed: {why_not}"
    backups = list_backups(cfg)
    if not backups:
        return f"no backups yet in {cfg.backups_dir}"
    rows = [f"{b.taken_at:%Y-%m-%d %H:%M:%S}  {size_words(b.size):>9}  {b.reason:<26}  {b.path.name}" for b in backups]
    schedule = (f"every {cfg.backup_every_hours} hours, keeping {cfg.backup_keep}" if cfg.backup_every_hours
                else "off")
    head = f"{len(backups)} backup{'s' if len(backups) != 1 else ''} in {cfg.backups_dir} (scheduled: {schedule})"
    return "\n".join([head, *rows])


def delete_backup(cfg: Config, backup: Path | str) -> None:
    """Delete one backup, named by its file name or its path in `cfg.backups_dir` (nothing elsewhere)."""
    path = Path(backup)
    if not path.is_absolute() and path.parent == Path("."):
        path = cfg.backups_dir / path
    if path.resolve().parent != cfg.backups_dir.resolve() or not _NAME.match(path.name):
        raise DatabaseError(f"{backup} is not one of MediaDesk's backups in {cfg.backups_dir}")
    try:
        path.unlink()
    except FileNotFoundError:
        raise DatabaseError(f"there is no backup {path.name} in {cfg.backups_dir}") from None
    log.info("backup %s deleted", path.name)


def prune_scheduled(cfg: Config) -> list[Path]:
    """Delete the scheduled backups beyond the newest `cfg.backup_keep`; returns those deleted."""
    extra = [b.path for b in list_backups(cfg) if b.label == SCHEDULED][cfg.backup_keep:]
    for path in extra:
        path.unlink(missing_ok=True)
    if extra:
        log.info("pruned %d scheduled backups (keeping %d)", len(extra), cfg.backup_keep)
    return extra


def take_scheduled_backup(cfg: Config, db: Database) -> Path | None:
    """Back up now if the schedule says one is due and no other process has just taken it; then prune.

    Returns the new backup, or None when none was due (or it failed: logged, and tried at the next check).
    """
    if not cfg.backup_every_hours or not_covered(cfg):
        return None
    now = utcnow()
    raw = read_setting(db, LAST_KEY)
    last = _parse_time(raw)
    if last is not None and now - last < timedelta(hours=cfg.backup_every_hours):
        return None
    stamp = now.isoformat(timespec="seconds")
    if not claim_setting(db, LAST_KEY, expected=raw, new=stamp):
        return None  # another process sharing this database is taking it
    try:
        path = backup_database(cfg.db_path, cfg.backups_dir, label=SCHEDULED)
    except DatabaseError as exc:
        log.warning("scheduled backup failed, tried again at the next check: %s", exc)
        claim_setting(db, LAST_KEY, expected=stamp, new=raw or "")
        return None
    prune_scheduled(cfg)
    return path


def schedule_backups(huey: Any, run: Callable[[], object], *, priority: int = 0) -> None:
    """Register the periodic "is a backup due?" task on the engine's Huey (before its consumer starts)."""

    @huey.periodic_task(CHECK_EVERY, priority=priority, name="scheduled_backup")
    def scheduled_backup() -> None:
        try:
            run()
        except (DatabaseError, SQLAlchemyError, OSError) as exc:
            log.warning("scheduled backup check failed: %s", exc)


def backup_age_finding(cfg: Config, db: Database) -> Finding:
    """"newest backup": bad when the newest backup (of any kind) is older than twice the schedule."""
    why_not = not_covered(cfg)
    if why_not:
        return Finding(FINDING, True, None, why_not)
    if not cfg.backup_every_hours:
        return Finding(FINDING, True, None, "scheduled backups are off")
    limit = timedelta(hours=2 * cfg.backup_every_hours)
    backups = list_backups(cfg)
    if backups:
        newest = backups[0]
        age = datetime.now() - newest.taken_at
        detail = f"the newest backup is {_words(age)} old ({newest.reason})"
        if age > limit:
            return Finding(FINDING, False, round(age.total_seconds() / 3600, 1),
                           f"{detail}; one should be taken every {cfg.backup_every_hours} hours")
        return Finding(FINDING, True, round(age.total_seconds() / 3600, 1), detail)
    raw = read_setting(db, WATCH_KEY)
    since = _parse_time(raw)
    if since is None:
        since = utcnow()
        claim_setting(db, WATCH_KEY, expected=raw, new=since.isoformat(timespec="seconds"))
    waited = utcnow() - since
    if waited > limit:
        return Finding(FINDING, False, None, f"no backup has been taken in {_words(waited)}; one should be "
                                             f"taken every {cfg.backup_every_hours} hours while MediaDesk runs")
    return Finding(FINDING, True, None, "no backup yet: the first scheduled one is taken while MediaDesk runs")


def _parse_time(raw: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _words(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    if hours < 1:
        minutes = max(0, int(age.total_seconds() // 60))
        return "1 minute" if minutes == 1 else f"{minutes} minutes"
    if hours < 48:
        return "1 hour" if round(hours) == 1 else f"{hours:.0f} hours"
    return f"{hours / 24:.0f} days"

