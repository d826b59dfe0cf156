"""Fixtures for every test directory."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_mediadesk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own MEDIADESK_* settings must never leak into a test."""
    for name in list(os.environ):
        if name.startswith("MEDIADESK_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL for the whole session (initdb into a temp dir, a loopback port), started on first use.

    Skipped where PostgreSQL is not installed, except in CI (CI=true), where that is a failure: CI installs it.
    """
    import pg_server

    why = pg_server.available()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {why}")
        pytest.skip(why)
    server = pg_server.PostgresServer().start()
    yield server
    server.stop()
