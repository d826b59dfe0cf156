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


def sql(db_path: Path, query: str, *args: Any) -> list[sqlite3.Row]:
    """Read the engine's database from outside, as the contract and a support engineer would."""
    conn = sqlite3.connect(db_path, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(query, args).fetchall()
    finally:
        conn.close()


def media_row(db_path: Path, media_id: int) -> dict[str, Any]:
    rows = sql(db_path, "select * from chat_media where id = ?", media_id)
    assert rows, f"no chat_media row {media_id}"
    row = dict(rows[0])
    row["metadata"] = json.loads(row["metadata"] or "{}")
    return row


def fixture_payloads() -> list[Path]:
    files = sorted(FIXTURES.glob("*.json"))
    assert files, f"no webhook fixtures in {FIXTURES}"
    return files


def build_config(data_dir: Path, **changes: Any) -> Config:
    cli: dict[str, Any] = {
        "data_dir": data_dir, "port": 0, "host": "127.0.0.1", "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN, "access_token": ACCESS_TOKEN, "retry_delays": FAST_RETRIES,
        "workers": 2, "graph_url": "http://127.0.0.1:9",  # discard port: a test that forgets the simulator fails
        "health_every_min": 0,  # no periodic health task in the queue counts tests check
        "backup_every_hours": 0,  # nor a scheduled backup
        "scrub_every_min": 0,  # nor a periodic scrub
    }
    cli.update(changes)
    return load_config(cli, environ={}, use_keyring=False)



def listener_url(eng: MediaDeskEngine) -> str:
    assert eng.listener is not None
    return eng.listener.address
