"""Decisions that several processes sharing one database must take exactly once, in the `settings` table.

The alert for one health change and the scheduled backup for one interval are each claimed with a
compare-and-set on one row: the process whose UPDATE (or first INSERT) changes the row does the work, the
others see zero rows changed and leave it. SQLite serialises the writers; PostgreSQL re-checks the WHERE
clause of a concurrent UPDATE after the first one commits, so the loser changes nothing there either.
"""

from __future__ import annotations

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from engine.db.models import Setting
from engine.db.session import Database


def read_setting(db: Database, key: str) -> str | None:
    with db.session() as s:
        row = s.get(Setting, key)
        return None if row is None else row.value


def write_setting(db: Database, key: str, value: str | None) -> None:
    with db.session() as s:
        s.merge(Setting(key=key, value=value))


def claim_setting(db: Database, key: str, *, expected: str | None, new: str) -> bool:
    """Set `key` to `new` only if it still holds `expected` (None: the row does not exist yet).

    True for the one caller that changed it. Raises SQLAlchemy's errors (a locked database, say).
    """
    if expected is None:
        try:
            with db.session() as s:
                s.execute(insert(Setting).values(key=key, value=new))
            return True
        except IntegrityError:
            return False  # another process inserted it first
    with db.session() as s:
        changed = s.execute(update(Setting).where(Setting.key == key, Setting.value == expected)
                            .values(value=new)).rowcount
    return changed == 1
