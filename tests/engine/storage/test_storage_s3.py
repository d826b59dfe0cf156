"""Storage backends against real parts: S3 through a moto server on loopback, local disk in a temp dir."""

from __future__ import annotations

import hashlib
from pathlib import Path

import boto3
import pytest
from mediadesk_testkit import build_config, listener_url, media_row, post_webhook, sql, wait_until

import engine.media.download as download_module
from engine.dbfaults import STORAGE_UNAVAILABLE
from engine.errors import StorageError
from engine.simulator import CloudSimulator, media_message
from engine.storage import LocalStorage, S3Storage
from engine.storage.s3 import CACHE_CONTROL

BUCKET = "mediadesk-test"


@pytest.fixture
def s3_client(s3_endpoint: str):  # type: ignore[no-untyped-def]
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def temp_file(folder: Path, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "upload.part"
    p.write_bytes(data)
    return p


def test_s3_store_sets_content_type_and_cache_control(s3_endpoint: str, s3_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    storage = S3Storage(bucket=BUCKET, region="us-east-1", endpoint_url=s3_endpoint, temp_root=tmp_path / "tmp")
    data = b"\xff\xd8\xff\xe0 not really a jpeg but bytes all the same"
    tmp = temp_file(storage.temp_dir("k"), data)
    stored = storage.store(tmp, "uploads/media/whatsapp/1/2026/01/photo-1.jpg", content_type="image/jpeg")
    assert stored.location == "amazon"
    assert stored.path == "uploads/media/whatsapp/1/2026/01/photo-1.jpg"
    head = s3_client.head_object(Bucket=BUCKET, Key=stored.path)
    assert head["ContentType"] == "image/jpeg"
    assert head["CacheControl"] == "max-age=31536000" == CACHE_CONTROL
    assert storage.read_bytes(stored.path) == data
    assert storage.exists(stored.path)
    assert not storage.exists("uploads/nothing-here.jpg")
    assert storage.local_path(stored.path) is None
    assert not tmp.exists(), "the temporary file must be removed once uploaded"
    assert "reachable" in storage.test_connection()


def test_s3_errors_are_storage_errors(s3_endpoint: str, tmp_path: Path) -> None:
    storage = S3Storage(bucket="no-such-bucket", region="us-east-1", endpoint_url=s3_endpoint,
                        temp_root=tmp_path / "tmp")
    tmp = temp_file(tmp_path / "tmp", b"data")
    with pytest.raises(StorageError, match="no-such-bucket|NoSuchBucket"):
        storage.store(tmp, "k.jpg", content_type="image/jpeg")
    with pytest.raises(StorageError):
        storage.test_connection()
    with pytest.raises(StorageError):
        storage.read_bytes("k.jpg")


def test_pipeline_stores_to_s3(s3_endpoint: str, s3_client, sim: CloudSimulator, data_dir: Path,  # type: ignore[no-untyped-def]
                               start_engine) -> None:  # type: ignore[no-untyped-def]
    cfg = build_config(data_dir, graph_url=sim.base_url, storage="s3", s3_bucket=BUCKET,
                       s3_endpoint_url=s3_endpoint, s3_region="us-east-1")
    eng = start_engine(cfg)
    sim.add_media("S3-IMG", "image/jpeg")
    sim.add_media("S3-DOC", "application/pdf")
    post_webhook(listener_url(eng), media_message("image", "S3-IMG", "image/jpeg"))
    post_webhook(listener_url(eng), media_message("document", "S3-DOC", "application/pdf", filename="quote.pdf"))

    def settled() -> bool:
        rows = sql(cfg.db_path, "select processing_status from chat_media")
        return len(rows) == 2 and all(r[0] in ("completed", "failed") for r in rows)

    wait_until(settled, timeout=30, what="both media to reach S3")
    for mid, mime in ((1, "image/jpeg"), (2, "application/pdf")):
        row = media_row(cfg.db_path, mid)
        assert row["processing_status"] == "completed", row["metadata"]
        assert row["location"] == "amazon"
        head = s3_client.head_object(Bucket=BUCKET, Key=row["path"])
        assert head["ContentType"] == mime
        assert head["CacheControl"] == "max-age=31536000"
        body = s3_client.get_object(Bucket=BUCKET, Key=row["path"])["Body"].read()
        assert hashlib.sha256(body).hexdigest() == sim.media(row["wa_media_id"]).sha256
    assert not list(data_dir.rglob("*.part"))
    assert not (data_dir / "uploads").exists() or not [p for p in (data_dir / "uploads").rglob("*") if p.is_file()]


def test_pipeline_with_s3_down_keeps_retrying_then_completes_when_s3_is_back(  # type: ignore[no-untyped-def]
        sim: CloudSimulator, data_dir: Path, aws_env: None, s3_endpoint: str, s3_client, start_engine,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # S3 down says nothing about the media: it is retried past the retry budget, for as long as Meta keeps
    # the file, with the reason "storage unavailable". Waits between those attempts are shortened here.
    monkeypatch.setattr(download_module, "fault_delay", lambda attempt: 0.2)
    cfg = build_config(data_dir, graph_url=sim.base_url, storage="s3", s3_bucket=BUCKET,
                       s3_endpoint_url="http://127.0.0.1:9", s3_region="us-east-1")
    eng = start_engine(cfg)
    sim.add_media("S3-DOWN", "image/jpeg")
    post_webhook(listener_url(eng), media_message("image", "S3-DOWN", "image/jpeg"))
    budget = len(cfg.retry_delays) + 1
    row = wait_until(lambda: (r := media_row(cfg.db_path, 1))["metadata"].get("attempts", 0) > budget and r,
                     timeout=60, what="attempts past the retry budget against a dead S3")
    assert row["processing_status"] in ("pending", "processing")
    assert row["metadata"]["reason"] == STORAGE_UNAVAILABLE
    assert row["metadata"]["error"].startswith("the storage is unavailable")
    eng.reconfigure(cfg.with_changes(s3_endpoint_url=s3_endpoint))  # S3 is back
    row = wait_until(lambda: (r := media_row(cfg.db_path, 1))["processing_status"] == "completed" and r,
                     timeout=30, what="the media to complete once S3 is back")
    assert row["location"] == "amazon"
    assert s3_client.get_object(Bucket=BUCKET, Key=row["path"])["Body"].read() == sim.media("S3-DOWN").body
    assert not list(data_dir.rglob("*.part"))


# -- local storage keeps the same contract -------------------------------------------------------------------
def test_local_store_is_atomic_and_inside_uploads(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    key = "uploads/media/whatsapp/1/2026/01/photo-1.jpg"
    folder = storage.temp_dir(key)
    assert folder == (tmp_path / key).parent.resolve()
    tmp = temp_file(folder, b"bytes")
    stored = storage.store(tmp, key, content_type="image/jpeg")
    assert stored.location == "local" and stored.path == key
    assert storage.read_bytes(key) == b"bytes"
    assert storage.exists(key) and not tmp.exists()
    assert storage.local_path(key) == tmp_path.resolve() / key
    assert "writable" in storage.test_connection()


@pytest.mark.parametrize("key", ["uploads/../outside.jpg", "../escape.jpg", "/etc/passwd", "other/x.jpg",
                                 "uploads/a/../../b.jpg"])
def test_local_store_refuses_keys_outside_uploads(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "data")
    tmp = temp_file(tmp_path / "t", b"x")
    with pytest.raises(StorageError, match="outside the uploads folder"):
        storage.store(tmp, key, content_type="image/jpeg")
    assert tmp.exists()
