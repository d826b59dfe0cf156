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


@pytest.mark.both_backends
def test_head_schema_matches_the_models(config: Config) -> None:
    migrate(config)
    db = Database(config.sqlalchemy_url)
    try:
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        db.dispose()
    assert diff == [], f"models and migrations differ: {diff}"
