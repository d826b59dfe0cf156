"""The media pipeline end to end: HTTP webhook -> real Huey consumer (SQLite, PostgreSQL) -> simulator -> stored file.

Each fault profile of the simulator must end in the right state with the right reason, and every
retry must ask Graph for a fresh URL.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from mediadesk_testkit import listener_url, media_row, post_webhook, sql, wait_until

import engine.media.graph as graph_module
from engine.config import Config
from engine.events import MediaStatusChanged
from engine.media.thumbnails import META_KEY as THUMBNAIL_KEY
from engine.media.thumbnails import NONE_KEY as NO_THUMBNAIL_KEY
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator, Fault, error_message_131052, media_message

pytestmark = pytest.mark.both_backends
FINAL = ("completed", "failed")


def send_media(eng: MediaDeskEngine, wa_media_id: str, *, kind: str = "image", mime: str = "image/jpeg",
               **fields: Any) -> int:
    """Post one media message through the listener; return its chat_media id."""
    body = media_message(kind, wa_media_id, mime, **fields)
    assert post_webhook(listener_url(eng), body).status_code == 200
    rows = sql(eng.cfg, "select id from chat_media where wa_media_id = ?", wa_media_id)
    assert len(rows) == 1
    return int(rows[0][0])


def wait_final(eng: MediaDeskEngine, media_id: int, timeout: float = 20.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        row = media_row(eng.cfg, media_id)
        return row if row["processing_status"] in FINAL else None

    return wait_until(done, timeout=timeout, what=f"media {media_id} to complete or fail")


def wait_thumbnail_settled(eng: MediaDeskEngine, media_id: int) -> None:
    def settled() -> bool:
        meta = media_row(eng.cfg, media_id)["metadata"]
        return bool(meta.get(THUMBNAIL_KEY) or meta.get(NO_THUMBNAIL_KEY))

    wait_until(settled, timeout=20, what=f"the thumbnail of media {media_id}")


def attempts(eng: MediaDeskEngine, media_id: int) -> list[dict[str, Any]]:
    return [dict(r) for r in sql(eng.cfg, "select * from media_attempts where media_id = ? order by id",
                                 media_id)]


def assert_completed_with_bytes(eng: MediaDeskEngine, sim: CloudSimulator, row: dict[str, Any]) -> None:
    assert row["processing_status"] == "completed", row["metadata"]
    assert row["processed_at"] is not None
    assert row["location"] == "local"
    path = (eng.cfg.data_dir / row["path"]).resolve()
    assert path.is_relative_to((eng.cfg.data_dir / "uploads").resolve())
    served = sim.media(row["wa_media_id"])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == served.sha256
    assert row["size"] == served.file_size
    assert "error" not in row["metadata"]


@dataclass(frozen=True)
class Case:
    fault: Fault
    status: str
    reason: str | None
    tries: int  # download attempts recorded
    metadata_calls: int
    download_calls: int | None = None


TRIES_WHEN_EXHAUSTED = 4  # the first attempt plus one per retry delay (0.2, 0.2, 0.2)

CASES: dict[str, Case] = {
    "healthy": Case(Fault(), "completed", None, 1, 1, 1),
    "slow": Case(Fault(slow_bps=200_000), "completed", None, 1, 1, 1),
    "5xx then ok": Case(Fault(fail_first=2), "completed", None, 3, 3, 1),
    "rate limited then ok": Case(Fault(rate_limit_first=2), "completed", None, 3, 3, 1),
    "download 500 once": Case(Fault(dl_fail_first=1), "completed", None, 2, 2, 2),
    "sha256 in base64": Case(Fault(sha256_base64=True), "completed", None, 1, 1, 1),
    "401": Case(Fault(status=401), "failed", "auth", 1, 1, 0),
    "404": Case(Fault(status=404), "failed", "gone", 1, 1, 0),
    "oversize": Case(Fault(oversize=True), "failed", "too_large", 1, 1, 0),
    "lying mime": Case(Fault(lying_mime=True), "failed", "mime_mismatch", 1, 1, 1),
    "truncated": Case(Fault(truncate=True), "failed", "truncated", TRIES_WHEN_EXHAUSTED, TRIES_WHEN_EXHAUSTED,
                      TRIES_WHEN_EXHAUSTED),
    "wrong sha256": Case(Fault(wrong_sha256=True), "failed", "checksum", TRIES_WHEN_EXHAUSTED,
                         TRIES_WHEN_EXHAUSTED, TRIES_WHEN_EXHAUSTED),
    "expired url": Case(Fault(expire_s=0.0), "failed", "expired", TRIES_WHEN_EXHAUSTED, TRIES_WHEN_EXHAUSTED,
                        TRIES_WHEN_EXHAUSTED),
    "graph timeout": Case(Fault(timeout_s=5.0), "failed", "timeout", TRIES_WHEN_EXHAUSTED, TRIES_WHEN_EXHAUSTED, 0),
}


@pytest.mark.parametrize("name", list(CASES))
def test_fault_profile_ends_in_the_right_state(name: str, engine: MediaDeskEngine, sim: CloudSimulator,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[name]
    if case.fault.timeout_s:
        # Graph's real read timeout is 60 s; the profile only needs the call to outlast it.
        monkeypatch.setattr(graph_module, "READ_TIMEOUT", 0.5)
    wa_id = "F-" + name.replace(" ", "-")
    sim.add_media(wa_id, "image/jpeg", fault=case.fault)
    mid = send_media(engine, wa_id)
    row = wait_final(engine, mid, timeout=30)
    tries = attempts(engine, mid)
    assert row["processing_status"] == case.status, row["metadata"]
    assert len(tries) == case.tries, [t["error"] for t in tries]
    assert row["metadata"]["attempts"] == case.tries
    assert sim.metadata_calls[wa_id] == case.metadata_calls
    if case.download_calls is not None:
        assert sim.download_calls[wa_id] == case.download_calls
    if case.status == "completed":
        assert_completed_with_bytes(engine, sim, row)
        assert tries[-1]["outcome"] == "completed"
        assert all(t["outcome"] == "retry" for t in tries[:-1])
        # Its thumbnail is written by a task of its own after completion: leftovers count once it settled.
        wait_thumbnail_settled(engine, mid)
    else:
        meta = row["metadata"]
        assert meta["reason"] == case.reason
        assert meta["error"] and isinstance(meta["error"], str)
        assert meta["failed_at"]
        assert row["path"] is None
        assert [t["outcome"] for t in tries] == ["retry"] * (case.tries - 1) + ["failed"]
        assert all(t["finished_at"] for t in tries)
    assert not list(engine.cfg.data_dir.rglob("*.part")), "a temporary file was left behind"


def test_each_retry_asks_for_a_fresh_url(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    """A URL that is dead on arrival: every download is preceded by its own metadata call."""
    sim.add_media("EXP-1", "image/jpeg", fault=Fault(expire_s=0.0))
    mid = send_media(engine, "EXP-1")
    wait_final(engine, mid)
    assert sim.download_calls["EXP-1"] == TRIES_WHEN_EXHAUSTED
    assert sim.metadata_calls["EXP-1"] == sim.download_calls["EXP-1"]


def test_expired_url_then_healthy_completes(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    sim.add_media("EXP-2", "image/jpeg", fault=Fault(expire_s=0.0))
    mid = send_media(engine, "EXP-2")
    wait_until(lambda: sim.download_calls["EXP-2"] >= 1, what="the first (expired) download")
    sim.set_fault("EXP-2", None)
    row = wait_final(engine, mid)
    assert_completed_with_bytes(engine, sim, row)
    assert sim.metadata_calls["EXP-2"] >= 2
    assert sim.metadata_calls["EXP-2"] == sim.download_calls["EXP-2"]


def test_truncated_then_whole_completes(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    sim.add_media("TR-1", "image/jpeg", fault=Fault(truncate=True))
    mid = send_media(engine, "TR-1")
    wait_until(lambda: any(t["outcome"] == "retry" for t in attempts(engine, mid)), what="a truncated attempt")
    sim.set_fault("TR-1", None)
    row = wait_final(engine, mid)
    assert_completed_with_bytes(engine, sim, row)
    assert attempts(engine, mid)[0]["outcome"] == "retry"


def test_webhook_sha256_is_kept_as_given_but_not_trusted(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    """The webhook's digest is stored as sent; the bytes are checked against Graph's fresh answer."""
    sim.add_media("SHA-1", "image/jpeg")
    mid = send_media(engine, "SHA-1", sha256="bm90IHRoZSByZWFsIGRpZ2VzdA==")
    row = wait_final(engine, mid)
    assert_completed_with_bytes(engine, sim, row)
    assert row["sha256"] == "bm90IHRoZSByZWFsIGRpZ2VzdA=="
    assert row["metadata"]["verified_sha256"] == sim.media("SHA-1").sha256


@pytest.mark.parametrize(("kind", "mime"), [
    ("image", "image/jpeg"), ("image", "image/png"), ("sticker", "image/webp"), ("audio", "audio/ogg"),
    ("audio", "audio/mpeg"), ("video", "video/mp4"), ("document", "application/pdf"),
    ("document", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("document", "text/plain"),
])
def test_every_media_type_completes(kind: str, mime: str, engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    wa_id = f"T-{kind}-{mime.split('/')[-1][:20]}"
    sim.add_media(wa_id, mime)
    mid = send_media(engine, wa_id, kind=kind, mime=mime, **({"filename": "notes"} if kind == "document" else {}))
    row = wait_final(engine, mid)
    assert_completed_with_bytes(engine, sim, row)


def test_over_the_type_limit_while_streaming_fails_too_large(engine: MediaDeskEngine, sim: CloudSimulator,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A sticker whose bytes (not its declared size) pass 500 KB is refused mid-stream, never stored."""
    media = sim.add_media("BIG-STICKER", "image/webp", size=600 * 1024)
    real_fetch = graph_module.fetch_media_info

    def without_size(*args: Any, **kwargs: Any) -> graph_module.MediaInfo:
        info = real_fetch(*args, **kwargs)
        return graph_module.MediaInfo(url=info.url, mime_type=info.mime_type, sha256=info.sha256, file_size=None)

    monkeypatch.setattr(graph_module, "fetch_media_info", without_size)
    mid = send_media(engine, "BIG-STICKER", kind="sticker", mime="image/webp")
    row = wait_final(engine, mid)
    assert row["processing_status"] == "failed"
    assert row["metadata"]["reason"] == "too_large"
    assert sim.download_calls["BIG-STICKER"] == 1
    assert media.file_size > 500 * 1024
    assert not list(engine.cfg.data_dir.rglob("*.part"))
    assert not [p for p in (engine.cfg.data_dir / "uploads").rglob("*") if p.is_file()]


