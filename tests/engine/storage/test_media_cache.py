"""MediaCache: files on S3 (moto on loopback) are fetched once into the data folder; local files are read in place."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from engine.errors import StorageError
from engine.storage import LocalStorage, S3Storage
from engine.storage.cache import MediaCache

BUCKET = "mediadesk-cache-test"


@pytest.fixture
def s3(s3_endpoint: str, tmp_path: Path) -> S3Storage:
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    # Keys as Settings would hand them over (the environment's are moto's dummies either way).
    return S3Storage(bucket=BUCKET, region="us-east-1", endpoint_url=s3_endpoint, temp_root=tmp_path / "tmp",
                     access_key_id="testing", secret_access_key="testing")


def put(storage: S3Storage, key: str, data: bytes, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "up.part").write_bytes(data)
    storage.store(folder / "up.part", key, content_type="image/jpeg")


def test_an_s3_file_is_fetched_once_then_read_from_the_data_folder(s3: S3Storage, tmp_path: Path) -> None:
    put(s3, "_index/ab/abcdef", b"photo bytes", tmp_path / "up")
    cache = MediaCache(lambda loc: s3, tmp_path / "data" / "cache")
    assert cache.read_bytes("_index/ab/abcdef", "amazon") == b"photo bytes"
    s3.delete("_index/ab/abcdef")  # gone from S3: only the local copy can answer now
    assert cache.read_bytes("_index/ab/abcdef", "amazon") == b"photo bytes"
    opened = cache.local_file("_index/ab/abcdef", "amazon", suffix=".jpg")
    assert opened.suffix == ".jpg" and opened.read_bytes() == b"photo bytes"
    assert opened.parent == tmp_path / "data" / "cache"
    with pytest.raises(StorageError):
        cache.read_bytes("_index/no/such-key", "amazon")
    assert not [p for p in (tmp_path / "data" / "cache").iterdir() if p.name.startswith(".fetch-")]


def test_the_cache_stays_under_its_limit_oldest_read_first_out(s3: S3Storage, tmp_path: Path) -> None:
    for i in range(4):
        put(s3, f"k{i}", bytes([i]) * 1000, tmp_path / "up")
    cache = MediaCache(lambda loc: s3, tmp_path / "cache", max_bytes=2500)
    for i in range(4):
        cache.read_bytes(f"k{i}", "amazon")
    kept = list((tmp_path / "cache").iterdir())
    assert len(kept) == 2 and sum(p.stat().st_size for p in kept) <= 2500
    assert cache.read_bytes("k3", "amazon") == bytes([3]) * 1000


def test_local_files_are_read_where_they_are(tmp_path: Path) -> None:
    local = LocalStorage(tmp_path / "data")
    (tmp_path / "data" / "uploads").mkdir(parents=True)
    (tmp_path / "data" / "uploads" / "a.jpg").write_bytes(b"here")
    cache = MediaCache(lambda loc: local, tmp_path / "data" / "cache")
    assert cache.read_bytes("uploads/a.jpg", "local") == b"here"
    assert cache.local_file("uploads/a.jpg", "local") == (tmp_path / "data" / "uploads" / "a.jpg").resolve()
    assert not (tmp_path / "data" / "cache").exists()
