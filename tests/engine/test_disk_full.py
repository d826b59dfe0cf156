"""A real full disk: the engine's data folder on a 4 MB tmpfs that downloads fill up, then space comes back.

Needs root (to mount the tmpfs); skipped otherwise, with the reason. Nothing is simulated: SQLite, Huey's
queue.db and the media files all meet ENOSPC where they are.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from mediadesk_testkit import build_config, listener_url, post_webhook, sql, wait_until

from engine.dbfaults import DISK_FULL
from engine.logs import KnownFaultFilter
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator, media_message, text_message

N_MEDIA = 8


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 4 MB tmpfs, unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    if shutil.which("mount") is None:
        pytest.skip("no mount command on this machine")
    mnt = Path(tempfile.mkdtemp(prefix="mediadesk-test-small-disk-"))
    done = _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt))
    if done.returncode != 0:
        mnt.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)
        mnt.rmdir()


def free(path: Path) -> int:
    return shutil.disk_usage(path).free


def _fill(path: Path) -> None:
    """Append zeros to `path` until the disk has no byte left."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        for block in (65536, 4096, 512, 1):
            try:
                while os.write(fd, b"\0" * block):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)


def media_rows(eng: MediaDeskEngine) -> list[Any]:
    return sql(eng.cfg.db_path, "select wa_media_id, processing_status, metadata, path from chat_media")


def test_a_full_disk_refuses_with_503_and_everything_completes_when_space_returns(
        small_disk: Path, sim: CloudSimulator, start_engine: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(KnownFaultFilter())  # as the log file's handler has it
    cfg = build_config(small_disk / "data", graph_url=sim.base_url, graph_version=sim.version,
                       retry_delays=(0.2, 0.2, 0.2))
    eng: MediaDeskEngine = start_engine(cfg)
    (small_disk / "ballast").touch()  # made now: on a full tmpfs not even an empty file can be created
    ids = [f"FULL-{i}" for i in range(N_MEDIA)]
    for mid in ids:
        sim.add_media(mid, "video/mp4", size=700 * 1024)
    bodies = {mid: media_message("video", mid, "video/mp4") for mid in ids}
    status = {mid: post_webhook(listener_url(eng), body).status_code for mid, body in bodies.items()}
    wait_until(lambda: free(small_disk) < 256 * 1024, timeout=20, what="the downloads to fill the disk")
    # Failed downloads give their space back at once: a ballast file takes what is left, so that the disk stays
    # full (SQLite may still overwrite WAL pages it has, so texts are sent until some are refused).
    _fill(small_disk / "ballast")

    texts: list[dict[str, Any]] = []
    answers: list[int] = []
    while len(texts) < 400 and answers.count(503) < 5:
        body = text_message(f"while full {len(texts)}")
        texts.append(body)
        r = post_webhook(listener_url(eng), body)
        answers.append(r.status_code)
        if r.status_code == 503:
            assert int(r.headers["Retry-After"]) > 0
            assert r.json()["reason"] == DISK_FULL
            info = requests.get(f"{listener_url(eng)}/healthz", timeout=10).json()
            assert info["status"] != "ok", info
            assert "the disk is full" in info["detail"]
    assert all(a in (200, 503) for a in answers), answers  # never a 4xx Meta would drop, never a 500
    assert 503 in answers, "a 4 MB disk full of video took every text: nothing was refused"
    findings = {f.name: f for f in eng.health_check().findings}
    space = findings["free space in the data folder"]
    assert not space.ok and space.level == "bad"
    assert "free space in the temp folder" in findings
    waiting = [r for r in media_rows(eng) if r["processing_status"] != "completed"]
    assert waiting, "every media fitted: the disk never filled"
    # Low rather than full: room for the databases (a worker can take its next task from queue.db again) but
    # not for a 700 KB video, so the next attempt surely meets the full disk and can record it. On a disk with
    # no byte left, no task could even be taken from the queue, and no attempt would say why it waits.
    ballast = small_disk / "ballast"
    os.truncate(ballast, max(0, ballast.stat().st_size - 384 * 1024))

    def disk_full_recorded() -> bool:
        # A waiting media may not have met the full disk yet (still queued, or its attempt cut short before it
        # could be recorded): wait until one attempt that met it says so.
        rows = [r for r in media_rows(eng) if r["processing_status"] != "completed"]
        assert not [r for r in rows if r["processing_status"] == "failed"], "a full disk failed media for good"
        return DISK_FULL in {json.loads(r["metadata"] or "{}").get("reason") for r in rows}

    wait_until(disk_full_recorded, timeout=30, what="a download to record that the disk is full")

    assert _mount("-o", "remount,size=64m", str(small_disk)).returncode == 0  # space returns
    pending_texts = [b for b, a in zip(texts, answers, strict=True) if a != 200]

    def redelivered() -> bool:  # Meta keeps delivering what was not answered 200
        for b in list(pending_texts):
            if post_webhook(listener_url(eng), b).status_code == 200:
                pending_texts.remove(b)
        for mid, st in list(status.items()):
            if st != 200:
                status[mid] = post_webhook(listener_url(eng), bodies[mid]).status_code
        return not pending_texts and all(st == 200 for st in status.values())

    wait_until(redelivered, timeout=30, interval=0.5, what="every refused webhook to be taken")
    wait_until(lambda: all(r["processing_status"] == "completed" for r in media_rows(eng))
               and len(media_rows(eng)) == N_MEDIA, timeout=60, interval=0.5,
               what="every media to complete once space returned")
    for r in media_rows(eng):
        data = (cfg.data_dir / r["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sim.media(r["wa_media_id"]).sha256
    assert sql(cfg.db_path, "select count(*) from chats where type = 'text'")[0][0] == len(texts)
    wait_until(lambda: requests.get(f"{listener_url(eng)}/healthz", timeout=10).json()["status"] == "ok",
               timeout=15, what="/healthz ok again")
    assert [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.exc_info] == []