def test_131052_error_webhook_is_a_failed_media_too_large(engine: MediaDeskEngine) -> None:
    events: list[MediaStatusChanged] = []
    engine.events.subscribe(lambda e: events.append(e) if isinstance(e, MediaStatusChanged) else None)
    assert post_webhook(listener_url(engine), error_message_131052()).status_code == 200
    rows = sql(engine.cfg, "select c.type, c.media_id from chats c")
    assert len(rows) == 1 and rows[0]["media_id"] is not None
    row = media_row(engine.cfg, rows[0]["media_id"])
    assert row["processing_status"] == "failed"
    assert row["metadata"]["reason"] == "too_large"
    assert "131052" in row["metadata"]["error"]
    assert any(e.media_id == row["id"] and e.status == "failed" for e in events)


def test_131052_on_a_media_typed_message(engine: MediaDeskEngine) -> None:
    assert post_webhook(listener_url(engine), error_message_131052(kind="video", mime="video/mp4")).status_code == 200
    rows = sql(engine.cfg, "select type, media_id from chats")
    row = media_row(engine.cfg, rows[0]["media_id"])
    assert row["processing_status"] == "failed" and row["metadata"]["reason"] == "too_large"


def test_media_older_than_seven_days_that_is_gone_says_expired_at_meta(engine: MediaDeskEngine,
                                                                     sim: CloudSimulator) -> None:
    old = int(time.time()) - 8 * 86400
    mid = send_media(engine, "OLD-GONE", timestamp=old)  # never registered: Graph answers 404
    row = wait_final(engine, mid)
    assert row["processing_status"] == "failed"
    assert row["metadata"]["reason"] == "expired_at_meta"
    assert "expired at Meta" in row["metadata"]["error"]
    assert sim.metadata_calls["OLD-GONE"] == 1  # not retried


