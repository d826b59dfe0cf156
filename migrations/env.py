"""Alembic environment: batch mode for SQLite, the engine's models as the target for `alembic check`."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from engine.db.backend import backend_for
from engine.db.models import Base
from engine.db.session import make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
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


def include_name(name, type_, parent_names) -> bool:
    """Only the models' tables: the queue's (Huey's, in the same PostgreSQL database) are not Alembic's."""
    return type_ != "table" or name in target_metadata.tables


def _run(connection) -> None:
    backend = backend_for(connection.engine.url.render_as_string(hide_password=False))
    backend.before_migrations(connection)
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()
    backend.after_migrations(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
