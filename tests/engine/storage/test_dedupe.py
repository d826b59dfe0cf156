"""Identical bytes stored once: hard links on a real temp dir, one content-addressed object on a moto S3."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import boto3
import pytest
import requests

from engine.storage import LocalStorage, S3Storage
from engine.storage.dedupe import content_key, index_path, prune_index, release_local, share_identical, store_once

BUCKET = "mediadesk-dedupe"
PHOTO = b"\xff\xd8\xff\xe0" + b"the same photo, sent twice" * 40


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def temp(storage: LocalStorage | S3Storage, key: str, data: bytes) -> Path:
    p = storage.temp_dir(key) / f".{Path(key).name}.part"
    p.write_bytes(data)
    return p


def put(storage: LocalStorage | S3Storage, key: str, data: bytes) -> str:
    return store_once(storage, temp(storage, key, data), key, sha256=sha(data), content_type="image/jpeg").path


def inode(p: Path) -> tuple[int, int]:
    st = os.stat(p)
    return st.st_dev, st.st_ino


def test_identical_files_become_one_inode_each_keeping_its_path(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    a = put(storage, "uploads/media/whatsapp/1/2026/01/photo-1.jpg", PHOTO)
    b = put(storage, "uploads/media/whatsapp/1/2026/02/holiday-2.jpg", PHOTO)
    other = put(storage, "uploads/media/whatsapp/1/2026/02/other-3.jpg", PHOTO + b"!")
    assert (a, b) == ("uploads/media/whatsapp/1/2026/01/photo-1.jpg", "uploads/media/whatsapp/1/2026/02/holiday-2.jpg")
    pa, pb, po = (storage.local_path(k) for k in (a, b, other))
    assert inode(pa) == inode(pb) != inode(po)
    assert pa.read_bytes() == pb.read_bytes() == PHOTO
    assert os.stat(pa).st_nlink == 3  # the two rows' names and the index name
    assert inode(index_path(storage, sha(PHOTO))) == inode(pa)
    assert not list(tmp_path.rglob("*.part"))
    assert sorted(p.name for p in (tmp_path / "uploads").rglob("*") if p.is_file()) == [
        "holiday-2.jpg", "other-3.jpg", "photo-1.jpg"], "uploads/ holds exactly the rows' files"


def test_removing_one_name_keeps_the_bytes_for_the_other_and_the_last_frees_them(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    a = put(storage, "uploads/media/whatsapp/1/2026/01/a-1.jpg", PHOTO)
    b = put(storage, "uploads/media/whatsapp/1/2026/01/b-2.jpg", PHOTO)
    index = index_path(storage, sha(PHOTO))
    release_local(storage, a, sha(PHOTO))
    assert not storage.exists(a)
    assert storage.read_bytes(b) == PHOTO and index.exists()
    release_local(storage, b, sha(PHOTO))
    assert not storage.exists(b) and not index.exists()


def test_a_damaged_indexed_copy_is_never_shared_and_the_new_whole_file_replaces_it(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    a = put(storage, "uploads/media/whatsapp/1/2026/01/a-1.jpg", PHOTO)
    pa = storage.local_path(a)
    with open(pa, "r+b") as fh:  # a bad sector under the shared inode: same size, other bytes
        fh.seek(10)
        fh.write(b"XXXX")
    b = put(storage, "uploads/media/whatsapp/1/2026/01/b-2.jpg", PHOTO)
    pb = storage.local_path(b)
    assert pb.read_bytes() == PHOTO, "the good download must not be swapped for the damaged copy"
    assert inode(index_path(storage, sha(PHOTO))) == inode(pb) != inode(pa)


def test_an_index_name_left_as_the_only_link_is_pruned(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    a = put(storage, "uploads/media/whatsapp/1/2026/01/a-1.jpg", PHOTO)
    b = put(storage, "uploads/media/whatsapp/1/2026/01/b-2.jpg", PHOTO + b"2")
    storage.local_path(a).unlink()  # removed by hand, not through release_local
    assert prune_index(storage, sha(PHOTO)[:2]) == 1
    assert not index_path(storage, sha(PHOTO)).exists()
    assert index_path(storage, sha(PHOTO + b"2")).exists() and storage.read_bytes(b) == PHOTO + b"2"
    assert prune_index(storage, "zz") == 0


def test_without_hard_links_each_file_stays_whole_on_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalStorage(tmp_path)
    a = put(storage, "uploads/media/whatsapp/1/2026/01/a-1.jpg", PHOTO)

    def no_links(src: object, dst: object) -> None:  # FAT, exFAT, some network shares
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    b = put(storage, "uploads/media/whatsapp/1/2026/01/b-2.jpg", PHOTO)
    assert storage.read_bytes(a) == storage.read_bytes(b) == PHOTO
    assert share_identical(storage, b, sha(PHOTO)) is False


def test_content_key_takes_only_hex_digests() -> None:
    assert content_key("AB" * 32) == f"uploads/media/sha256/ab/{'ab' * 32}"
    for bad in ("", "../" * 20, "zz" * 32, "ab" * 31):
        with pytest.raises(ValueError):
            content_key(bad)


# -- S3: one content-addressed object, uploaded once -------------------------------------------------------
@pytest.fixture
def s3(s3_endpoint: str, tmp_path: Path) -> S3Storage:
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    return S3Storage(bucket=BUCKET, region="us-east-1", endpoint_url=s3_endpoint, temp_root=tmp_path / "tmp")


def keys(s3: S3Storage) -> list[str]:
    return [o["Key"] for o in s3.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_s3_identical_media_share_one_object_uploaded_once(s3: S3Storage) -> None:
    a = put(s3, "uploads/media/whatsapp/1/2026/01/a-1.jpg", PHOTO)
    first = s3.client.head_object(Bucket=BUCKET, Key=a)
    assert first["Metadata"] == {"sha256": sha(PHOTO)}
    # A mark on the stored object: a second upload would replace the object and lose it.
    s3.client.copy_object(Bucket=BUCKET, Key=a, CopySource={"Bucket": BUCKET, "Key": a}, MetadataDirective="REPLACE",
                          Metadata={"sha256": sha(PHOTO), "mark": "first"}, ContentType="image/jpeg",
                          CacheControl="max-age=31536000")
    b = put(s3, "uploads/media/whatsapp/1/2026/01/b-2.jpg", PHOTO)
    assert a == b == content_key(sha(PHOTO))
    assert keys(s3) == [a]
    assert s3.client.head_object(Bucket=BUCKET, Key=a)["Metadata"].get("mark") == "first", "uploaded twice"
    assert first["ContentType"] == "image/jpeg" and first["CacheControl"] == "max-age=31536000"
    assert s3.sha256_of(a) == sha(PHOTO)
    assert not list(s3.temp_root.glob("*")), "the skipped upload's temp file must go too"


def test_s3_object_replaced_by_someone_else_is_uploaded_again(s3: S3Storage) -> None:
    a = put(s3, "uploads/media/whatsapp/1/2026/01/a-1.jpg", PHOTO)
    s3.client.put_object(Bucket=BUCKET, Key=a, Body=b"x" * len(PHOTO))  # same size, no digest of ours
    b = put(s3, "uploads/media/whatsapp/1/2026/01/b-2.jpg", PHOTO)
    assert b == a and s3.read_bytes(a) == PHOTO


def test_s3_presigned_link_serves_the_file_under_the_rows_name_until_it_expires(s3: S3Storage) -> None:
    key = put(s3, "uploads/media/whatsapp/1/2026/01/a-1.jpg", PHOTO)
    url = s3.presigned_url(key, expires_in=7 * 24 * 3600, filename="Cake order.jpg")
    assert "X-Amz-Expires=604800" in url
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == PHOTO
    assert "Cake%20order.jpg" in r.headers.get("Content-Disposition", "")
    s3.delete(key)
    assert not s3.exists(key)