def test_recent_media_that_is_gone_is_just_gone(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    mid = send_media(engine, "NEW-GONE", timestamp=int(time.time()) - 6 * 86400)
    row = wait_final(engine, mid)
    assert row["metadata"]["reason"] == "gone"
    assert "expired at Meta" not in row["metadata"]["error"]


def test_old_media_whose_links_keep_expiring_fails_expired_at_meta(engine: MediaDeskEngine,
                                                                   sim: CloudSimulator) -> None:
    sim.add_media("OLD-EXP", "image/jpeg", fault=Fault(expire_s=0.0))
    mid = send_media(engine, "OLD-EXP", timestamp=int(time.time()) - 8 * 86400)
    row = wait_final(engine, mid)
    assert row["metadata"]["reason"] == "expired_at_meta"
    assert sim.download_calls["OLD-EXP"] == 1


def test_status_events_reach_subscribers(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    seen: list[MediaStatusChanged] = []
    lock = threading.Lock()

    def on_event(e: object) -> None:
        if isinstance(e, MediaStatusChanged):
            with lock:
                seen.append(e)

    engine.events.subscribe(on_event)
    sim.add_media("EV-1", "image/jpeg")
    mid = send_media(engine, "EV-1")
    wait_until(lambda: any(e.media_id == mid and e.status == "completed" for e in seen), what="completed event")
    statuses = [e.status for e in seen if e.media_id == mid]
    assert statuses[0] == "processing" and statuses[-1] == "completed"


# -- retry, retry all, flush, pause ------------------------------------------------------------------------------
def test_retry_media_brings_a_failed_media_back(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    mid = send_media(engine, "RT-1")  # not registered yet: 404, failed at once
    assert wait_final(engine, mid)["processing_status"] == "failed"
    sim.add_media("RT-1", "image/jpeg")
    assert engine.retry_media([mid]) == 1
    row = wait_final(engine, mid)
    assert_completed_with_bytes(engine, sim, row)
    assert row["metadata"]["attempts"] == 1  # the count restarts with the owner's Retry
    assert [t["outcome"] for t in attempts(engine, mid)] == ["failed", "completed"]  # history is kept


def test_retry_media_leaves_completed_media_alone(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    sim.add_media("RT-2", "image/jpeg")
    mid = send_media(engine, "RT-2")
    wait_final(engine, mid)
    # its thumbnail's key lands in the metadata just after completion: compare the row once that is done
    before = wait_until(lambda: (r := media_row(engine.cfg, mid)) and (r["metadata"] or {}).get("thumbnail")
                        and r, what="the thumbnail")
    assert engine.retry_media([mid]) == 0
    assert engine.retry_media([]) == 0
    assert media_row(engine.cfg, mid) == before
    assert sim.metadata_calls["RT-2"] == 1


def test_retry_failed_retries_every_failed_media(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    ids = [send_media(engine, f"RA-{i}") for i in range(4)]
    for mid in ids:
        assert wait_final(engine, mid)["processing_status"] == "failed"
    for i in range(4):
        sim.add_media(f"RA-{i}", "image/jpeg")
    assert engine.retry_failed() == 4
    for mid in ids:
        assert_completed_with_bytes(engine, sim, wait_final(engine, mid))


def test_flush_leaves_rows_pending_and_retry_brings_them_back(sim_config: Config, sim: CloudSimulator,
                                                              start_engine: Any) -> None:
    eng = start_engine(sim_config, workers=False)
    for i in range(3):
        sim.add_media(f"FL-{i}", "image/jpeg")
    ids = [send_media(eng, f"FL-{i}") for i in range(3)]
    assert eng.queue_length() == 3
    assert eng.flush_queue() == 3
    assert eng.queue_length() == 0
    assert {media_row(eng.cfg, m)["processing_status"] for m in ids} == {"pending"}
    eng.queue.start_consumer()
    assert eng.retry_failed() == 3  # flushed pending rows count as needing a retry
    for mid in ids:
        assert_completed_with_bytes(eng, sim, wait_final(eng, mid))
    assert all(sim.metadata_calls[f"FL-{i}"] == 1 for i in range(3))


def test_paused_workers_take_nothing_until_resumed(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    engine.pause_workers()
    assert engine.workers_paused
    sim.add_media("PA-1", "image/jpeg")
    mid = send_media(engine, "PA-1")
    wait_until(lambda: engine.queue_length() == 1, what="the task to sit in the queue")
    # A negative needs a window: half a second in which a running worker would have finished it.
    time.sleep(0.5)
    assert media_row(engine.cfg, mid)["processing_status"] == "pending"
    assert sim.metadata_calls["PA-1"] == 0
    engine.resume_workers()
    assert_completed_with_bytes(engine, sim, wait_final(engine, mid))


def test_many_media_at_once_all_complete(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    n = 30
    for i in range(n):
        sim.add_media(f"BURST-{i}", "image/jpeg")
    ids = [send_media(engine, f"BURST-{i}", wa_id=f"1555000{i % 5:04d}") for i in range(n)]
    for mid in ids:
        assert_completed_with_bytes(engine, sim, wait_final(engine, mid))
    assert sum(sim.metadata_calls.values()) == n
    paths = [media_row(engine.cfg, m)["path"] for m in ids]
    assert len(set(paths)) == n
    assert Path(engine.cfg.data_dir / paths[0]).exists()


# -- memory stays flat for a 100 MB file ---------------------------------------------------------------------------
MEMORY_SCRIPT = r'''
import json, sys, threading, time
from pathlib import Path
from engine.config import load_config
from engine.media import run_download
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator, media_message

def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

data_dir, token = Path(sys.argv[1]), "mem-token"
sim = CloudSimulator(access_token=token)
sim.start()
size = 100 * 1024 * 1024
sim.add_media("WARM", "application/pdf")
sim.add_media("BIG", "application/pdf", size=size)
cfg = load_config({"data_dir": data_dir, "graph_url": sim.base_url, "access_token": token, "port": 0},
                  environ={}, use_keyring=False)
eng = MediaDeskEngine(cfg)
eng.open()
results = eng.ingest([media_message("document", "WARM", "application/pdf", filename="warm.pdf"),
                      media_message("document", "BIG", "application/pdf", filename="big.pdf")])
warm, big = [r.media_ids[0] for r in results]
assert run_download(eng._pipeline(), warm) == "completed"  # every import and connection warmed up
peak, stop = [rss_kb()], threading.Event()
base = peak[0]

def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], rss_kb())
        time.sleep(0.005)

t = threading.Thread(target=sample)
t.start()
started = time.monotonic()
status = run_download(eng._pipeline(), big)
stop.set()
t.join()
row = eng.db.engine.connect().exec_driver_sql("select size, path from chat_media where id = ?", (big,)).one()
print(json.dumps({"status": status, "growth_mb": (peak[0] - base) / 1024, "seconds": time.monotonic() - started,
                  "size": row[0], "file": (data_dir / row[1]).stat().st_size}))
eng.stop()
sim.stop()
'''


@pytest.mark.slow
def test_a_100_mb_download_keeps_memory_flat(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path / "data")], capture_output=True,
                       text=True, timeout=120, env={"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
                                                    "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed"
    assert result["size"] == result["file"] == 100 * 1024 * 1024
    assert result["growth_mb"] < 50, result


def test_a_retry_after_longer_than_the_backoff_is_honoured(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    # The test engine backs off 0.2 s; Graph asks for 1 s: asking sooner would only be throttled again.
    sim.add_media("RL-wait", "image/jpeg", fault=Fault(rate_limit_first=1, retry_after_s=1.0))
    mid = send_media(engine, "RL-wait")
    row = wait_final(engine, mid)
    assert_completed_with_bytes(engine, sim, row)
    first, second = attempts(engine, mid)
    assert first["outcome"] == "retry" and "slow down" in first["error"]
    gap = datetime.fromisoformat(second["started_at"]) - datetime.fromisoformat(first["finished_at"])
    assert gap.total_seconds() >= 0.9
    assert sim.metadata_calls["RL-wait"] == 2
