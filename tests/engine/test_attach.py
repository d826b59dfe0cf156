"""A console attached to a shared backend (SPEC 11), as two engines on one backend: one receives and downloads
(a `mediadesk serve` elsewhere), the other is attached (no listener, no workers, a data folder of its own).

On an SQLite file shared by both, and on a real PostgreSQL (`both_backends`); nothing is faked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from mediadesk_testkit import media_row, sql, wait_until

from engine.attach import BackendChoice, check_backend, describe_backend, save_backend
from engine.config import Config, load_config, url_password, url_with_password
from engine.errors import DatabaseError
from engine.events import Event, MediaStatusChanged, MessagesStored
from engine.runtime import MediaDeskEngine
from engine.shared_pause import read_paused
from engine.simulator import CloudSimulator, media_message, text_message

pytestmark = pytest.mark.both_backends


def attached_config(home: Config, data_dir: Path) -> Config:
    """The attached console's settings: the other's database (its SQLite file, or the server), its own folder."""
    url = home.database_url or f"sqlite:///{home.db_path}"
    return home.with_changes(data_dir=data_dir, database_url=url, attached=True)


@pytest.fixture
def pair(sim_config: Config, tmp_path: Path,
         start_engine: Callable[..., MediaDeskEngine]) -> tuple[MediaDeskEngine, MediaDeskEngine]:
    home = start_engine(sim_config, listener=False)  # downloads; ingests through `ingest` as a listener would
    console = MediaDeskEngine(attached_config(sim_config, tmp_path / "console"))
    console.open(migrate=False)
    console.attach()
    yield home, console
    console.stop()


class Recorder:
    def __init__(self, eng: MediaDeskEngine) -> None:
        self.events: list[tuple[float, Event]] = []
        self._lock = threading.Lock()
        eng.events.subscribe(self._on)

    def _on(self, event: Event) -> None:
        with self._lock:
            self.events.append((time.monotonic(), event))

    def first(self, kind: type, **match: object) -> tuple[float, Event] | None:
        with self._lock:
            return next(((t, e) for t, e in self.events if isinstance(e, kind)
                         and all(getattr(e, k) == v for k, v in match.items())), None)


def status(cfg: Config, media_id: int) -> str:
    return media_row(cfg, media_id)["processing_status"]


def test_an_attached_engine_runs_no_listener_and_no_workers(pair) -> None:
    home, console = pair
    assert console.listener is None and console.queue.workers_alive() == 0
    assert console.attachment is not None
    assert "files on this computer" in describe_backend(console.cfg)


def test_the_attached_engine_sees_the_others_completions_within_a_second(pair, sim: CloudSimulator) -> None:
    home, console = pair
    seen = Recorder(console)
    sim.add_media("AT-1", "image/jpeg")
    (result,) = home.ingest([media_message("image", "AT-1", "image/jpeg")])
    (mid,) = result.media_ids
    wait_until(lambda: status(home.cfg, mid) == "completed", what="the other engine to download it")
    done_at = time.monotonic()
    at, event = wait_until(lambda: seen.first(MediaStatusChanged, media_id=mid, status="completed"), timeout=5,
                           what="the completion to reach the attached engine")
    assert at - done_at < 1.0
    # And messages stored elsewhere are news here too (the chat list reloads on them).
    home.ingest([text_message("stored by the other one", wamid="wamid.AT-TEXT")])
    wait_until(lambda: seen.first(MessagesStored), timeout=2, what="new messages to reach the attached engine")


def test_pause_in_one_stops_the_others_workers(pair, sim: CloudSimulator) -> None:
    home, console = pair
    console.pause_workers()
    assert console.workers_paused and read_paused(console.db)
    wait_until(lambda: home.queue.held, timeout=1.5, what="the pause to reach the other engine's workers")
    assert home.workers_paused
    sim.add_media("AT-P", "image/jpeg")
    (result,) = home.ingest([media_message("image", "AT-P", "image/jpeg")])
    (mid,) = result.media_ids
    # A negative needs a window: a second in which a running worker would have finished it.
    time.sleep(1.0)
    assert status(home.cfg, mid) == "pending" and sim.metadata_calls["AT-P"] == 0
    home.resume_workers()  # either side resumes every process
    wait_until(lambda: not console.workers_paused, timeout=1.5, what="the attached engine to see the resume")
    wait_until(lambda: status(home.cfg, mid) == "completed", what="the download after the resume")


def test_a_retry_from_the_attached_engine_is_downloaded_by_the_other(pair, sim: CloudSimulator) -> None:
    home, console = pair
    (result,) = home.ingest([media_message("image", "AT-R", "image/jpeg")])  # not on Graph yet: 404, failed
    (mid,) = result.media_ids
    wait_until(lambda: status(home.cfg, mid) == "failed", what="the media to fail")
    sim.add_media("AT-R", "image/jpeg")
    assert console.retry_media([mid]) == 1
    wait_until(lambda: status(home.cfg, mid) == "completed", what="the other engine to download the retry")


def test_flush_from_the_attached_engine_empties_the_shared_queue(pair, sim: CloudSimulator) -> None:
    home, console = pair
    console.pause_workers()
    wait_until(lambda: home.queue.held, timeout=1.5, what="the pause to reach the other engine")
    ids = [home.ingest([media_message("image", f"AT-F{i}", "image/jpeg")])[0].media_ids[0] for i in range(3)]
    assert console.queue_length() == 3
    assert console.flush_queue() == 3
    assert home.queue_length() == 0
    assert {status(home.cfg, m) for m in ids} == {"pending"}
    for i in range(3):
        sim.add_media(f"AT-F{i}", "image/jpeg")
    console.resume_workers()
    assert console.retry_failed() == 3
    for m in ids:
        wait_until(lambda m=m: status(home.cfg, m) == "completed", what=f"media {m} after Retry all")


def test_check_backend_says_what_works_and_what_is_wrong(sim_config: Config, tmp_path: Path,
                                                         database: object) -> None:
    cfg = attached_config(sim_config, tmp_path / "console")
    said = check_backend(cfg)
    assert said.startswith("connected:") and "queue in the database" in said
    if sim_config.database_url:
        bad = cfg.with_changes(database_url=sim_config.database_url.rsplit(":", 1)[0] + ":1/nothing")
        expected = "connection refused"
    else:
        bad = cfg.with_changes(database_url=f"sqlite:///{tmp_path}/elsewhere/mediadesk.db")
        expected = "there is no database"
    with pytest.raises(DatabaseError, match=expected) as err:
        check_backend(bad)
    assert "\n" not in str(err.value)


def test_an_empty_database_is_named_as_such(sim_config: Config, tmp_path: Path) -> None:
    cfg = attached_config(sim_config, tmp_path / "console")
    if not sim_config.database_url:
        sim_config.data_dir.mkdir(parents=True)
        sql(sim_config, "create table placeholder (x)")  # a file exists, without MediaDesk's tables
    with pytest.raises(DatabaseError, match="mediadesk migrate"):
        check_backend(cfg)


def test_saved_backend_keeps_passwords_out_of_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")  # the 0600 file, not a keyring
    data = tmp_path / "console"
    base = load_config({"data_dir": data}, environ={}, use_keyring=False)
    choice = BackendChoice(attached=True, database_url="postgresql://md:s3cr%40t@db.example:5433/media",
                           redis_url="redis://:rpass@cache.example:6380/0")
    cfg = choice.apply(base).with_changes(s3_access_key_id="AKIA-TEST", s3_secret_access_key="sk-test")
    save_backend(cfg)
    text = (data / "mediadesk.toml").read_text()
    assert "s3cr" not in text and "rpass" not in text and "sk-test" not in text
    assert 'database_url = "postgresql://md@db.example:5433/media"' in text and "attached = true" in text
    again = load_config(environ={"MEDIADESK_DATA_DIR": str(data)})
    assert again.attached and again.database_url == "postgresql://md:s3cr%40t@db.example:5433/media"
    assert again.redis_url == "redis://:rpass@cache.example:6380/0"
    assert again.s3_secret_access_key == "sk-test"
    assert (data / "secrets.json").stat().st_mode & 0o077 == 0
    # Back to this computer: its own SQLite database and queue again, the shared URLs gone from the file.
    home = BackendChoice(attached=False).apply(again)
    assert not home.attached and home.database_url is None and home.redis_url is None
    save_backend(home)
    text = (data / "mediadesk.toml").read_text()
    assert "database_url" not in text and "redis_url" not in text and "attached" not in text
    # A database URL set by hand for `mediadesk serve` is not a shared backend's: choosing this computer keeps it.
    served = base.with_changes(database_url="postgresql://md:pw@db.example/media")
    assert BackendChoice(attached=False).apply(served).database_url == "postgresql://md:pw@db.example/media"


def test_url_passwords_split_and_join() -> None:
    assert url_password("postgresql://u:p%2Fw@h:5432/d") == ("postgresql://u@h:5432/d", "p/w")
    assert url_password("sqlite:///x.db") == ("sqlite:///x.db", None)
    assert url_with_password("postgresql://u@h/d", "p/w") == "postgresql://u:p%2Fw@h/d"
    assert url_with_password("postgresql://u:keep@h/d", "other") == "postgresql://u:keep@h/d"
