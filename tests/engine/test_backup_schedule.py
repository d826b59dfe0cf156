"""Scheduled backups: due or not, one of several processes, pruning, listing, restore and delete, the age finding."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from mediadesk_testkit import build_config

from engine import backup_schedule as bs
from engine.config import Config
from engine.db import Database
from engine.db.backup import backup_database
from engine.db.claims import read_setting, write_setting
from engine.db.models import utcnow
from engine.errors import DatabaseError
from engine.runtime import MediaDeskEngine


def stamped(cfg: Config, source: Path, when: datetime, label: str) -> Path:
    """A copy of a real backup under the name it would have had if taken at `when`."""
    cfg.backups_dir.mkdir(parents=True, exist_ok=True)
    target = cfg.backups_dir / f"mediadesk-{when:%Y%m%d-%H%M%S-%f}-{label}.db"
    shutil.copyfile(source, target)
    return target


def test_a_scheduled_backup_is_taken_when_due_and_not_again_within_the_interval(
        data_dir: Path, database: Database) -> None:
    cfg = build_config(data_dir, backup_every_hours=24)
    first = bs.take_scheduled_backup(cfg, database)
    assert first is not None and first.name.endswith("-scheduled.db") and first.exists()
    assert bs.take_scheduled_backup(cfg, database) is None
    write_setting(database, bs.LAST_KEY, (utcnow() - timedelta(hours=25)).isoformat())
    second = bs.take_scheduled_backup(cfg, database)
    assert second is not None and second != first
    assert bs.take_scheduled_backup(build_config(data_dir, backup_every_hours=0), database) is None  # off


def test_of_several_processes_one_takes_the_backup(data_dir: Path, database: Database) -> None:
    cfg = build_config(data_dir, backup_every_hours=24)
    dbs = [Database(cfg.sqlalchemy_url) for _ in range(4)]  # a connection pool each, as processes have
    barrier = threading.Barrier(len(dbs))
    taken: list[Path | None] = []

    def run(db: Database) -> None:
        barrier.wait()
        taken.append(bs.take_scheduled_backup(cfg, db))

    threads = [threading.Thread(target=run, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for db in dbs:
        db.dispose()
    assert len([p for p in taken if p]) == 1
    assert len([b for b in bs.list_backups(cfg) if b.label == "scheduled"]) == 1


def test_only_the_newest_scheduled_backups_are_kept_never_those_before_migrations(
        data_dir: Path, database: Database) -> None:
    cfg = build_config(data_dir, backup_every_hours=24, backup_keep=3)
    real = backup_database(cfg.db_path, cfg.backups_dir, label="manual")
    old = datetime.now() - timedelta(days=30)
    before_migrate = stamped(cfg, real, old, "before-migrate")
    for day in range(5):
        stamped(cfg, real, old + timedelta(days=day), "scheduled")
    newest = bs.take_scheduled_backup(cfg, database)
    kept = bs.list_backups(cfg)
    scheduled = [b.path for b in kept if b.label == "scheduled"]
    assert len(scheduled) == 3 and scheduled[0] == newest
    assert before_migrate in [b.path for b in kept] and real in [b.path for b in kept]


def test_list_restore_and_delete_through_the_engine(config: Config) -> None:
    cfg = config.with_changes(backup_every_hours=24)
    eng = MediaDeskEngine(cfg)
    # No consumer: its own periodic check, at a minute ending in 0, would claim the scheduled backup first.
    eng.start(listener=False, workers=False)
    try:
        eng.backup()
        write_setting(eng.db, "marker", "after the backup")
        eng.scheduled_backup()
        listed = eng.backups()
        assert [b.reason for b in listed] == ["scheduled", "taken by hand"]
        assert all(b.size > 0 and b.taken_at <= datetime.now() for b in listed)
        assert listed[0].to_dict()["reason"] == "scheduled"
        eng.restore(listed[1].path)  # the one taken by hand, before the marker was written
        assert read_setting(eng.db, "marker") is None
        assert {b.reason for b in eng.backups()} == {"scheduled", "taken by hand", "before a restore"}
        eng.delete_backup(listed[1].path.name)
        assert listed[1].path not in [b.path for b in eng.backups()]
        with pytest.raises(DatabaseError, match="not one of MediaDesk's backups"):
            eng.delete_backup(cfg.db_path)
        with pytest.raises(DatabaseError, match="no backup"):
            eng.delete_backup(listed[1].path.name)
    finally:
        eng.stop()
    periodic = [t.__name__ for t in eng.queue.huey._registry._periodic_tasks]
    assert "scheduled_backup" in periodic


def test_the_newest_backup_older_than_twice_the_schedule_is_bad(data_dir: Path, database: Database) -> None:
    cfg = build_config(data_dir, backup_every_hours=24)
    fresh = bs.backup_age_finding(cfg, database)
    assert fresh.ok and "no backup yet" in fresh.detail  # a new installation is not yet late
    real = backup_database(cfg.db_path, cfg.backups_dir, label="manual")
    assert bs.backup_age_finding(cfg, database).ok
    stale = stamped(cfg, real, datetime.now() - timedelta(hours=49), "scheduled")
    real.unlink()
    late = bs.backup_age_finding(cfg, database)
    assert not late.ok and "2 days old" in late.detail and "every 24 hours" in late.detail
    assert bs.backup_age_finding(build_config(data_dir, backup_every_hours=48), database).ok
    stale.unlink()
    write_setting(database, bs.WATCH_KEY, (utcnow() - timedelta(days=3)).isoformat())
    never = bs.backup_age_finding(cfg, database)
    assert not never.ok and "no backup has been taken in 3 days" in never.detail
    assert bs.backup_age_finding(build_config(data_dir, backup_every_hours=0), database).ok


def test_postgresql_is_said_plainly_not_to_be_covered(data_dir: Path) -> None:
    cfg = build_config(data_dir, database_url="postgresql://desk@db.example.com/mediadesk", backup_every_hours=24)
    assert bs.list_backups(cfg) == []
    finding = bs.backup_age_finding(cfg, None)  # type: ignore[arg-type] # no database is asked
    assert finding.ok and "PostgreSQL" in finding.detail and "do not cover PostgreSQL yet" in finding.detail
    assert "PostgreSQL" in bs.format_backups(cfg)
    assert bs.take_scheduled_backup(cfg, None) is None  # type: ignore[arg-type]


@pytest.fixture
def drop_cli_log_handlers() -> Iterator[None]:
    """main() sets up logging to the data dir; do not leave those handlers on the root logger."""
    yield
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_mediadesk", False):
            root.removeHandler(h)
            h.close()


def test_backup_list_command(data_dir: Path, database: Database, capsys: pytest.CaptureFixture[str],
                             drop_cli_log_handlers: None) -> None:
    from engine.cli import main

    assert main(["backup", "--list", "--data-dir", str(data_dir)]) == 0
    assert "no backups yet" in capsys.readouterr().out
    assert main(["backup", "--data-dir", str(data_dir)]) == 0
    capsys.readouterr()
    assert main(["backup", "--list", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("1 backup in") and "scheduled: every 24 hours, keeping 7" in out[0]
    assert "taken by hand" in out[1] and out[1].endswith("-manual.db")


def test_the_periodic_task_takes_the_scheduled_backup(config: Config, start_engine) -> None:  # type: ignore[no-untyped-def]
    eng = start_engine(config.with_changes(backup_every_hours=24), listener=False, workers=False)
    cls = next(t for t in eng.queue.huey._registry._periodic_tasks if t.__name__ == "scheduled_backup")
    validate = cls().validate_datetime
    assert validate(datetime(2026, 5, 9, 3, 10)) and not validate(datetime(2026, 5, 9, 3, 11))
    cls().execute()  # what the consumer runs every ten minutes
    assert [b.reason for b in eng.backups()] == ["scheduled"]
    cls().execute()
    assert len(eng.backups()) == 1  # not due again for 24 hours
