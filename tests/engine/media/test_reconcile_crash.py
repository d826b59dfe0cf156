"""Never lose a file: start-up reconciliation, and `kill -9` of a real `mediadesk serve` mid-burst."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from mediadesk_testkit import (
    ACCESS_TOKEN,
    APP_SECRET,
    MEDIADESK_BIN,
    VERIFY_TOKEN,
    listener_url,
    media_row,
    post_webhook,
    sql,
    wait_until,
)

from engine.config import Config
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator, Fault, WebhookSender, media_message

pytestmark = pytest.mark.both_backends


def test_restart_re_enqueues_unfinished_media_once_and_removes_partial_files(
        sim_config: Config, sim: CloudSimulator, start_engine: Callable[..., MediaDeskEngine]) -> None:
    first = start_engine(sim_config, workers=False)
    for i in range(4):
        sim.add_media(f"RC-{i}", "image/jpeg")
        assert post_webhook(listener_url(first), media_message("image", f"RC-{i}", "image/jpeg")).status_code == 200
    first.stop()
    db = sim_config
    # what a crash leaves: one media caught mid-download, its temp file beside the destination
    sql(db, "update chat_media set processing_status = 'processing' where id = 2")
    stale = sim_config.data_dir / "uploads" / "media" / "whatsapp" / "1" / "2026" / "01" / ".photo-2.jpg.abcd1234.part"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a file")

    second = start_engine(sim_config)
    assert not stale.exists()
    for mid in range(1, 5):
        row = wait_until(lambda m=mid: (r := media_row(db, m))["processing_status"] == "completed" and r,
                         timeout=20, what=f"media {mid} to complete after restart")
        data = (sim_config.data_dir / row["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sim.media(row["wa_media_id"]).sha256
    # the first engine queued them too, but the reconciler flushed the transport: one download each
    assert all(sim.metadata_calls[f"RC-{i}"] == 1 for i in range(4))
    # each completion queued its thumbnail (housekeeping, after the downloads); then nothing is left
    wait_until(lambda: second.queue_length() == 0, timeout=20, what="the thumbnail tasks to run")
    assert all(sim.metadata_calls[f"RC-{i}"] == 1 for i in range(4))


def test_reconcile_honours_a_scheduled_retry(sim_config: Config, sim: CloudSimulator,
                                            start_engine: Callable[..., MediaDeskEngine]) -> None:
    eng = start_engine(sim_config.with_changes(retry_delays=(30.0, 30.0, 30.0)))
    sim.add_media("SCHED", "image/jpeg", fault=Fault(fail_first=1))
    post_webhook(listener_url(eng), media_message("image", "SCHED", "image/jpeg"))
    row = wait_until(lambda: (r := media_row(sim_config, 1))["metadata"].get("next_attempt_at") and r,
                     what="the first attempt to schedule a retry")
    assert row["processing_status"] == "pending"
    eng.stop()
    again = MediaDeskEngine(sim_config)
    again.open()
    try:
        assert again.reconcile() == 1
        # exactly one task, carrying the retry's time rather than "now" (Huey queues it with an eta)
        tasks = again.queue.huey.pending() + again.queue.huey.scheduled()
        assert len(tasks) == 1
        soon = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=20)
        assert tasks[0].eta is not None and tasks[0].eta > soon
    finally:
        again.stop()


# -- kill -9 of a real process --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    """`mediadesk serve` as a subprocess, configured through MEDIADESK_* as the contract does."""

    def __init__(self, data_dir: Path, graph_url: str, database_url: str | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.env = {**os.environ, "MEDIADESK_DATA_DIR": str(data_dir), "MEDIADESK_GRAPH_URL": graph_url,
                    "MEDIADESK_ACCESS_TOKEN": ACCESS_TOKEN, "MEDIADESK_APP_SECRET": APP_SECRET,
                    "MEDIADESK_VERIFY_TOKEN": VERIFY_TOKEN, "MEDIADESK_HOST": "127.0.0.1",
                    "MEDIADESK_PORT": str(self.port), "MEDIADESK_RETRY_DELAYS": "0.2,0.2,0.2",
                    "MEDIADESK_STORAGE": "local", "MEDIADESK_WORKERS": "4",
                    "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
        if database_url:
            self.env["MEDIADESK_DATABASE_URL"] = database_url
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        data_dir = self.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        log = open(data_dir / "serve.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen([str(MEDIADESK_BIN), "serve", "--data-dir", str(data_dir), "--port",
                                      str(self.port)], env=self.env, stdout=log, stderr=log, start_new_session=True)
        log.close()

        def healthy() -> bool:
            assert self.proc is not None and self.proc.poll() is None, (data_dir / "serve.log").read_text()
            try:
                return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(healthy, timeout=30, interval=0.1, what="mediadesk serve to answer /healthz")

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
            return None


@pytest.fixture
def serve_processes() -> Iterator[list[Serve]]:
    procs: list[Serve] = []
    yield procs
    for p in procs:
        if p.proc is not None and p.proc.poll() is None:
            os.killpg(p.proc.pid, signal.SIGKILL)
            p.proc.wait(10)


@pytest.mark.slow
def test_kill_9_mid_burst_loses_nothing(tmp_path: Path, sim: CloudSimulator, serve_processes: list[Serve],
                                        database_url: str | None) -> None:
    n = 60
    ids = [f"C-{i:03d}" for i in range(n)]
    kinds: dict[str, tuple[str, str]] = {}
    for i, mid in enumerate(ids):
        if i % 6 == 0:  # 3 MB at 2 MB/s: several are mid-download when the kill lands
            kinds[mid] = ("video", "video/mp4")
            sim.add_media(mid, "video/mp4", size=3 * 1024 * 1024, fault=Fault(slow_bps=2 * 1024 * 1024))
        else:
            kinds[mid] = ("image", "image/jpeg")
            sim.add_media(mid, "image/jpeg")
    data_dir = tmp_path / "data"
    db = database_url or data_dir / "mediadesk.db"

    def send(srv: Serve, i: int) -> None:
        kind, mime = kinds[ids[i]]
        body = media_message(kind, ids[i], mime, wamid=f"wamid.CRASH{i}", wa_id=f"1555{i % 7:07d}")
        with WebhookSender(f"{srv.url}/webhook", APP_SECRET) as sender:
            assert sender.send(body) == 200

    first = Serve(data_dir, sim.base_url, database_url)
    serve_processes.append(first)
    first.start()
    half = n // 2
    for i in range(half):
        send(first, i)
    videos = [m for m in ids[:half] if kinds[m][0] == "video"]
    # kill while at least one large download is under way and not finished
    wait_until(lambda: any(sim.download_calls[m] and not sim.downloads_completed[m] for m in videos),
               timeout=20, interval=0.01, what="a slow download in flight")
    first.kill9()

    def files_match(row: dict) -> bool:
        p = data_dir / row["path"] if row["path"] else None
        return bool(p and p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() == sim.media(
            row["wa_media_id"]).sha256)

    rows_after_kill = [dict(r) for r in sql(db, "select * from chat_media")]
    assert len(rows_after_kill) == half  # every answered webhook was durable
    torn = [r["wa_media_id"] for r in rows_after_kill if r["processing_status"] == "completed" and not files_match(r)]
    assert torn == []
    assert any(r["processing_status"] != "completed" for r in rows_after_kill), "the kill came too late to test much"

    second = Serve(data_dir, sim.base_url, database_url)
    serve_processes.append(second)
    second.start()
    for i in range(half):  # Meta redelivers what it is unsure of: nothing may double
        if i % 10 == 0:
            send(second, i)
    for i in range(half, n):
        send(second, i)

    def all_completed() -> bool:
        rows = sql(db, "select processing_status from chat_media")
        return len(rows) == n and all(r[0] == "completed" for r in rows)

    wait_until(all_completed, timeout=60, interval=0.2, what="every media to complete after the restart")
    assert second.stop() == 0  # a clean stop on SIGTERM
    rows = [dict(r) for r in sql(db, "select * from chat_media")]
    assert sorted(r["wa_media_id"] for r in rows) == ids
    assert all(files_match(r) for r in rows)
    assert sql(db, "select count(*) - count(distinct wamid) from chats")[0][0] == 0
    assert sql(db, "select count(*) from chats")[0][0] == n
    assert sql(db, "select count(*) from chats where media_id is null")[0][0] == 0
    kept = {(data_dir / r["path"]).resolve() for r in rows}
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    partial = [p for p in files if p.name.endswith((".part", ".tmp", ".partial", ".download"))]
    stray = [p for p in (data_dir / "uploads").rglob("*") if p.is_file() and p.resolve() not in kept]
    assert partial == [] and stray == []
    assert (data_dir / "logs" / "mediadesk.log").is_file()
