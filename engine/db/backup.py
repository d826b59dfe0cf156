"""Backups with SQLite's online backup API: safe while the listener and workers keep writing."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

from engine.errors import DatabaseError

log = logging.getLogger(__name__)


def backup_database(db_path: Path, backups_dir: Path, *, label: str = "manual") -> Path:
    """Copy the live database into `backups_dir` as `mediadesk-YYYYmmdd-HHMMSS-ffffff-LABEL.db`."""
    if not db_path.exists():
        raise DatabaseError(f"there is no database to back up at {db_path}")
    backups_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = backups_dir / f"mediadesk-{stamp}-{label}.db"
    partial = target.with_suffix(".db.partial")
    try:
        with sqlite3.connect(db_path, timeout=15) as src, sqlite3.connect(partial) as dst:
            src.backup(dst)
        src.close()
        dst.close()
        partial.replace(target)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise DatabaseError(f"backup of {db_path} failed: {exc}") from exc
    log.info("database backed up to %s", target)
    return target


def check_integrity(path: Path) -> None:
    """Raise DatabaseError unless `path` is an SQLite database that passes `PRAGMA integrity_check`."""
    if not path.is_file():
        raise DatabaseError(f"backup file not found: {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchone()
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"{path} is not a MediaDesk database: {exc}") from exc
    if not result or result[0] != "ok":
        raise DatabaseError(f"{path} is damaged: {result[0] if result else 'no answer'}")
    if "chats" not in tables:
        raise DatabaseError(f"{path} is an SQLite file but not a MediaDesk database (no chats table)")


def restore_database(backup: Path, db_path: Path, backups_dir: Path) -> Path | None:
    """Replace the database with `backup` after checking it; the current one is backed up first.

    Returns the safety backup of the database that was replaced (None if there was none).
    """
    backup = Path(backup)
    check_integrity(backup)
    safety = backup_database(db_path, backups_dir, label="before-restore") if db_path.exists() else None
    staging = db_path.with_name(db_path.name + ".restoring")
    shutil.copyfile(backup, staging)
    for suffix in ("-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    staging.replace(db_path)
    log.info("database restored from %s", backup)
    return safety


def list_backups(backups_dir: Path) -> list[Path]:
    """Backups, newest first."""
    if not backups_dir.is_dir():
        return []
    return sorted(backups_dir.glob("mediadesk-*.db"), reverse=True)
