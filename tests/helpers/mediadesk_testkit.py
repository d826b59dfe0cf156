"""Helpers shared by the engine tests (imported by conftest and test modules alike)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from engine.config import Config, load_config
from engine.runtime import MediaDeskEngine
from engine.simulator import sign

# A server or CI machine has no keyring: say so to keyring up front so it never probes D-Bus.
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "webhooks"  # vendored copies of ../shared/fixtures: CI has no ../shared


def _console_script() -> Path:
    """The `mediadesk` script of the interpreter running the tests: whichever venv the project is installed in."""
    name = "mediadesk.exe" if os.name == "nt" else "mediadesk"
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return beside
    found = shutil.which("mediadesk")
    return Path(found) if found else beside  # not installed: the tests that start it say which path is missing


MEDIADESK_BIN = _console_script()
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
ACCESS_TOKEN = "test-access-token"
FAST_RETRIES = (0.2, 0.2, 0.2)


def wait_until(cond: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> Any:
    """Poll `cond` until it returns something truthy; fail the test with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.1f} s waiting for {what or cond}")
        time.sleep(interval)


def encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def post_webhook(base_url: str, body: bytes | dict[str, Any], *, secret: str | None = APP_SECRET,
                 headers: dict[str, str] | None = None) -> requests.Response:
    """POST a body to the engine's listener, signed with `secret` unless it is None."""
    data = body if isinstance(body, bytes) else encode(body)
    h = {"Content-Type": "application/json"}
    if secret is not None:
        h["X-Hub-Signature-256"] = sign(data, secret)
    h.update(headers or {})
    return requests.post(f"{base_url}/webhook", data=data, headers=h, timeout=10)


class Row(tuple):
    """A result row read by position or by column name, like sqlite3.Row, whichever database it came from."""

    names: tuple[str, ...] = ()

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names.index(key))
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self.names)


Target = Path | str | Config


def _postgres_url(target: Target) -> str | None:
    if isinstance(target, Config):
        return target.database_url
    if isinstance(target, str) and target.startswith("postgres"):
        return target
    return None


def sql(target: Target, query: str, *args: Any) -> list[Row]:
    """Run `query` (`?` placeholders) on the engine's database from outside, as the contract and a support
    engineer would, and commit. `target`: the SQLite file, a PostgreSQL URL, or the engine's Config.

    PostgreSQL's json and timestamp columns come back as text, as SQLite's do, so that one test reads both."""
    url = _postgres_url(target)
    if url is None:
        path = target.db_path if isinstance(target, Config) else Path(target)
        conn = sqlite3.connect(path, timeout=10)
        try:
            cur = conn.execute(query, args)
            names = tuple(d[0] for d in cur.description or ())
            rows = cur.fetchall()
            conn.commit()
        finally:
            conn.close()
    else:
        import psycopg
        from psycopg.types.string import TextLoader

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=10) as conn:
            for type_name in ("json", "jsonb", "timestamp", "timestamptz"):
                conn.adapters.register_loader(type_name, TextLoader)
            cur = conn.execute(query.replace("?", "%s"), args)
            names = tuple(d.name for d in cur.description or ())
            rows = cur.fetchall() if cur.description else []
    row_type = type("Row", (Row,), {"names": names})
    return [row_type(r) for r in rows]


def media_row(target: Target, media_id: int) -> dict[str, Any]:
    rows = sql(target, "select * from chat_media where id = ?", media_id)
    assert rows, f"no chat_media row {media_id}"
    row = dict(rows[0])
    row["metadata"] = json.loads(row["metadata"] or "{}")
    return row


def fixture_payloads() -> list[Path]:
    files = sorted(FIXTURES.glob("*.json"))
    assert files, f"no webhook fixtures in {FIXTURES}"
    return files


def build_config(data_dir: Path, *, database_url: str | None = None, **changes: Any) -> Config:
    cli: dict[str, Any] = {
        "data_dir": data_dir, "port": 0, "host": "127.0.0.1", "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN, "access_token": ACCESS_TOKEN, "retry_delays": FAST_RETRIES,
        "workers": 2, "graph_url": "http://127.0.0.1:9",  # discard port: a test that forgets the simulator fails
        "health_every_min": 0,  # no periodic health task in the queue counts tests check
        "backup_every_hours": 0,  # nor a scheduled backup
        "scrub_every_min": 0,  # nor a periodic scrub
        "database_url": database_url,  # None: the SQLite file in the data dir
    }
    cli.update(changes)
    return load_config(cli, environ={}, use_keyring=False)



def listener_url(eng: MediaDeskEngine) -> str:
    assert eng.listener is not None
    return eng.listener.address
