"""Smoke test of the PyInstaller build (dist/MediaDesk/mediadesk): the commands a business owner's machine runs.

Skipped unless MEDIADESK_FROZEN_TEST=1 (scripts/ci-frozen sets it, after building). When dist/MediaDesk is
missing it is built first with scripts/build-installer. Needs nothing outside this repository.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist" / "MediaDesk"
EXE = DIST / ("mediadesk.exe" if sys.platform == "win32" else "mediadesk")
WEBHOOKS = ROOT / "tests" / "fixtures" / "webhooks"
SECRET = "frozen-secret"

pytestmark = [
    pytest.mark.frozen,
    pytest.mark.skipif(os.environ.get("MEDIADESK_FROZEN_TEST") != "1",
                       reason="frozen-build smoke test: set MEDIADESK_FROZEN_TEST=1 (scripts/ci-frozen does)"),
    pytest.mark.timeout(1200),  # the first test may build the bundle
]


@pytest.fixture(scope="module")
def exe() -> Path:
    if not EXE.exists():
        subprocess.run([str(ROOT / "scripts" / "build-installer")], cwd=ROOT, check=True, timeout=1100)
    assert EXE.exists(), f"{EXE} was not built"
    return EXE


def run(exe: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def head_revision() -> str:
    """The Alembic head, read from the migration scripts: the revision no other one revises."""
    revs, downs = set(), set()
    for f in (ROOT / "migrations" / "versions").glob("*.py"):
        text = f.read_text(encoding="utf-8")
        rev = re.search(r'^revision(?::[^=]*)?=\s*["\']([^"\']+)', text, re.M)
        down = re.search(r'^down_revision(?::[^=]*)?=\s*["\']([^"\']+)', text, re.M)
        if rev:
            revs.add(rev.group(1))
        if down:
            downs.add(down.group(1))
    heads = revs - downs
    assert len(heads) == 1, f"expected one Alembic head, found {heads}"
    return heads.pop()


def http(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> int:
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return -1


def test_version(exe: Path) -> None:
    want = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    r = run(exe, "--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"mediadesk {want}"


def test_migrate(exe: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = run(exe, "migrate", "--data-dir", str(data))
    assert r.returncode == 0, r.stdout + r.stderr
    head = head_revision()
    assert head in r.stdout
    with sqlite3.connect(data / "mediadesk.db") as c:
        assert c.execute("select version_num from alembic_version").fetchall() == [(head,)]
        tables = {row[0] for row in c.execute("select name from sqlite_master where type = 'table'")}
    assert {"workspaces", "contacts", "chats", "chat_media", "media_attempts", "settings"} <= tables
    again = run(exe, "migrate", "--data-dir", str(data))
    assert again.returncode == 0 and "already at" in again.stdout, again.stdout + again.stderr


def test_replay_and_stats(exe: Path, tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    files = [str(WEBHOOKS / "02-text-netflie.json"), str(WEBHOOKS / "06-image-netflie.json")]
    r = run(exe, "replay", "--data-dir", data, *files)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "replayed 2 bodies: 2 new messages" in r.stdout
    r = run(exe, "stats", "--json", "--data-dir", data)
    assert r.returncode == 0 and '"total"' in r.stdout, r.stdout + r.stderr
    bad = run(exe, "restore", "--data-dir", data, str(tmp_path / "no-such-backup.db"))
    assert bad.returncode != 0, bad.stdout + bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("mediadesk: "), bad.stderr  # one clear line, no traceback
    assert "Traceback" not in bad.stderr


def test_serve_answers_healthz_and_stores_a_signed_webhook(exe: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    env = dict(os.environ, MEDIADESK_DATA_DIR=str(data), MEDIADESK_GRAPH_URL="http://127.0.0.1:9",
               MEDIADESK_ACCESS_TOKEN="frozen-token", MEDIADESK_APP_SECRET=SECRET,
               MEDIADESK_VERIFY_TOKEN="frozen-verify", MEDIADESK_HOST="127.0.0.1", MEDIADESK_PORT=str(port),
               MEDIADESK_RETRY_DELAYS="1,1,1", MEDIADESK_STORAGE="local", QT_QPA_PLATFORM="offscreen")
    base = f"http://127.0.0.1:{port}"
    log = (data / "serve.log").open("wb")
    start = time.monotonic()
    proc = subprocess.Popen([str(exe), "serve", "--data-dir", str(data), "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        while http(base + "/healthz") != 200:
            assert proc.poll() is None, f"serve exited {proc.returncode}: {(data / 'serve.log').read_text()}"
            assert time.monotonic() - start < 40, "serve did not answer /healthz within 40 s"
            time.sleep(0.1)
        print(f"\nfrozen `mediadesk serve` answered /healthz after {time.monotonic() - start:.2f} s")

        body = (WEBHOOKS / "02-text-netflie.json").read_bytes()
        sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        json_type = {"Content-Type": "application/json"}
        assert http(base + "/webhook", body, {**json_type, "X-Hub-Signature-256": "sha256=" + "0" * 64}) in (401, 403)
        assert http(base + "/webhook", body, {**json_type, "X-Hub-Signature-256": sig}) == 200

        deadline = time.monotonic() + 15
        rows: list[tuple] = []
        while time.monotonic() < deadline and not rows:
            with sqlite3.connect(data / "mediadesk.db", timeout=10) as c:
                rows = c.execute("select type, body from chats where wamid = 'wamid.ID-s02'").fetchall()
            time.sleep(0.2)
        assert rows == [("text", "MESSAGE_BODY")]
    finally:
        proc.terminate()
        try:
            rc = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        log.close()
    if sys.platform != "win32":  # on Windows terminate() is a hard kill, so there is no clean exit code to check
        assert rc == 0, f"serve exited {rc} on SIGTERM: {(data / 'serve.log').read_text()}"


def test_demo_screenshot(exe: Path, tmp_path: Path) -> None:
    if not (ROOT / "console" / "app.py").exists():
        pytest.skip("console/app.py (console.app.run_console) does not exist yet: no console in the build")
    shot = tmp_path / "shot.png"
    r = run(exe, "demo", "--screenshot", str(shot), "--data-dir", str(tmp_path / "demo"), "--port", str(free_port()),
            env={"QT_QPA_PLATFORM": "offscreen"}, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "no PNG written"
    assert shot.stat().st_size > 5000, "the screenshot is suspiciously small"
    print(f"\nfrozen demo screenshot: {shot.stat().st_size} bytes; {r.stdout.strip()}")
