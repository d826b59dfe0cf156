"""Alembic environment: batch mode for SQLite, the engine's models as the target for `alembic check`."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from engine.db.models import Base
from engine.db.session import make_engine

config = context.config
target_metadata = Base.metadata
# Derived tables that version themselves outside Alembic (engine/metrics_rollup.py says why).
NOT_MIGRATED = frozenset({"metrics_rollup_v1"})


def include_object(obj: object, name: str, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (type_ == "table" and name in NOT_MIGRATED)


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        url = config.get_main_option("sqlalchemy.url")
        engine = make_engine(url, poolclass=pool.NullPool) if url else engine_from_config(
            config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
        )
        with engine.connect() as conn:
            _run(conn)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode rebuilds a table (copy, DROP, rename). With foreign keys on, dropping `contacts` or
        # `chat_media` fires ON DELETE SET NULL / CASCADE on every chat and attempt pointing at it: data lost.
        # The pragma is ignored inside a transaction, so it is set (and committed) before Alembic begins one.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
