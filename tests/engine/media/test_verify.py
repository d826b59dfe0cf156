"""Stored files re-hashed and mended: a real engine, the simulator as Graph, files damaged on a real disk."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import datetime
from pathlib import Path

import boto3
import pytest
from mediadesk_testkit import MEDIADESK_BIN, build_config, listener_url, media_row, post_webhook, sql, wait_until

from engine.errors import ConfigError
from engine.health import run_health_check, stored_file_finding
from engine.media.verify import DAMAGED, REMOVED, scrub, scrub_batch_size, verify_media
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator, media_message, sample_bytes
from engine.tasks import HOUSEKEEPING_PRIORITY

DAY = 24 * 3600


def damage(path: Path) -> None:
    """A few bytes overwritten in place, size and times kept: what a bad sector does."""
    st = os.stat(path)
    with open(path, "r+b") as fh:
        data = fh.read()
        at = len(data) // 2
        fh.seek(at)
        fh.write(bytes(b ^ 0xFF for b in data[at:at + 4]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def receive(eng: MediaDeskEngine, sim: CloudSimulator, media: list[tuple[str, bytes | None]], *,
            age_s: float = 0) -> list[dict]:
    for mid, data in media:
        sim.add_media(mid, "image/jpeg", data)
        post_webhook(listener_url(eng), media_message("image", mid, "image/jpeg", timestamp=int(time.time() - age_s)))
    n = len(sql(eng.cfg.db_path, "select id from chat_media"))

    def done() -> bool:
        return all(r[0] == "completed" for r in sql(eng.cfg.db_path, "select processing_status from chat_media"))

    wait_until(done, timeout=30, what="every media to complete")
    return [media_row(eng.cfg.db_path, i) for i in range(1, n + 1)]


def file_of(eng: MediaDeskEngine, row: dict) -> Path:
    return eng.cfg.data_dir / row["path"]


def whole_again(eng: MediaDeskEngine, sim: CloudSimulator, media_id: int) -> bool:
    row = media_row(eng.cfg.db_path, media_id)
    return (row["processing_status"] == "completed" and file_of(eng, row).read_bytes() ==
            sim.media(row["wa_media_id"]).body)


def test_a_damaged_file_is_found_and_fetched_again_then_verify_is_clean(engine: MediaDeskEngine,
                                                                         sim: CloudSimulator) -> None:
    rows = receive(engine, sim, [("V-1", None), ("V-2", None), ("V-3", None)])
    damage(file_of(engine, rows[1]))
    report = verify_media(engine.db, engine.storage_for, requeue=engine.queue.enqueue_many)
    assert (report.damaged, report.removed, report.files, report.media) == (1, 0, 3, 3)
    assert report.problems[0].media_id == rows[1]["id"] and report.problems[0].refetching
    assert report.summary().startswith("checked 3 files (3 media): 1 damaged, 0 removed")
    assert DAMAGED in report.details()[0]
    wait_until(lambda: whole_again(engine, sim, rows[1]["id"]), timeout=20, what="the damaged file to be fetched again")
    assert sim.downloads_completed["V-2"] == 2 and sim.downloads_completed["V-1"] == 1
    assert media_row(engine.cfg.db_path, rows[1]["id"])["metadata"]["refetch"]["reason"] == "damaged"
    again = verify_media(engine.db, engine.storage_for, requeue=engine.queue.enqueue_many)
    assert again.ok and again.summary().startswith("checked 3 files (3 media): 0 damaged, 0 removed")


def test_a_removed_file_is_fetched_again(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    (row,) = receive(engine, sim, [("V-GONE", None)])
    file_of(engine, row).unlink()
    report = verify_media(engine.db, engine.storage_for, requeue=engine.queue.enqueue_many)
    assert (report.damaged, report.removed) == (0, 1) and REMOVED in report.details()[0]
    wait_until(lambda: whole_again(engine, sim, row["id"]), timeout=20, what="the removed file to come back")


def test_past_metas_7_days_a_damaged_file_fails_with_the_reason_and_health_counts_it(
        engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    (row,) = receive(engine, sim, [("V-OLD", None)], age_s=8 * DAY)
    good = file_of(engine, row).read_bytes()
    damage(file_of(engine, row))
    assert stored_file_finding(engine.db).value == 0
    report = verify_media(engine.db, engine.storage_for, requeue=engine.queue.enqueue_many)
    assert report.damaged == 1 and not report.problems[0].refetching
    after = media_row(engine.cfg.db_path, row["id"])
    assert after["processing_status"] == "failed"
    assert after["metadata"]["error"].startswith(DAMAGED) and after["metadata"]["reason"] == "file_damaged"
    time.sleep(0.5)
    assert sim.downloads_completed["V-OLD"] == 1, "WhatsApp no longer has it: nothing to fetch"
    finding = stored_file_finding(engine.db)
    assert (finding.ok, finding.value) == (False, 1)
    health = run_health_check(engine.db, engine.storage_for)
    assert not health.ok and any(f.name == finding.name and f.value == 1 for f in health.findings)

    # Without --all a failed media is not looked at again; with it, a file put back whole completes it.
    assert verify_media(engine.db, engine.storage_for, requeue=engine.queue.enqueue_many).media == 0
    still = verify_media(engine.db, engine.storage_for, requeue=engine.queue.enqueue_many, everything=True)
    assert still.damaged == 1 and media_row(engine.cfg.db_path, row["id"])["processing_status"] == "failed"
    file_of(engine, row).write_bytes(good)  # from the owner's own backup
    back = verify_media(engine.db, engine.storage_for, requeue=engine.queue.enqueue_many, everything=True)
    assert back.ok and back.restored == (row["id"],)
    assert media_row(engine.cfg.db_path, row["id"])["processing_status"] == "completed"
    assert stored_file_finding(engine.db).ok


def test_a_shared_file_is_hashed_once_and_mended_for_every_row(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    photo = sample_bytes("image/jpeg", "shared")
    a, b = receive(engine, sim, [("V-A", photo), ("V-B", photo)])
    assert os.stat(file_of(engine, a)).st_ino == os.stat(file_of(engine, b)).st_ino
    damage(file_of(engine, a))
    report = verify_media(engine.db, engine.storage_for, requeue=engine.queue.enqueue_many)
    assert (report.files, report.media, report.damaged) == (1, 2, 2)
    wait_until(lambda: whole_again(engine, sim, a["id"]) and whole_again(engine, sim, b["id"]), timeout=20,
               what="both rows of the shared file to be whole")
    assert verify_media(engine.db, engine.storage_for, requeue=engine.queue.enqueue_many).ok


def test_scrub_batches_cover_every_file_and_wrap_round(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    rows = receive(engine, sim, [(f"S-{i}", None) for i in range(5)])
    damage(file_of(engine, rows[4]))
    found: list[int] = []
    for _ in range(3):  # 2 files per run (the bound): the third takes the last file, then wraps to the first
        report = scrub(engine.db, engine.storage_for, requeue=engine.queue.enqueue_many, every_min=60,
                       period_days=1 / 24, max_files=2)
        assert report.media == 2
        found += [p.media_id for p in report.problems]
    assert found == [rows[4]["id"]]
    assert sql(engine.cfg.db_path, "select value from settings where key = 'library.scrub_cursor'")[0][0] == \
        str(rows[0]["id"])
    wait_until(lambda: whole_again(engine, sim, rows[4]["id"]), timeout=20, what="the scrub's find to be mended")


def test_scrub_batch_size_spreads_all_files_over_the_period_within_the_bound() -> None:
    assert scrub_batch_size(0, every_min=60, period_days=7, max_files=500) == 1
    assert scrub_batch_size(10_000, every_min=60, period_days=7, max_files=500) == 60  # 168 runs a week
    assert scrub_batch_size(1_000_000, every_min=60, period_days=7, max_files=500) == 500
    assert scrub_batch_size(5, every_min=60, period_days=1 / 24, max_files=500) == 5


def test_the_scrub_is_a_housekeeping_periodic_task(sim_config, start_engine) -> None:  # type: ignore[no-untyped-def]
    eng = start_engine(sim_config.with_changes(scrub_every_min=30), listener=False, workers=False)
    (task,) = [t for t in eng.queue.huey._registry._periodic_tasks if t.__name__ == "scrub_media"]
    assert task.default_priority == HOUSEKEEPING_PRIORITY
    validate = task().validate_datetime
    assert validate(datetime(2026, 12, 1, 9, 30)) and not validate(datetime(2026, 12, 1, 9, 31))
    idle = start_engine(sim_config, listener=False, workers=False)  # scrub_every_min=0 in tests
    assert not [t for t in idle.queue.huey._registry._periodic_tasks if t.__name__ == "scrub_media"]


def test_mediadesk_verify_prints_the_count_and_the_running_engine_mends(engine: MediaDeskEngine,
                                                                        sim: CloudSimulator) -> None:
    rows = receive(engine, sim, [("C-1", None), ("C-2", None)])
    damage(file_of(engine, rows[0]))

    def verify(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(MEDIADESK_BIN), "verify", "--data-dir", str(engine.cfg.data_dir), *extra],
                              capture_output=True, text=True, timeout=60, env=dict(os.environ))

    first = verify()
    assert first.returncode == 1, first.stderr
    assert first.stdout.strip().splitlines()[-1].startswith("checked 2 files (2 media): 1 damaged, 0 removed")
    # the command only queued the download: the engine that serves the queue fetches it
    wait_until(lambda: whole_again(engine, sim, rows[0]["id"]), timeout=20, what="the serving engine to mend it")
    second = verify("--all")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "0 damaged" in second.stdout


@pytest.mark.parametrize("bad", [7, -1, 61])
def test_a_scrub_interval_that_does_not_divide_an_hour_is_refused(sim_config, bad: int) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="scrub interval"):
        sim_config.with_changes(scrub_every_min=bad)


def test_stored_files_are_untouched_by_a_clean_verify(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    (row,) = receive(engine, sim, [("T-1", None)])
    before = os.stat(file_of(engine, row))
    assert verify_media(engine.db, engine.storage_for, requeue=engine.queue.enqueue_many).ok
    after = os.stat(file_of(engine, row))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert media_row(engine.cfg.db_path, row["id"])["processing_status"] == "completed"


def test_s3_object_replaced_with_other_bytes_is_found_and_uploaded_again(
        s3_endpoint: str, sim: CloudSimulator, data_dir: Path, start_engine) -> None:  # type: ignore[no-untyped-def]
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="verify")
    cfg = build_config(data_dir, graph_url=sim.base_url, storage="s3", s3_bucket="verify",
                       s3_endpoint_url=s3_endpoint, s3_region="us-east-1")
    eng = start_engine(cfg)
    (row,) = receive(eng, sim, [("S3-V", None)])
    body = sim.media("S3-V").body
    client.put_object(Bucket="verify", Key=row["path"], Body=b"\0" * len(body))
    report = verify_media(eng.db, eng.storage_for, requeue=eng.queue.enqueue_many)
    assert (report.damaged, report.files) == (1, 1) and report.problems[0].refetching

    def mended() -> bool:
        r = media_row(cfg.db_path, row["id"])
        return r["processing_status"] == "completed" and client.get_object(
            Bucket="verify", Key=r["path"])["Body"].read() == body

    wait_until(mended, timeout=20, what="the S3 object to be uploaded again")
    client.delete_object(Bucket="verify", Key=row["path"])
    gone = verify_media(eng.db, eng.storage_for, requeue=eng.queue.enqueue_many)
    assert gone.removed == 1
    wait_until(mended, timeout=20, what="the removed S3 object to come back")
    assert verify_media(eng.db, eng.storage_for, requeue=eng.queue.enqueue_many).ok


def test_without_a_queue_verify_only_reports(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    (row,) = receive(engine, sim, [("R-1", None)])
    damage(file_of(engine, row))
    report = verify_media(engine.db, engine.storage_for, requeue=None)
    assert report.damaged == 1 and report.problems[0].refetching is None and "left as it is" in report.details()[0]
    assert media_row(engine.cfg.db_path, row["id"])["processing_status"] == "completed"


def test_verify_works_a_page_at_a_time_and_reads_a_shared_file_once(engine: MediaDeskEngine, sim: CloudSimulator,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.media.verify as verify

    photo = sample_bytes("image/jpeg", "paged")
    rows = receive(engine, sim, [("P-1", photo), ("P-2", None), ("P-3", photo), ("P-4", None), ("P-5", None)])
    damage(file_of(engine, rows[3]))
    monkeypatch.setattr(verify, "PAGE", 2)  # P-1 and P-3, one file, land on different pages
    report = verify_media(engine.db, engine.storage_for, requeue=engine.queue.enqueue_many)
    assert (report.media, report.files, report.damaged) == (5, 4, 1)
    assert [p.media_id for p in report.problems] == [rows[3]["id"]]
