"""The same pipeline on RedisHuey (MEDIADESK_REDIS_URL): a real redis-server. Status events still travel the
database's way (engine.relay): the queue carries only tasks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mediadesk_testkit import MEDIADESK_BIN, build_config, media_row, wait_until

from engine.config import Config
from engine.db.migrate import migrate
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator, media_message, sample_bytes

REDIS = shutil.which("redis-server")
# CI installs redis-server (.ci/run); a developer machine without it cannot run this module.
pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (apt-get install redis-server)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as c:
                c.sendall(b"PING\r\n")
                return c.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_until(answers, timeout=10, what="redis-server to answer PING")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


@pytest.mark.both_backends
def test_media_completes_through_redis(data_dir: Path, sim: CloudSimulator, redis_url: str, database_url: str | None,
                                       start_engine: Callable[..., MediaDeskEngine]) -> None:
    cfg: Config = build_config(data_dir, graph_url=sim.base_url, graph_version=sim.version, redis_url=redis_url,
                               database_url=database_url)
    sim.add_media("REDIS-IMG", "image/jpeg")
    eng = start_engine(cfg, listener=False)
    assert type(eng.queue.huey).__name__ == "PriorityRedisHuey"
    (result,) = eng.ingest([media_message("image", "REDIS-IMG", "image/jpeg")])
    (media_id,) = result.media_ids
    row = wait_until(lambda: (r := media_row(cfg, media_id))["processing_status"] == "completed" and r,
                     timeout=20, what="the media to complete through Redis")
    stored = (cfg.data_dir / row["path"]).read_bytes()
    assert stored == sample_bytes("image/jpeg", "REDIS-IMG")
    assert sim.metadata_calls["REDIS-IMG"] == 1


def test_status_events_cross_processes_with_the_queue_on_redis(data_dir: Path, sim: CloudSimulator, redis_url: str,
                                                          start_engine: Callable[..., MediaDeskEngine],
                                                          tmp_path: Path) -> None:
    cfg: Config = build_config(data_dir, graph_url=sim.base_url, graph_version=sim.version, redis_url=redis_url)
    migrate(cfg)
    out = tmp_path / "events.jsonl"
    env = {**os.environ, "MEDIADESK_REDIS_URL": redis_url, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    with open(out, "wb") as fh:
        reader = subprocess.Popen([str(MEDIADESK_BIN), "events", "--json", "--data-dir", str(data_dir)], env=env,
                                  stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: "Listening for media status changes" in out.read_text() or reader.poll() is not None,
                   timeout=30, what="the reader to listen")
        assert reader.poll() is None, out.read_text()
        eng = start_engine(cfg, listener=False)
        sim.add_media("REDIS-EV", "image/jpeg")
        (result,) = eng.ingest([media_message("image", "REDIS-EV", "image/jpeg")])

        def completed() -> dict | None:
            lines = [json.loads(x) for x in out.read_text().splitlines() if x.startswith("{")]
            return next((e for e in lines if e["status"] == "completed"), None)

        line = wait_until(completed, timeout=20, what="a completed line from the other process")
        assert line["media_id"] == result.media_ids[0] and line["wa_media_id"] == "REDIS-EV"
        reader.send_signal(signal.SIGTERM)
        assert reader.wait(10) == 0
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait(10)
