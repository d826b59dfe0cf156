"""Retention over real stored files: webhooks in, the simulator's bytes on a real disk, a moto S3 on loopback."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from mediadesk_testkit import MEDIADESK_BIN, build_config, listener_url, media_row, post_webhook, sql, wait_until

from engine.config import Config, load_config
from engine.db import queries
from engine.db.models import MediaStatus, utcnow
from engine.errors import ConfigError
from engine.events import MediaStatusChanged
from engine.media.dedupe import storage_usage
from engine.media.retention import RetentionPolicy, RetentionRule
from engine.media.verify import verify_media
from engine.metrics import collect_metrics
from engine.monitoring import check_health
from engine.runtime import MediaDeskEngine
from engine.settings_file import save_settings
from engine.simulator import CloudSimulator, media_message, sample_bytes
from engine.storage.dedupe import content_key, file_sha256, index_path

PHOTO = sample_bytes("image/jpeg", "sent-twice")
BUCKET = "retention"
DELETE_OLD = RetentionPolicy((RetentionRule("delete", 30),))


def settle(eng: MediaDeskEngine, n: int) -> list[dict]:
    def done() -> bool:
        rows = sql(eng.cfg.db_path, "select processing_status from chat_media")
        return len(rows) == n and all(r[0] in ("completed", "failed") for r in rows)

    wait_until(done, timeout=30, what=f"{n} media to settle")
    rows = [media_row(eng.cfg.db_path, i) for i in range(1, n + 1)]
    assert [r["processing_status"] for r in rows] == ["completed"] * n, [r["metadata"] for r in rows]
    return rows


def age(db_path: Path, media_id: int, days: int) -> None:
    """The message arrived `days` ago (the policy goes by the message's age)."""
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("update chats set created_at = ? where media_id = ?",
                     ((utcnow() - timedelta(days=days)).isoformat(sep=" "), media_id))
    conn.close()


def library(eng: MediaDeskEngine, sim: CloudSimulator) -> list[dict]:
    """1 and 2: one photo sent twice; 3: another photo; 4: a document; 5: a video. Ages 100, 5, 100, 100, 100 days."""
    sim.add_media("TWICE-1", "image/jpeg", PHOTO)
    sim.add_media("TWICE-2", "image/jpeg", PHOTO)
    sim.add_media("OTHER", "image/jpeg")
    sim.add_media("DOC", "application/pdf")
    sim.add_media("VID", "video/mp4")
    for kind, mid, mime in (("image", "TWICE-1", "image/jpeg"), ("image", "TWICE-2", "image/jpeg"),
                            ("image", "OTHER", "image/jpeg"), ("document", "DOC", "application/pdf"),
                            ("video", "VID", "video/mp4")):
        name = "q.pdf" if kind == "document" else None
        post_webhook(listener_url(eng), media_message(kind, mid, mime, filename=name))
        settle(eng, int(sql(eng.cfg.db_path, "select count(*) from chat_media")[0][0]))  # in order: ids 1..5
    for mid, days in ((1, 100), (2, 5), (3, 100), (4, 100), (5, 100)):
        age(eng.cfg.db_path, mid, days)
    # Each completion queues its thumbnail in the background; wait for all five so that nothing else writes
    # the rows while a test compares them.
    wait_until(lambda: all("thumbnail" in media_row(eng.cfg.db_path, i)["metadata"] for i in range(1, 6)),
               timeout=30, what="five thumbnails")
    return settle(eng, 5)


def path_of(eng: MediaDeskEngine, row: dict) -> Path:
    return eng.cfg.data_dir / row["path"]


def test_preview_counts_and_sizes_per_action_and_type_and_changes_nothing(engine: MediaDeskEngine,
                                                                          sim: CloudSimulator) -> None:
    rows = library(engine, sim)
    before = [media_row(engine.cfg.db_path, r["id"]) for r in rows]
    policy = RetentionPolicy((RetentionRule("delete", 30, ("video",)), RetentionRule("delete", 30)))
    plan = engine.retention_preview(policy)
    by = {(line.action, line.type): (line.media, line.bytes) for line in plan.lines}
    sizes = {r["id"]: path_of(engine, r).stat().st_size for r in rows}
    assert by == {("delete", "image"): (2, sizes[1] + sizes[3]), ("delete", "document"): (1, sizes[4]),
                  ("delete", "video"): (1, sizes[5])}
    # The photo sent twice has a recent copy: its bytes stay on disk, so deleting the old row frees nothing there.
    assert plan.frees_local_bytes == sizes[3] + sizes[4] + sizes[5]
    assert plan.media == 4 and "4 to delete" in plan.summary()
    assert [media_row(engine.cfg.db_path, r["id"]) for r in rows] == before
    assert all(path_of(engine, r).exists() for r in rows)
    assert engine.retention_preview(RetentionPolicy()).summary().startswith("the policy keeps everything")
    assert engine.retention_preview(RetentionPolicy((RetentionRule("delete", 365),))).media == 0


def test_delete_removes_old_files_but_never_bytes_a_kept_row_uses(engine: MediaDeskEngine,
                                                                  sim: CloudSimulator) -> None:
    rows = library(engine, sim)
    seen: list[tuple[int, str]] = []
    engine.events.subscribe(
        lambda e: seen.append((e.media_id, str(e.status))) if isinstance(e, MediaStatusChanged) else None)
    progress: list[tuple[int, int]] = []
    report = engine.apply_retention(DELETE_OLD, progress=lambda done, total: progress.append((done, total)))
    assert (report.removed, report.moved, report.errors) == (4, 0, ())
    assert progress[-1] == (4, 4) and len(progress) == 4
    for mid in (1, 3, 4, 5):
        row = media_row(engine.cfg.db_path, mid)
        assert row["processing_status"] == "removed" and row["path"] is None
        assert row["metadata"]["removed"]["by"] == "retention" and row["metadata"]["removed"]["at"]
        assert not path_of(engine, rows[mid - 1]).exists()
        assert (mid, "removed") in seen
    kept = media_row(engine.cfg.db_path, 2)
    assert kept["processing_status"] == "completed" and path_of(engine, kept).read_bytes() == PHOTO
    assert index_path(engine.storage_for("local"), kept["metadata"]["verified_sha256"]).exists()
    # A second run finds nothing more; the recent copy goes once it is old too, and its bytes with it.
    assert engine.apply_retention(DELETE_OLD).removed == 0
    age(engine.cfg.db_path, 2, 100)
    assert engine.apply_retention(DELETE_OLD).removed == 1
    assert not path_of(engine, kept).exists()
    assert not index_path(engine.storage_for("local"), kept["metadata"]["verified_sha256"]).exists()


def test_removed_media_are_no_failure_anywhere(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    library(engine, sim)
    engine.apply_retention(DELETE_OLD)
    m = collect_metrics(engine.db)
    assert m.status_counts["removed"] == 4 and m.status_counts["failed"] == 0
    assert m.success_rate == 1.0 and m.unavailable_share == 0
    report = check_health(engine.cfg, engine.db, engine.storage_for, queue_length=0, workers_alive=None)
    assert report.ok, report.format()
    with engine.db.session() as s:
        assert [c.failed_media for c in queries.chat_summaries(s)] == [0]
        assert queries.failed_media_ids(s) == []
        view = queries.media(s, 1)
    assert view is not None and view.status == MediaStatus.REMOVED and view.removed_at
    checked = verify_media(engine.db, engine.storage_for, requeue=engine.queue.enqueue_many, everything=True)
    assert checked.media == 1 and checked.ok, "verify and the scrub look at the one media still stored"
    assert engine.retry_failed() == 0 and media_row(engine.cfg.db_path, 1)["processing_status"] == "removed"
    usage = storage_usage(engine.db, engine.storage_for)
    assert (usage.media, usage.files) == (1, 1)


@pytest.fixture
def s3_config(s3_endpoint: str, sim: CloudSimulator, data_dir: Path) -> Config:
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    # New downloads stay on this computer; only the policy sends old ones to the bucket.
    return build_config(data_dir, graph_url=sim.base_url, graph_version=sim.version, storage="local",
                        s3_bucket=BUCKET, s3_endpoint_url=s3_endpoint, s3_region="us-east-1",
                        retention_action="s3", retention_days=30)


def test_move_to_s3_uploads_once_per_content_and_frees_the_disk(s3_config: Config, sim: CloudSimulator,
                                                                start_engine: Callable[..., MediaDeskEngine]) -> None:
    eng = start_engine(s3_config)
    rows = library(eng, sim)
    age(eng.cfg.db_path, 2, 100)  # both copies of the shared photo are old now
    digests = {r["id"]: file_sha256(path_of(eng, r)) for r in rows}
    plan = eng.retention_preview()
    assert plan.count("s3") == 5 and plan.frees_local_bytes == sum(
        path_of(eng, r).stat().st_size for r in rows if r["id"] != 2)
    report = eng.apply_retention()
    assert (report.moved, report.uploaded, report.removed, report.errors) == (5, 4, 0, ())
    client = boto3.client("s3", endpoint_url=s3_config.s3_endpoint_url, region_name="us-east-1")
    objects = sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert objects == sorted({content_key(d) for d in digests.values()}), "one object per content"
    for r in rows:
        moved = media_row(eng.cfg.db_path, r["id"])
        assert moved["processing_status"] == "completed" and moved["location"] == "amazon"
        assert moved["path"] == content_key(digests[r["id"]]) and moved["metadata"]["moved"]["from"] == r["path"]
        assert not path_of(eng, r).exists()
        # The console reads moved files through the engine, though new files still go to this disk.
        data = eng.storage_for("amazon").read_bytes(moved["path"])
        assert len(data) == r["size"]
    assert eng.storage_for("amazon").read_bytes(media_row(eng.cfg.db_path, 1)["path"]) == PHOTO
    assert not [p for p in (eng.cfg.data_dir / "uploads").rglob("*") if p.is_file()]
    assert not [p for p in (eng.cfg.data_dir / "media-index").rglob("*") if p.is_file()]
    assert eng.retention_preview().media == 0
    usage = eng.storage_usage()
    assert usage.local_bytes == 0 and usage.files == 4 and usage.media == 5
    assert usage.s3_bytes == sum(r["size"] for r in rows if r["id"] != 2)
    checked = verify_media(eng.db, eng.storage_for, requeue=eng.queue.enqueue_many)
    assert checked.ok and checked.media == 5, checked.details()


def test_deleting_from_s3_keeps_an_object_another_media_refers_to(s3_config: Config, sim: CloudSimulator,
                                                                  start_engine) -> None:  # type: ignore[no-untyped-def]
    eng = start_engine(s3_config)
    rows = library(eng, sim)
    age(eng.cfg.db_path, 2, 100)
    assert eng.apply_retention().moved == 5
    keys = {r["id"]: media_row(eng.cfg.db_path, r["id"])["path"] for r in rows}
    age(eng.cfg.db_path, 2, 5)  # the photo's second copy is recent again: it keeps the shared object
    report = eng.apply_retention(DELETE_OLD)
    assert (report.removed, report.errors) == (4, ())
    client = boto3.client("s3", endpoint_url=s3_config.s3_endpoint_url, region_name="us-east-1")
    assert [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]] == [keys[2]]
    assert keys[1] == keys[2] and eng.storage_for("amazon").read_bytes(keys[2]) == PHOTO
    assert [media_row(eng.cfg.db_path, i)["processing_status"] for i in range(1, 6)] == [
        "removed", "completed", "removed", "removed", "removed"]


def test_move_to_s3_when_s3_refuses_stops_and_keeps_the_local_files(s3_config: Config, sim: CloudSimulator,
                                                                    start_engine) -> None:  # type: ignore[no-untyped-def]
    eng = start_engine(s3_config.with_changes(s3_bucket="no-such-bucket"))
    rows = library(eng, sim)
    report = eng.apply_retention()
    assert report.moved == 0 and len(report.errors) == 1 and "no-such-bucket" in report.errors[0]
    for r in rows:
        row = media_row(eng.cfg.db_path, r["id"])
        assert (row["location"], row["path"]) == ("local", r["path"]) and path_of(eng, r).exists()


def test_moving_without_a_bucket_says_so_and_changes_nothing(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    rows = library(engine, sim)
    report = engine.apply_retention(RetentionPolicy((RetentionRule("s3", 30),)))
    assert report.moved == 0 and report.errors == (
        "cannot move to S3: no S3 bucket is set up (save one in Settings first)",)
    assert all(media_row(engine.cfg.db_path, r["id"])["location"] == "local" for r in rows)


def test_usage_by_type_month_and_workspace_counts_shared_files_once(engine: MediaDeskEngine,
                                                                   sim: CloudSimulator) -> None:
    rows = library(engine, sim)
    usage = engine.storage_usage()
    sizes = {r["id"]: path_of(engine, r).stat().st_size for r in rows}
    assert usage.local_bytes == usage.bytes == sizes[1] + sizes[3] + sizes[4] + sizes[5]
    assert {k: v.bytes for k, v in usage.by_type.items()} == {
        "document": sizes[4], "image": sizes[1] + sizes[3], "video": sizes[5]}
    # The recent message's photo is the old one's file: it counts once, in the month of the first row using it.
    old = (utcnow() - timedelta(days=100)).strftime("%Y-%m")
    assert {k: (v.files, v.bytes) for k, v in usage.by_month.items()} == {old: (4, usage.bytes)}
    sim.add_media("NEW", "audio/ogg")
    post_webhook(listener_url(engine), media_message("audio", "NEW", "audio/ogg"))
    settle(engine, 6)
    usage = engine.storage_usage()
    now = utcnow().strftime("%Y-%m")
    assert list(usage.by_month) == sorted({old, now}) and usage.by_month[now].files == 1
    assert usage.by_type["audio"].bytes == usage.by_month[now].bytes > 0
    assert [(v.files, v.bytes) for v in usage.by_workspace.values()] == [(5, usage.bytes)]
    sim.add_media("BRANCH", "video/mp4", sample_bytes("video/mp4", "second-shop"))
    post_webhook(listener_url(engine), media_message("video", "BRANCH", "video/mp4", phone_number_id="777000111",
                                                     display_phone_number="15550007777"))
    settle(engine, 7)
    usage = engine.storage_usage()
    assert len(usage.by_workspace) == 2 and sum(v.bytes for v in usage.by_workspace.values()) == usage.bytes
    branch = next(v for k, v in usage.by_workspace.items() if "7777" in k or "777000111" in k)
    assert (branch.files, branch.bytes) == (1, media_row(engine.cfg.db_path, 7)["size"])
    assert usage.disk_total and 0 < usage.disk_free <= usage.disk_total


def test_a_periodic_run_is_scheduled_at_housekeeping_priority_only_with_a_policy(
        sim_config: Config, start_engine: Callable[..., MediaDeskEngine]) -> None:
    from engine.tasks import HOUSEKEEPING_PRIORITY

    eng = start_engine(sim_config.with_changes(retention_action="delete", retention_days=30), listener=False)
    (task,) = [t for t in eng.queue.huey._registry._periodic_tasks if t.__name__ == "apply_retention"]
    assert task.default_priority == HOUSEKEEPING_PRIORITY
    idle = start_engine(sim_config.with_changes(data_dir=sim_config.data_dir / "other"), listener=False)
    assert not [t for t in idle.queue.huey._registry._periodic_tasks if t.__name__ == "apply_retention"]
    # Set in Settings while running: scheduled from then on, once however often the settings are saved.
    for days in (30, 60):
        idle.reconfigure(idle.cfg.with_changes(retention_action="delete", retention_days=days))
    assert len([t for t in idle.queue.huey._registry._periodic_tasks if t.__name__ == "apply_retention"]) == 1


def test_the_periodic_run_applies_the_policy_in_force(sim_config: Config, sim: CloudSimulator,
                                                      start_engine: Callable[..., MediaDeskEngine]) -> None:
    eng = start_engine(sim_config.with_changes(retention_action="delete", retention_days=30))
    library(eng, sim)
    (task,) = [t for t in eng.queue.huey._registry._periodic_tasks if t.__name__ == "apply_retention"]
    eng.reconfigure(eng.cfg.with_changes(retention_action="keep"))
    task().execute()  # what a worker runs when the scheduler enqueues it, at minute 41 of each hour
    assert [r[0] for r in sql(eng.cfg.db_path, "select processing_status from chat_media")] == ["completed"] * 5
    eng.reconfigure(eng.cfg.with_changes(retention_action="delete", retention_days=30))
    task().execute()
    assert [r[0] for r in sql(eng.cfg.db_path, "select processing_status from chat_media order by id")] == [
        "removed", "completed", "removed", "removed", "removed"]


def test_policy_settings_are_checked(data_dir: Path) -> None:
    cfg = build_config(data_dir, retention_action="DELETE", retention_days="14", retention_types="video, audio")
    assert (cfg.retention_action, cfg.retention_days, cfg.retention_types) == ("delete", 14, ("video", "audio"))
    assert RetentionPolicy.from_config(cfg).describe() == "delete video, audio after 14 days"
    assert RetentionPolicy.from_config(build_config(data_dir)).keeps_everything
    for bad in ({"retention_action": "archive"}, {"retention_days": 0}, {"retention_types": "gif"},
                {"retention_action": "s3"}):
        with pytest.raises(ConfigError):
            build_config(data_dir, **bad)
    with pytest.raises(ConfigError):
        RetentionRule("delete", 30, ("gif",))
    saved = save_settings(cfg)
    again = load_config({"data_dir": data_dir}, environ={}, use_keyring=False)
    assert saved.read_text().count("retention_") == 3
    assert (again.retention_action, again.retention_days, again.retention_types) == ("delete", 14, ("video", "audio"))


def test_cleanup_command_previews_then_applies(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    rows = library(engine, sim)
    data_dir = engine.cfg.data_dir
    engine.stop()
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}

    def cleanup(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(MEDIADESK_BIN), "cleanup", "--data-dir", str(data_dir), *args], env=env,
                              capture_output=True, text=True, timeout=120)

    dry = cleanup("--older-than", "90d", "--delete", "--type", "image", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run, nothing changed" in dry.stdout and "2 to delete" in dry.stdout and "image" in dry.stdout
    assert all(path_of(engine, r).exists() for r in rows)
    keep = cleanup()
    assert keep.returncode == 0 and "keeps everything" in keep.stdout
    bad = cleanup("--older-than", "soon", "--delete")
    assert bad.returncode == 2 and "90d" in bad.stderr and "Traceback" not in bad.stderr
    done = cleanup("--older-than", "90d", "--delete")
    assert done.returncode == 0, done.stderr
    assert "removed 4" in done.stdout
    statuses = [r[0] for r in sql(data_dir / "mediadesk.db", "select processing_status from chat_media order by id")]
    assert statuses == ["removed", "completed", "removed", "removed", "removed"]
    assert [path_of(engine, r).exists() for r in rows] == [False, True, False, False, False]
