"""Stored once, through the real pipeline: webhooks in, the simulator's bytes down, files on a real disk."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
from mediadesk_testkit import build_config, listener_url, media_row, post_webhook, sql, wait_until

from engine.media.dedupe import remove_media_file, storage_usage
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator, media_message, sample_bytes

PHOTO = sample_bytes("image/jpeg", "the-same-photo")


def settle(eng: MediaDeskEngine, n: int) -> list[dict]:
    db = eng.cfg.db_path

    def done() -> bool:
        rows = sql(db, "select processing_status from chat_media")
        return len(rows) == n and all(r[0] in ("completed", "failed") for r in rows)

    wait_until(done, timeout=30, what=f"{n} media to settle")
    return [media_row(db, i) for i in range(1, n + 1)]


def send_three(eng: MediaDeskEngine, sim: CloudSimulator) -> list[dict]:
    """Two media with the same bytes (sent at once, so they finish together) and one other."""
    sim.add_media("DUP-1", "image/jpeg", PHOTO)
    sim.add_media("DUP-2", "image/jpeg", PHOTO)
    sim.add_media("OTHER", "image/jpeg")
    for mid, caption in (("DUP-1", "first"), ("DUP-2", "again"), ("OTHER", "else")):
        post_webhook(listener_url(eng), media_message("image", mid, "image/jpeg", caption=caption))
    rows = settle(eng, 3)
    assert [r["processing_status"] for r in rows] == ["completed"] * 3, [r["metadata"] for r in rows]
    return rows


def test_identical_media_share_one_file_and_keep_their_own_rows(engine: MediaDeskEngine,
                                                                 sim: CloudSimulator) -> None:
    a, b, other = send_three(engine, sim)
    pa, pb, po = (engine.cfg.data_dir / r["path"] for r in (a, b, other))
    assert a["path"] != b["path"], "each row keeps its own name and path"
    sa, sb = os.stat(pa), os.stat(pb)
    assert (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)
    assert os.stat(po).st_ino != sa.st_ino
    assert pa.read_bytes() == PHOTO
    assert a["metadata"]["verified_sha256"] == b["metadata"]["verified_sha256"]
    assert a["size"] == b["size"] == len(PHOTO)

    usage = storage_usage(engine.db, engine.storage_for)
    assert (usage.media, usage.files) == (3, 2)
    assert usage.bytes == len(PHOTO) + os.stat(po).st_size
    assert usage.saved_bytes == len(PHOTO)


def test_removing_one_rows_file_leaves_the_other_rows_file(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    a, b, _ = send_three(engine, sim)
    assert remove_media_file(engine.db, engine.storage_for, a["id"]) is True
    assert not (engine.cfg.data_dir / a["path"]).exists()
    assert (engine.cfg.data_dir / b["path"]).read_bytes() == PHOTO
    assert remove_media_file(engine.db, engine.storage_for, b["id"]) is True
    assert not any(p.is_file() and p.read_bytes() == PHOTO for p in engine.cfg.data_dir.rglob("*")), \
        "the last row's removal frees the bytes (index name included)"


def test_s3_identical_media_share_one_object(s3_endpoint: str, sim: CloudSimulator, data_dir: Path,
                                             start_engine) -> None:  # type: ignore[no-untyped-def]
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="dedupe")
    cfg = build_config(data_dir, graph_url=sim.base_url, storage="s3", s3_bucket="dedupe",
                       s3_endpoint_url=s3_endpoint, s3_region="us-east-1")
    eng = start_engine(cfg)
    a, b, other = send_three(eng, sim)
    assert a["location"] == b["location"] == "amazon"
    assert a["path"] == b["path"] != other["path"]
    # media objects only: each completion also stores a thumbnail under thumbnails/
    assert len(client.list_objects_v2(Bucket="dedupe", Prefix="uploads/")["Contents"]) == 2
    assert client.get_object(Bucket="dedupe", Key=a["path"])["Body"].read() == PHOTO
    assert storage_usage(eng.db, eng.storage_for).files == 2
    # One row's removal must not take the object the other still refers to.
    assert remove_media_file(eng.db, eng.storage_for, a["id"]) is False
    assert eng.storage_for("amazon").exists(b["path"])


def send_one(eng: MediaDeskEngine, sim: CloudSimulator, wa_id: str, data: bytes, n: int,
             mime: str = "image/jpeg") -> dict:
    sim.add_media(wa_id, mime, data)
    post_webhook(listener_url(eng), media_message("image", wa_id, mime, caption=wa_id))
    return settle(eng, n)[-1]


def test_bytes_already_stored_are_linked_not_downloaded_again(engine: MediaDeskEngine,
                                                              sim: CloudSimulator) -> None:
    """A photo forwarded again later: Graph is asked (a fresh URL, its sha256), the bytes are not fetched."""
    first = send_one(engine, sim, "FIRST", PHOTO, 1)
    again = send_one(engine, sim, "AGAIN", PHOTO, 2)
    assert again["processing_status"] == "completed", again["metadata"]
    assert sim.metadata_calls["AGAIN"] == 1
    assert sim.download_calls.get("AGAIN", 0) == 0
    pa, pb = (engine.cfg.data_dir / r["path"] for r in (first, again))
    assert pa != pb and os.path.samefile(pa, pb)
    assert pb.read_bytes() == PHOTO
    assert again["size"] == len(PHOTO)
    assert again["metadata"]["verified_sha256"] == first["metadata"]["verified_sha256"]


def test_a_damaged_stored_copy_is_downloaded_again_and_replaces_it(engine: MediaDeskEngine,
                                                                   sim: CloudSimulator) -> None:
    first = send_one(engine, sim, "FIRST", PHOTO, 1)
    stored = engine.cfg.data_dir / first["path"]
    damaged = bytearray(PHOTO)
    damaged[100] ^= 0xFF
    with open(stored, "r+b") as f:  # bit rot in place: every name of the inode sees it
        f.write(bytes(damaged))
    again = send_one(engine, sim, "AGAIN", PHOTO, 2)
    assert again["processing_status"] == "completed", again["metadata"]
    assert sim.download_calls["AGAIN"] == 1, "a copy that fails its hash is never linked"
    assert (engine.cfg.data_dir / again["path"]).read_bytes() == PHOTO


def test_stored_bytes_of_another_type_fail_as_a_mime_mismatch_and_leave_no_name(engine: MediaDeskEngine,
                                                                               sim: CloudSimulator) -> None:
    """The same bytes declared as something they are not: refused as a download of them would be."""
    pdf = sample_bytes("application/pdf", "a-contract")
    sim.add_media("DOC", "application/pdf", pdf)
    post_webhook(listener_url(engine), media_message("document", "DOC", "application/pdf", filename="c.pdf"))
    assert settle(engine, 1)[0]["processing_status"] == "completed"
    liar = send_one(engine, sim, "LIAR", pdf, 2)
    assert liar["processing_status"] == "failed"
    assert liar["metadata"]["reason"] == "mime_mismatch"
    assert liar["path"] is None
    assert sim.download_calls.get("LIAR", 0) == 0, "the stored copy's own bytes were sniffed"
    names = [p.name for p in (engine.cfg.data_dir / "uploads").rglob("*") if p.is_file()]
    assert names == ["c-1.pdf"], names
