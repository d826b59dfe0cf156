"""The same pipeline on RedisHuey (MEDIADESK_REDIS_URL): a real redis-server on loopback."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mediadesk_testkit import build_config, media_row, wait_until

from engine.config import Config
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


def test_media_completes_through_redis(data_dir: Path, sim: CloudSimulator, redis_url: str,
                                       start_engine: Callable[..., MediaDeskEngine]) -> None:
    cfg: Config = build_config(data_dir, graph_url=sim.base_url, graph_version=sim.version, redis_url=redis_url)
    sim.add_media("REDIS-IMG", "image/jpeg")
    eng = start_engine(cfg, listener=False)
    assert type(eng.queue.huey).__name__ == "PriorityRedisHuey"
    (result,) = eng.ingest([media_message("image", "REDIS-IMG", "image/jpeg")])
    (media_id,) = result.media_ids
    row = wait_until(lambda: (r := media_row(cfg.db_path, media_id))["processing_status"] == "completed" and r,
                     timeout=20, what="the media to complete through Redis")
    stored = (cfg.data_dir / row["path"]).read_bytes()
    assert stored == sample_bytes("image/jpeg", "REDIS-IMG")
    assert sim.metadata_calls["REDIS-IMG"] == 1
