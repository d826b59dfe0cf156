"""Several processes on one backend (SPEC 11): the queue follows the database, webhooks are stored once
whichever listener gets them, one process holds the periodic lease, status events reach other processes,
every listener serves /metrics, and a database that is not there is one clear line from every command.

On SQLite and on a real PostgreSQL (`both_backends`); nothing is faked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from huey import PostgresHuey, PriorityRedisHuey, SqliteHuey
from mediadesk_testkit import MEDIADESK_BIN, listener_url, post_webhook, sql, wait_until

from engine.config import Config, load_config
from engine.db.backend import PostgresBackend, SqliteBackend, backend_for, normalise_url
from engine.db.migrate import migrate
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator, media_message, text_message
from engine.tasks import HOUSEKEEPING_PRIORITY, MEDIA_PRIORITY, TaskQueue, make_huey

pytestmark = pytest.mark.both_backends


def test_the_url_picks_the_backend_and_the_queue(config: Config) -> None:
    backend = backend_for(config.sqlalchemy_url)
    huey = make_huey(config)
    if config.database_url:
        assert isinstance(backend, PostgresBackend) and isinstance(huey, PostgresHuey)
        assert backend.sqlalchemy_url.startswith("postgresql+psycopg://")
    else:
        assert isinstance(backend, SqliteBackend) and isinstance(huey, SqliteHuey)
    # Redis, when set, is the queue whatever the database; an empty value counts as none.
    with_redis = config.with_changes(redis_url="redis://127.0.0.1:9/0")
    assert isinstance(make_huey(with_redis), PriorityRedisHuey)
    env = {"MEDIADESK_REDIS_URL": "", "MEDIADESK_DATA_DIR": str(config.data_dir)}
    assert load_config(environ=env, use_keyring=False).redis_url is None


def test_plain_postgresql_urls_mean_psycopg_3() -> None:
    assert normalise_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_url("postgres://h/db") == "postgresql+psycopg://h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_processes_starting_together_migrate_and_create_the_queue_once(config: Config) -> None:
    errors: list[BaseException] = []
    results = []

    def start() -> None:  # what each of several `serve`/`worker` processes does first, on an empty database
        try:
            results.append(migrate(config))
            make_huey(config)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.changed for r in results) == 1  # one migrated, the others found it at head


def test_downloads_go_ahead_of_housekeeping(config: Config) -> None:
    huey = make_huey(config)
    huey.flush()

    @huey.task(priority=HOUSEKEEPING_PRIORITY, name="housekeeping")
    def housekeeping() -> None: ...

    @huey.task(priority=MEDIA_PRIORITY, name="download")
    def download() -> None: ...

    housekeeping()
    download()
    assert [huey.dequeue().name for _ in range(2)] == ["download", "housekeeping"]


def test_exactly_one_process_holds_the_periodic_lease(config: Config) -> None:
    migrate(config)
    backend = backend_for(config.sqlalchemy_url)
    # A lease per process in real life; two objects stand for two holders (a file lock and an advisory lock
    # are both per open file / per session, not per process).
    first, second = backend.lease("periodic-test"), backend.lease("periodic-test")
    try:
        assert first.held()
        assert not second.held()
        assert first.held()  # the holder keeps it
        first.release()
        assert second.held()
        assert not first.held()
    finally:
        first.release()
        second.release()


def test_two_listeners_store_a_redelivered_webhook_once(config: Config,
                                                        start_engine: Callable[..., MediaDeskEngine]) -> None:
    a = start_engine(config, workers=False)
    # A server database is shared by listeners with data dirs of their own; an SQLite file by processes on
    # one machine, in one data dir.
    b = start_engine(config.with_changes(data_dir=config.data_dir.parent / "b") if config.database_url else config,
                     workers=False)
    bodies = [text_message(f"hello {i}", wamid=f"wamid.TWO-{i}", wa_id=f"1555000{i % 3}") for i in range(40)]
    bodies += [media_message("image", f"TWO-IMG-{i}", "image/jpeg", wamid=f"wamid.TWO-M{i}") for i in range(10)]
    statuses: list[int] = []
    lock = threading.Lock()

    def send(base: str) -> None:
        for body in bodies:
            code = post_webhook(base, body).status_code
            with lock:
                statuses.append(code)

    threads = [threading.Thread(target=send, args=(listener_url(e),)) for e in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * (2 * len(bodies))
    assert sql(config, "select count(*), count(distinct wamid) from chats")[0][:] == (50, 50)
    assert sql(config, "select count(*) from chat_media")[0][0] == 10
    # And in-process: a second delivery counts as duplicates, not as new messages.
    (again,) = a.ingest([bodies[0]])
    assert (again.messages, again.duplicates) == (0, 1)
    (again,) = b.ingest([bodies[-1]])
    assert (again.messages, again.duplicates, again.media_ids) == (0, 1, [])


def test_metrics_speak_prometheus(config: Config, start_engine: Callable[..., MediaDeskEngine]) -> None:
    eng = start_engine(config, workers=False)
    base = listener_url(eng)
    assert post_webhook(base, text_message("counted")).status_code == 200
    assert post_webhook(base, media_message("image", "MET-1", "image/jpeg")).status_code == 200
    assert post_webhook(base, text_message("unsigned"), secret=None).status_code == 401
    r = requests.get(f"{base}/metrics", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    assert samples["mediadesk_webhooks_received_total"] == 3
    assert samples['mediadesk_webhooks_refused_total{reason="signature_missing"}'] == 1
    assert samples['mediadesk_media{status="pending"}'] == 1
    assert samples["mediadesk_queue_length"] == 1
    assert samples["mediadesk_workers_alive"] == 0
    assert samples["mediadesk_process_workers_alive"] == 0
    assert samples["mediadesk_database_up"] == 1
    assert samples['mediadesk_download_duration_seconds_bucket{le="+Inf"}'] == 0


# -- other processes ------------------------------------------------------------------------------------------
def _env(cfg: Config) -> dict[str, str]:
    env = {**os.environ, "MEDIADESK_DATA_DIR": str(cfg.data_dir), "PYTHON_KEYRING_BACKEND":
           "keyring.backends.null.Keyring"}
    if cfg.database_url:
        env["MEDIADESK_DATABASE_URL"] = cfg.database_url
    return env


@pytest.fixture
def events_reader(tmp_path: Path) -> Iterator[Callable[[Config], tuple[subprocess.Popen[bytes], Path]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(cfg: Config) -> tuple[subprocess.Popen[bytes], Path]:
        out = tmp_path / f"events-{len(started)}.jsonl"
        with open(out, "wb") as fh:
            proc = subprocess.Popen([str(MEDIADESK_BIN), "events", "--json", "--data-dir", str(cfg.data_dir)],
                                    env=_env(cfg), stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        started.append(proc)
        return proc, out

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip().startswith("{")]


def test_status_changes_reach_mediadesk_events_in_another_process(
        sim_config: Config, sim: CloudSimulator, start_engine: Callable[..., MediaDeskEngine],
        events_reader: Callable[[Config], tuple[subprocess.Popen[bytes], Path]]) -> None:
    migrate(sim_config)
    reader, out = events_reader(sim_config)
    # What happens before the reader hears changes is not promised: it says on stderr when it does.
    wait_until(lambda: "Listening for media status changes" in out.read_text() or reader.poll() is not None,
               timeout=30, what="the reader to listen")
    assert reader.poll() is None, out.read_text()
    eng = start_engine(sim_config)
    sim.add_media("EV-1", "image/jpeg")
    (result,) = eng.ingest([media_message("image", "EV-1", "image/jpeg")])
    (media_id,) = result.media_ids
    wait_until(lambda: sql(sim_config, "select processing_status from chat_media")[0][0] == "completed",
               what="the download to complete")
    done_at = time.monotonic()
    line = wait_until(lambda: next((e for e in _lines(out) if e["status"] == "completed"), None), timeout=5,
                      what="a completed line from `mediadesk events`")
    assert time.monotonic() - done_at < 1.0
    assert line["media_id"] == media_id and line["wa_media_id"] == "EV-1"
    assert {"reason", "error"} <= set(line)
    reader.send_signal(signal.SIGTERM)
    assert reader.wait(10) == 0


def test_a_database_that_is_not_there_is_one_clear_line(tmp_path: Path, database_url: str | None) -> None:
    if database_url:
        url = database_url.rsplit(":", 1)[0] + ":1/nothing"  # nobody listens on port 1
    else:
        url = f"sqlite:///{tmp_path}/no/such/dir/mediadesk.db"
    env = {**os.environ, "MEDIADESK_DATABASE_URL": url, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    for args in (["migrate"], ["stats"], ["health"], ["backup"], ["events"], ["worker"], ["serve", "--port", "0"]):
        r = subprocess.run([str(MEDIADESK_BIN), *args, "--data-dir", str(tmp_path / "data")], env=env,
                           capture_output=True, text=True, timeout=60)
        errors = [x for x in r.stderr.splitlines() if x.startswith("mediadesk: ")]
        assert r.returncode != 0 and "Traceback" not in r.stderr and len(errors) == 1, (args, r.stderr)


def test_backup_and_restore_round_trip(config: Config, tmp_path: Path) -> None:
    migrate(config)
    backend = backend_for(config.sqlalchemy_url)
    eng = MediaDeskEngine(config)
    eng.open()
    try:
        eng.ingest([text_message("kept", wamid="wamid.KEPT")])
        backup = eng.backup()
        eng.ingest([text_message("after the backup", wamid="wamid.LATER")])
        assert backup in backend.list_backups(config.backups_dir)
        safety = eng.restore(backup)
        assert safety is not None and safety.exists()
        assert [r[0] for r in sql(config, "select wamid from chats")] == ["wamid.KEPT"]
        # The engine goes on writing after the restore.
        (r,) = eng.ingest([text_message("after the restore", wamid="wamid.AFTER")])
        assert r.messages == 1
    finally:
        eng.stop()


def test_only_the_lease_holder_schedules_the_periodic_health_check(config: Config) -> None:
    migrate(config)
    calls: list[str] = []
    cfg = config.with_changes(health_every_min=1)  # due every minute: each scheduler's first pass finds it due
    queues = [TaskQueue(cfg, download=lambda mid: None, health_check=lambda name=name: calls.append(name))
              for name in ("first", "second")]
    queues[0].huey.flush()
    try:
        for q in queues:
            q.start_consumer(workers=1)
        wait_until(lambda: calls, timeout=10, what="the periodic health check to run once")
        time.sleep(2.5)  # both schedulers have passed their first periodic check by now
        assert len(calls) == 1
        assert queues[0].periodic_lease.held() != queues[1].periodic_lease.held()
    finally:
        for q in queues:
            q.stop_consumer(timeout=5)
            q.close()


def test_a_refused_password_is_one_clear_line(tmp_path: Path, postgres_server) -> None:
    postgres_server.add_password_user("pw_user", "right")
    url = postgres_server.url("postgres", user="pw_user:wrong")
    env = {**os.environ, "MEDIADESK_DATABASE_URL": url, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    for args in (["migrate"], ["stats"], ["events"]):
        r = subprocess.run([str(MEDIADESK_BIN), *args, "--data-dir", str(tmp_path / "data")], env=env,
                           capture_output=True, text=True, timeout=60)
        errors = [x for x in r.stderr.splitlines() if x.startswith("mediadesk: ")]
        assert r.returncode == 2 and "Traceback" not in r.stderr and len(errors) == 1, (args, r.stderr)
        assert "refused the password for user 'pw_user'" in errors[0] and "wrong" not in errors[0]


def test_metrics_count_the_workers_of_every_process_on_the_queue(
        config: Config, start_engine: Callable[..., MediaDeskEngine]) -> None:
    listener = start_engine(config, workers=False)
    worker = TaskQueue(config, download=lambda mid: None)  # a `mediadesk worker` elsewhere: no HTTP port of its own
    worker.start_consumer(workers=3)
    try:
        def sample(name: str) -> float | None:
            text = requests.get(f"{listener_url(listener)}/metrics", timeout=10).text
            return next((float(x.split()[-1]) for x in text.splitlines() if x.startswith(name + " ")), None)

        wait_until(lambda: sample("mediadesk_workers_alive") == 3, timeout=10, what="the worker's heartbeat")
        assert sample("mediadesk_process_workers_alive") == 0
    finally:
        worker.stop_consumer(timeout=5)
        worker.close()
    wait_until(lambda: sample("mediadesk_workers_alive") == 0, timeout=5, what="a stopped worker to leave the count")


def test_a_process_joining_a_shared_queue_leaves_the_others_tasks_in_it(
        config: Config, start_engine: Callable[..., MediaDeskEngine]) -> None:
    migrate(config)
    worker = TaskQueue(config, download=lambda mid: None)  # a live `mediadesk worker` elsewhere, paused
    worker.huey.flush()
    worker.start_consumer(workers=1)
    worker.hold(True)
    try:
        wait_until(lambda: worker.workers_alive_everywhere() == 1, timeout=10, what="the worker's heartbeat")
        worker.enqueue_many([424242])  # its task (a thumbnail, a retry: whatever it queued) waits in the queue
        assert worker.pending_count() == 1
        start_engine(config, workers=False)  # a listener joins: its start reconciles
        assert worker.pending_count() == 1  # the live worker's task is still there
    finally:
        worker.stop_consumer(timeout=5)
        worker.close()


def test_a_process_alone_on_its_queue_empties_it_at_start(config: Config,
                                                          start_engine: Callable[..., MediaDeskEngine]) -> None:
    migrate(config)
    left = TaskQueue(config, download=lambda mid: None)  # what a process that is gone left queued
    left.huey.flush()
    left.enqueue_many([424242])
    assert left.pending_count() == 1
    left.close()
    eng = start_engine(config, workers=False)
    assert eng.queue.pending_count() == 0  # the rows are the truth: nothing of the dead process's is run twice
