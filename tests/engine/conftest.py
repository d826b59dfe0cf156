"""Fixtures for the engine suite: real SQLite files, a real Huey consumer, real HTTP on loopback.

Nothing here fakes a part of the engine. The Graph API is the project's own CloudSimulator on
127.0.0.1, S3 is a moto server on 127.0.0.1, and webhooks go through the engine's real listener.

Tests marked `both_backends` run twice: on an SQLite file, and on a database of their own in a real
PostgreSQL server (the session's `postgres_server`), queue (PostgresHuey) included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mediadesk_testkit import ACCESS_TOKEN, build_config

from engine.config import Config
from engine.db import Database
from engine.db.migrate import migrate
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator

BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_backends"):
        metafunc.parametrize("database_url", BACKENDS, indirect=True)


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for the SQLite file in the data dir; for `both_backends` tests also a fresh PostgreSQL database."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield None
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def config(data_dir: Path, database_url: str | None) -> Config:
    return build_config(data_dir, database_url=database_url)


@pytest.fixture
def database(config: Config) -> Iterator[Database]:
    """A database migrated to head in a real SQLite file."""
    migrate(config)
    db = Database(config.sqlalchemy_url)
    yield db
    db.dispose()


@pytest.fixture
def sim() -> Iterator[CloudSimulator]:
    simulator = CloudSimulator(access_token=ACCESS_TOKEN)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def sim_config(data_dir: Path, sim: CloudSimulator, database_url: str | None) -> Config:
    return build_config(data_dir, graph_url=sim.base_url, graph_version=sim.version, database_url=database_url)


@pytest.fixture
def start_engine() -> Iterator[Callable[..., MediaDeskEngine]]:
    """Start engines on demand; every one is stopped at teardown, whatever the test did."""
    started: list[MediaDeskEngine] = []

    def start(cfg: Config, *, listener: bool = True, workers: bool = True) -> MediaDeskEngine:
        eng = MediaDeskEngine(cfg)
        started.append(eng)
        eng.start(listener=listener, workers=workers)
        return eng

    yield start
    for eng in reversed(started):
        eng.stop()


@pytest.fixture
def engine(sim_config: Config, start_engine: Callable[..., MediaDeskEngine]) -> MediaDeskEngine:
    """A running engine: listener on a free port, two Huey worker threads, Graph = the simulator."""
    return start_engine(sim_config)


@pytest.fixture
def ingest_engine(config: Config, start_engine: Callable[..., MediaDeskEngine]) -> MediaDeskEngine:
    """A listener with no download workers: media rows stay exactly as ingest left them."""
    return start_engine(config, workers=False)


