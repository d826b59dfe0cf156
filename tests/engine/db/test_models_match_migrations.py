"""The models and the migrations never drift: a database migrated to head is what the models describe.

This is `alembic check` as a test (it runs in CI with the rest of the suite).
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine import metrics_rollup
from engine.config import Config
from engine.db import Base, Database
from engine.db.migrate import migrate


def _records_only(obj: object, name: str, type_: str, reflected: bool, compare_to: object) -> bool:
    # The metrics roll-ups are derived data in a table of their own, outside Alembic (like Huey's queue).
    return not (type_ == "table" and name == metrics_rollup.TABLE_NAME)


def test_head_schema_matches_the_models(config: Config) -> None:
    migrate(config)
    db = Database(config.sqlalchemy_url)
    try:
        metrics_rollup.ensure(db.engine)  # present, as in any database the engine has run on
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": _records_only})
            diff = compare_metadata(context, Base.metadata)
    finally:
        db.dispose()
    assert diff == [], f"models and migrations differ: {diff}"
