"""Fixtures for every test directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials, and no real AWS config file can be read."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def s3_endpoint(aws_env: None) -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (a free port); yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
