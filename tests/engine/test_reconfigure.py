"""`MediaDeskEngine.reconfigure`: new settings applied to a running engine, over real HTTP on loopback."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from mediadesk_testkit import APP_SECRET, VERIFY_TOKEN, listener_url, media_row, post_webhook, sql, wait_until

from engine.errors import ConfigError, StorageError
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator, media_message, text_message
from engine.storage import LocalStorage, S3Storage

BUCKET = "mediadesk-reconfigure"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthz(base_url: str) -> requests.Response:
    return requests.get(f"{base_url}/healthz", timeout=5)


def refuses(base_url: str) -> bool:
    try:
        healthz(base_url)
    except requests.ConnectionError:
        return True
    return False


def send_media(eng: MediaDeskEngine, wa_media_id: str) -> int:
    assert post_webhook(listener_url(eng), media_message("image", wa_media_id, "image/jpeg")).status_code == 200
    (row,) = sql(eng.cfg.db_path, "select id from chat_media where wa_media_id = ?", wa_media_id)
    return int(row[0])


def wait_completed(eng: MediaDeskEngine, media_id: int) -> dict[str, Any]:
    row = wait_until(lambda: (r := media_row(eng.cfg.db_path, media_id))["processing_status"] in ("completed",
                                                                                                  "failed") and r,
                     timeout=30, what=f"media {media_id} to finish")
    assert row["processing_status"] == "completed", row["metadata"]
    return row


def test_the_listener_moves_to_the_new_port(engine: MediaDeskEngine) -> None:
    old_url = listener_url(engine)
    assert healthz(old_url).status_code == 200
    port = free_port()

    applied = engine.reconfigure(engine.cfg.with_changes(port=port))

    assert applied == [f"listener moved to 127.0.0.1:{port}"]
    assert engine.cfg.port == port and engine.listener.port == port
    assert refuses(old_url), "the old port still answers"
    new_url = f"http://127.0.0.1:{port}"
    assert listener_url(engine) == new_url
    r = healthz(new_url)
    assert r.status_code == 200 and r.json()["workers_alive"] == 2
    # The new listener stores webhooks through the same writer and store as the old one did.
    assert post_webhook(new_url, text_message("after the move")).status_code == 200
    assert sql(engine.cfg.db_path, "select count(*) from chats")[0][0] == 1


def test_a_new_app_secret_and_verify_token_are_enforced_at_once(engine: MediaDeskEngine) -> None:
    url = listener_url(engine)
    assert post_webhook(url, text_message("before"), secret=APP_SECRET).status_code == 200

    applied = engine.reconfigure(engine.cfg.with_changes(app_secret="rotated-secret", verify_token="new-token"))

    # The port (0 in the config: the one the listener got) stays; the new rules hold on the next request.
    assert listener_url(engine) == url
    assert applied == [f"listener on {url[len('http://'):]} restarted with the new app secret and verify token"]
    assert post_webhook(url, text_message("old secret"), secret=APP_SECRET).status_code == 403
    assert post_webhook(url, text_message("new secret"), secret="rotated-secret").status_code == 200
    verify = {"hub.mode": "subscribe", "hub.challenge": "42"}
    assert requests.get(f"{url}/webhook", params={**verify, "hub.verify_token": VERIFY_TOKEN}, timeout=5) \
        .status_code == 403
    r = requests.get(f"{url}/webhook", params={**verify, "hub.verify_token": "new-token"}, timeout=5)
    assert (r.status_code, r.text) == (200, "42")


def test_a_taken_port_is_a_clear_error_and_the_old_listener_keeps_answering(engine: MediaDeskEngine) -> None:
    url = listener_url(engine)
    before = engine.cfg
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}.*choose another port"):
            engine.reconfigure(engine.cfg.with_changes(port=port, workers=5))
    # Nothing was applied: same listener, same config, same workers.
    assert listener_url(engine) == url and healthz(url).status_code == 200
    assert engine.cfg == before and engine.workers_alive() == 2
    assert post_webhook(url, text_message("still here")).status_code == 200


def test_same_port_on_another_host_lets_go_of_the_port_first(config, start_engine) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    eng = start_engine(config.with_changes(port=port), workers=False)
    # 0.0.0.0:port overlaps 127.0.0.1:port, which the running listener holds itself.
    applied = eng.reconfigure(eng.cfg.with_changes(host="0.0.0.0"))
    assert applied == [f"listener moved to 0.0.0.0:{port}"]
    assert healthz(f"http://127.0.0.1:{port}").status_code == 200


def test_workers_restart_with_the_new_count_and_stay_paused(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    engine.pause_workers()
    sim.add_media("RW-1", "image/jpeg")
    mid = send_media(engine, "RW-1")
    wait_until(lambda: engine.queue_length() == 1, what="the task to sit in the queue")

    applied = engine.reconfigure(engine.cfg.with_changes(workers=3))

    assert applied == ["2 -> 3 download workers"]
    assert engine.workers_alive() == 3 and engine.workers_paused
    assert engine.queue.cfg.workers == 3
    # A negative needs a window: half a second in which a running worker would have taken the task.
    time.sleep(0.5)
    assert engine.queue_length() == 1 and sim.metadata_calls["RW-1"] == 0
    assert media_row(engine.cfg.db_path, mid)["processing_status"] == "pending"

    engine.resume_workers()
    wait_completed(engine, mid)

    # Running (not paused) workers are restarted too, and keep working.
    assert engine.reconfigure(engine.cfg.with_changes(workers=1)) == ["3 -> 1 download workers"]
    assert engine.workers_alive() == 1 and not engine.workers_paused
    sim.add_media("RW-2", "image/jpeg")
    wait_completed(engine, send_media(engine, "RW-2"))


def test_download_settings_apply_to_the_next_attempt(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    applied = engine.reconfigure(engine.cfg.with_changes(access_token="wrong-token", retry_delays="0.1"))
    assert applied == ["retry waits are now 0.1 seconds", "downloads use the new access token"]
    sim.add_media("TOK-1", "image/jpeg")
    mid = send_media(engine, "TOK-1")
    row = wait_until(lambda: (r := media_row(engine.cfg.db_path, mid))["processing_status"] == "failed" and r,
                     timeout=30, what="the media to fail with the wrong token")
    assert row["processing_status"] == "failed"

    engine.reconfigure(engine.cfg.with_changes(access_token=sim.access_token))
    assert engine.retry_media([mid]) == 1
    wait_completed(engine, mid)


def test_storage_moves_to_s3_for_new_downloads_only(engine: MediaDeskEngine, sim: CloudSimulator,
                                                    s3_endpoint: str) -> None:
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    sim.add_media("ST-1", "image/jpeg")
    first = wait_completed(engine, send_media(engine, "ST-1"))
    assert first["location"] == "local"

    applied = engine.reconfigure(engine.cfg.with_changes(storage="s3", s3_bucket=BUCKET, s3_region="us-east-1",
                                                         s3_endpoint_url=s3_endpoint))

    assert applied == [f"storage is now S3 bucket {BUCKET} at {s3_endpoint} "
                       "(files already downloaded stay where they are)"]
    assert isinstance(engine.storage, S3Storage)
    sim.add_media("ST-2", "image/jpeg")
    second = wait_completed(engine, send_media(engine, "ST-2"))
    assert second["location"] == "amazon"
    assert client.head_object(Bucket=BUCKET, Key=second["path"])["ContentLength"] == second["size"]
    assert (engine.cfg.data_dir / first["path"]).is_file(), "a completed file must stay where it was"
    # both stay readable where they are, and the health check finds every file
    local_bytes = (engine.cfg.data_dir / first["path"]).read_bytes()
    assert engine.storage_for(first["location"]).read_bytes(first["path"]) == local_bytes
    assert len(engine.storage_for(second["location"]).read_bytes(second["path"])) == second["size"]
    gone = next(f for f in engine.health_check().findings if f.name == "completed media whose file is gone")
    assert gone.ok, gone.detail

    engine.reconfigure(engine.cfg.with_changes(storage="local"))
    assert isinstance(engine.storage, LocalStorage)
    # Back on this disk, files already on S3 stay readable while the bucket is still set (retention moves there).
    assert len(engine.storage_for(second["location"]).read_bytes(second["path"])) == second["size"]
    engine.reconfigure(engine.cfg.with_changes(storage="local", s3_bucket=None))
    with pytest.raises(StorageError, match="S3 is not set up"):
        engine.storage_for("amazon")


def test_data_folder_and_database_changes_wait_for_the_next_start(engine: MediaDeskEngine, tmp_path: Path) -> None:
    before = engine.cfg
    applied = engine.reconfigure(before.with_changes(data_dir=tmp_path / "elsewhere",
                                                     database_url="sqlite:///" + str(tmp_path / "x.db"),
                                                     graph_version="v22.0"))
    assert applied == ["downloads use Graph API v22.0", "data folder changes apply at the next start",
                       "database changes apply at the next start"]
    # The running engine keeps the files it has open.
    assert engine.cfg.data_dir == before.data_dir and engine.cfg.database_url is None
    assert engine.cfg.graph_version == "v22.0"
    assert not (tmp_path / "elsewhere").exists()


def test_nothing_changed_changes_nothing(engine: MediaDeskEngine) -> None:
    listener = engine.listener
    assert engine.reconfigure(engine.cfg) == []
    assert engine.listener is listener


def test_reconfigure_from_two_threads_at_once_ends_with_one_listener(engine: MediaDeskEngine) -> None:
    ports = [free_port(), free_port()]
    errors: list[BaseException] = []

    def move(port: int) -> None:
        try:
            engine.reconfigure(engine.cfg.with_changes(port=port))
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=move, args=(p,)) for p in ports]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    answering = [p for p in ports if not refuses(f"http://127.0.0.1:{p}")]
    assert answering == [engine.listener.port] and engine.cfg.port == engine.listener.port
