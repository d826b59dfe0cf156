"""Schema migrations with Alembic, configured in code so the frozen build needs no alembic.ini.

Every migrate and rollback takes a backup first (when there is a database to back up).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from engine.config import Config
from engine.db.backend import backend_for
from engine.db.session import make_engine
from engine.errors import DatabaseError

log = logging.getLogger(__name__)


def _migrations_dir() -> Path:
    import migrations

    return Path(migrations.__file__).resolve().parent


def alembic_config(cfg: Config) -> AlembicConfig:
    ac = AlembicConfig()
    ac.set_main_option("script_location", str(_migrations_dir()))
    ac.set_main_option("sqlalchemy.url", cfg.sqlalchemy_url.replace("%", "%%"))
    return ac


def head_revision(cfg: Config) -> str:
    return ScriptDirectory.from_config(alembic_config(cfg)).get_current_head() or ""


BASELINE_UNSTAMPED = "0001_baseline(unstamped)"


def known_revision(cfg: Config, rev: str | None) -> bool:
    """Whether this version of MediaDesk knows `rev` (None, an empty database, and the unstamped baseline count
    as known): a database at an unknown revision was upgraded by a newer MediaDesk."""
    if rev is None or rev == BASELINE_UNSTAMPED:
        return True
    script = ScriptDirectory.from_config(alembic_config(cfg))
    return any(s.revision == rev for s in script.walk_revisions())


def _refuse_newer(cfg: Config, rev: str | None, doing: str) -> None:
    if not known_revision(cfg, rev):
        raise DatabaseError(f"cannot {doing}: the database is at revision {rev}, made by a newer MediaDesk than "
                            f"this one (it knows revisions up to {head_revision(cfg)}). Start that newer "
                            "version, or restore a backup taken before it (Database > Backups…)")


def current_revision(cfg: Config) -> str | None:
    """The database's revision; None for an empty or missing database."""
    backend = backend_for(cfg.sqlalchemy_url)
    if not backend.exists():
        return None
    engine = make_engine(cfg.sqlalchemy_url)
    try:
        with engine.connect() as conn:
            rev = MigrationContext.configure(conn).get_current_revision()
            if rev is None and inspect(conn).has_table("chat_media"):
                # A database from before MediaDesk used Alembic: the plan's original schema.
                return BASELINE_UNSTAMPED
            return rev
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot read the database schema version: {backend.explain(exc)}") from exc
    finally:
        engine.dispose()


@dataclass(frozen=True)
class MigrationResult:
    before: str | None
    after: str | None
    backup: Path | None

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def describe(self) -> str:
        if not self.changed:
            return f"database already at {self.after}"
        where = f" (backup: {self.backup})" if self.backup else ""
        return f"database migrated from {self.before or 'empty'} to {self.after}{where}"


def _backup_if_any(cfg: Config, label: str, revision: str | None) -> Path | None:
    if revision is None:
        return None  # nothing in the database yet
    return backend_for(cfg.sqlalchemy_url).backup(cfg.backups_dir, label=label)


def migrate(cfg: Config) -> MigrationResult:
    """Upgrade to head, backing up first; a no-op (and no backup) when already at head.

    Processes that start together on one database (listeners and workers) take turns: the first migrates,
    the others find the database at head."""
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    if current_revision(cfg) == head_revision(cfg):
        return MigrationResult(head_revision(cfg), head_revision(cfg), None)  # the common case: no lock to take
    with backend_for(cfg.sqlalchemy_url).exclusive("migrate"):
        return _migrate(cfg)


def _migrate(cfg: Config) -> MigrationResult:
    before = current_revision(cfg)
    head = head_revision(cfg)
    if before == head:
        return MigrationResult(before, head, None)
    _refuse_newer(cfg, before, "migrate")
    backup = _backup_if_any(cfg, "before-migrate", before)
    ac = alembic_config(cfg)
    try:
        if before == BASELINE_UNSTAMPED:
            command.stamp(ac, "0001_baseline")
        command.upgrade(ac, "head")
    except SQLAlchemyError as exc:
        why = backend_for(cfg.sqlalchemy_url).explain(exc)
        raise DatabaseError(f"migration failed ({why})" + (f"; the backup is at {backup}" if backup else "")) from exc
    after = current_revision(cfg)
    log.info("database migrated from %s to %s", before, after)
    return MigrationResult(before, after, backup)


def rollback(cfg: Config) -> MigrationResult:
    """Downgrade one revision, backing up first."""
    before = current_revision(cfg)
    if before is None:
        raise DatabaseError("there is no database to roll back")
    _refuse_newer(cfg, before, "roll back")
    backup = _backup_if_any(cfg, "before-rollback", before)
    try:
        command.downgrade(alembic_config(cfg), "-1")
    except SQLAlchemyError as exc:
        why = backend_for(cfg.sqlalchemy_url).explain(exc)
        raise DatabaseError(f"rollback failed ({why})" + (f"; the backup is at {backup}" if backup else "")) from exc
    after = current_revision(cfg)
    log.info("database rolled back from %s to %s", before, after)
    return MigrationResult(before, after, backup)


def needs_migration(cfg: Config) -> bool:
    return current_revision(cfg) != head_revision(cfg)
