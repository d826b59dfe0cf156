"""The models and the migrations never drift: a database migrated to head is what the models describe.

This is `alembic check` as a test (it runs in CI with the rest of the suite), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine.config import Config
from engine.db import Base, Database
from engine.db.migrate import migrate
from engine.tasks import make_huey


@pytest.mark.both_backends
def test_head_schema_matches_the_models(config: Config) -> None:
    migrate(config)
    make_huey(config)  # the queue's tables too, where they live beside ours
    db = Database(config.sqlalchemy_url)
    try:
        with db.engine.connect() as conn:
            # Huey's tables share a PostgreSQL database with ours; they are not the migrations' (as in env.py).
            ours = {"include_name": lambda name, type_, _: type_ != "table" or name in Base.metadata.tables}
            diff = compare_metadata(MigrationContext.configure(conn, opts=ours), Base.metadata)
    finally:
        db.dispose()
    assert diff == [], f"models and migrations differ: {diff}"
