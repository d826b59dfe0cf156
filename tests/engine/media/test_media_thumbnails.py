"""Persistent thumbnails: made after a media completes (image, animated sticker, video, PDF), stored under
`thumbnails/`, recorded in the row's metadata, reused rather than made again; S3 keeps them in the bucket."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from mediadesk_testkit import listener_url, media_row, post_webhook, sql, wait_until
from PIL import Image

from engine.config import Config
from engine.media.thumbnails import PREFIX, kind_of, make_thumbnail, without_thumbnail
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator, media_message


def jpeg(size: tuple[int, int] = (1600, 1200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


def animated_webp() -> bytes:
    frames = [Image.new("RGBA", (512, 512), (0, 128, 0, 255)), Image.new("RGBA", (512, 512), (0, 0, 255, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def mp4() -> bytes:
    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((240, 320, 3), (i * 40, 100, 200), dtype=np.uint8),
                                               format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def pdf() -> bytes:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument.new()
    doc.new_page(595, 842)
    buf = io.BytesIO()
    doc.save(buf)
    doc.close()
    return buf.getvalue()


CASES = {
    "image": ("image", "image/jpeg", jpeg),
    "sticker": ("sticker", "image/webp", animated_webp),
    "video": ("video", "video/mp4", mp4),
    "document": ("document", "application/pdf", pdf),
}


def send(eng: MediaDeskEngine, sim: CloudSimulator, wa_media_id: str, kind: str, mime: str, data: bytes) -> int:
    sim.add_media(wa_media_id, mime, data)
    extra = {"filename": "paper.pdf"} if kind == "document" else {}
    assert post_webhook(listener_url(eng), media_message(kind, wa_media_id, mime, **extra)).status_code == 200
    return int(sql(eng.cfg.db_path, "select id from chat_media where wa_media_id = ?", wa_media_id)[0][0])


def thumbnail_of(eng: MediaDeskEngine, media_id: int) -> str | None:
    meta = media_row(eng.cfg.db_path, media_id)["metadata"] or {}
    meta = json.loads(meta) if isinstance(meta, str) else meta
    return meta.get("thumbnail")


@pytest.mark.parametrize("case", list(CASES))
def test_a_completed_media_gets_a_stored_thumbnail(case: str, sim: CloudSimulator, sim_config: Config,
                                                   start_engine: Callable[..., MediaDeskEngine]) -> None:
    kind, mime, make = CASES[case]
    eng = start_engine(sim_config)
    mid = send(eng, sim, f"THUMB-{case}", kind, mime, make())
    key = wait_until(lambda: thumbnail_of(eng, mid), timeout=20, what=f"the {case} thumbnail")
    assert key.startswith(f"{PREFIX}/")
    assert media_row(eng.cfg.db_path, mid)["processing_status"] == "completed"
    with Image.open(eng.cfg.data_dir / key) as im:
        assert max(im.size) <= 320
        assert im.size[0] > 10 and im.size[1] > 10
        if case == "sticker":
            assert im.getpixel((5, 5))[:3] == pytest.approx((0, 128, 0), abs=8)  # the first frame, not the second


def test_a_thumbnail_is_reused_and_audio_has_none(sim: CloudSimulator, sim_config: Config,
                                                  start_engine: Callable[..., MediaDeskEngine]) -> None:
    eng = start_engine(sim_config)
    mid = send(eng, sim, "THUMB-REUSE", "image", "image/jpeg", jpeg())
    key = wait_until(lambda: thumbnail_of(eng, mid), timeout=20, what="the thumbnail")
    stored = eng.cfg.data_dir / key
    before = stored.stat().st_mtime_ns
    assert make_thumbnail(eng.db, eng.storage_for, mid) == key  # already made: the stored one is the answer
    assert stored.stat().st_mtime_ns == before
    audio = send(eng, sim, "THUMB-AUDIO", "audio", "audio/ogg", b"OggS" + b"\0" * 200)
    wait_until(lambda: media_row(eng.cfg.db_path, audio)["processing_status"] in ("completed", "failed"))
    assert make_thumbnail(eng.db, eng.storage_for, audio) is None
    assert thumbnail_of(eng, audio) is None


def test_renderer_choice() -> None:
    assert kind_of("image/jpeg", "image") == "image"
    assert kind_of("image/webp", "sticker") == "image"
    assert kind_of("video/mp4", "video") == "video"
    assert kind_of("application/pdf", "document") == "pdf"
    assert kind_of("audio/ogg", "audio") is None
    assert kind_of("application/zip", "document") is None


def test_an_unreadable_file_has_no_thumbnail_and_stays_completed(sim: CloudSimulator, sim_config: Config,
                                                                  start_engine: Callable[..., MediaDeskEngine],
                                                                  tmp_path: Path) -> None:
    eng = start_engine(sim_config)
    good = jpeg()
    mid = send(eng, sim, "THUMB-BAD", "image", "image/jpeg", good[:200])  # a torn JPEG: its header only
    wait_until(lambda: media_row(eng.cfg.db_path, mid)["processing_status"] in ("completed", "failed"))
    assert make_thumbnail(eng.db, eng.storage_for, mid) is None
    assert media_row(eng.cfg.db_path, mid)["processing_status"] in ("completed", "failed")


def test_media_stored_before_thumbnails_existed_get_theirs_at_the_next_start(
        sim: CloudSimulator, sim_config: Config, start_engine: Callable[..., MediaDeskEngine]) -> None:
    eng = start_engine(sim_config)
    photo = send(eng, sim, "OLD-PHOTO", "image", "image/jpeg", jpeg())
    torn = send(eng, sim, "OLD-TORN", "image", "image/jpeg", jpeg()[:200])
    voices = [send(eng, sim, f"OLD-AUDIO-{i}", "audio", "audio/ogg", b"OggS" + bytes([i]) * 200) for i in range(5)]
    audio = voices[-1]
    wait_until(lambda: all(media_row(eng.cfg.db_path, v)["processing_status"] == "completed" for v in voices),
               timeout=20, what="the voice notes")
    wait_until(lambda: thumbnail_of(eng, photo), timeout=20, what="the thumbnail")
    wait_until(lambda: "thumbnail_none" in (media_row(eng.cfg.db_path, torn)["metadata"] or {}), timeout=20,
               what="the torn file found unreadable")
    eng.stop()
    # As a database from before thumbnails: no key, and no file behind it.
    (eng.cfg.data_dir / thumbnail_of(eng, photo)).unlink()
    sql(eng.cfg.db_path, "update chat_media set metadata = json_remove(metadata, '$.thumbnail') where id = ?", photo)
    assert without_thumbnail(eng.db) == [photo]  # not the unreadable one again, never the audio
    assert without_thumbnail(eng.db, limit=1) == [photo]  # newer voice notes do not hide it
    again = start_engine(sim_config)
    key = wait_until(lambda: thumbnail_of(again, photo), timeout=20, what="the backfilled thumbnail")
    assert (again.cfg.data_dir / key).is_file() and thumbnail_of(again, audio) is None
    assert without_thumbnail(again.db) == [] and again.backfill_thumbnails() == 0


def test_on_s3_the_thumbnail_goes_to_the_bucket_prefix(s3_endpoint: str, sim: CloudSimulator, data_dir: Path,
                                                       start_engine: Callable[..., MediaDeskEngine]) -> None:
    import boto3
    from mediadesk_testkit import build_config

    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket="thumbs")
    cfg = build_config(data_dir, graph_url=sim.base_url, graph_version=sim.version, storage="s3", s3_bucket="thumbs",
                       s3_region="us-east-1", s3_endpoint_url=s3_endpoint)
    eng = start_engine(cfg)
    mid = send(eng, sim, "THUMB-S3", "image", "image/jpeg", jpeg())
    key = wait_until(lambda: thumbnail_of(eng, mid), timeout=30, what="the S3 thumbnail")
    assert key.startswith(f"{PREFIX}/") and not (data_dir / key).exists()
    with Image.open(io.BytesIO(eng.storage_for("amazon").read_bytes(key))) as im:
        assert max(im.size) == 320
