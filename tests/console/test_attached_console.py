"""A console attached to a shared backend, as a user would see it: another engine (a `mediadesk serve` elsewhere)
receives and downloads into S3; the attached console's bubble turns shown within about a second, its photo
fetched from S3 into the console's own data folder, and the status bar says what it is attached to.

Real parts throughout: one SQLite file shared by both engines, the simulator, S3 as a moto server on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from console_helpers import media_status, send_media

from console.bridge import EngineBridge
from console.bubble_layout import MessageRole
from console.main_window import MainWindow
from engine import Config, MediaDeskEngine
from engine.simulator import CloudSimulator

BUCKET = "shared-media"


@pytest.fixture
def s3_url(s3_endpoint: str) -> str:
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    return s3_endpoint


@pytest.fixture
def home(cfg: Config, s3_url: str) -> Iterator[MediaDeskEngine]:
    eng = MediaDeskEngine(cfg.with_changes(storage="s3", s3_bucket=BUCKET, s3_region="us-east-1",
                                           s3_endpoint_url=s3_url))
    eng.open()
    eng.start()
    yield eng
    eng.stop()


@pytest.fixture
def attached(home: MediaDeskEngine, tmp_path: Any) -> Iterator[MediaDeskEngine]:
    eng = MediaDeskEngine(home.cfg.with_changes(data_dir=tmp_path / "console", attached=True,
                                                database_url=f"sqlite:///{home.cfg.db_path}"))
    eng.open(migrate=False)
    eng.attach()
    yield eng
    eng.stop()


@pytest.fixture
def attached_window(qtbot: Any, attached: MediaDeskEngine) -> Iterator[MainWindow]:
    bridge = EngineBridge()
    bridge.attach(attached.events)
    win = MainWindow(attached, bridge, attached.cfg)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.chats.loaded, timeout=10_000):
        win.engine_ready()
    yield win
    bridge.detach()
    win.close()


def test_a_bubble_turns_shown_when_another_engine_completes_it(qtbot: Any, attached_window: MainWindow,
                                                                home: MediaDeskEngine, attached: MediaDeskEngine,
                                                                sim: CloudSimulator) -> None:
    window = attached_window
    assert attached.listener is None and attached.queue.workers_alive() == 0
    home.pause_workers()  # paused elsewhere: this console's Queue menu says so
    qtbot.waitUntil(lambda: attached.queue.held, timeout=2000)
    qtbot.waitUntil(lambda: (window.status.refresh(), window.pause_action.isChecked())[1], timeout=5000)
    assert window.pause_action.text() == "Resume workers" and window.status.workers.text() == "Workers: paused"
    send_media(home, sim, "777", "Gina", "9700", caption="shared")
    # Stored by the other engine: the chat appears here without a reload by hand.
    qtbot.waitUntil(lambda: window.chats.rowCount() == 1, timeout=5000)
    with qtbot.waitSignal(window.chat_opened, timeout=5000):
        assert window.select_chat(window.chats.summary(0).contact_id)
    assert window.messages.index(0).data(MessageRole).media.status == "pending"

    with qtbot.waitSignal(window.maintenance.finished, timeout=5000):
        window.maintenance.set_paused(False)  # Queue > Resume here lets the other engine's workers go
    qtbot.waitUntil(lambda: not home.queue.held, timeout=2000)
    qtbot.waitUntil(lambda: media_status(home, "9700") == "completed", timeout=15_000)
    done_at = time.monotonic()
    qtbot.waitUntil(lambda: window.messages.index(0).data(MessageRole).media.status == "completed", timeout=5000)
    assert time.monotonic() - done_at < 1.5  # "within about a second" (polling here is 20 ms of it)
    msg = window.messages.index(0).data(MessageRole)
    assert msg.media.location == "amazon"
    # The other engine's thumbnail lands in S3 just after the completion; once it is recorded the bubble
    # shows it, fetched whole into this console's cache, instead of decoding the original photo.
    qtbot.waitUntil(lambda: home.library.media([msg.media.id])[msg.media.id].thumbnail is not None, timeout=10_000)
    thumb_key = home.library.media([msg.media.id])[msg.media.id].thumbnail
    thumb_bytes = home.storage_for("amazon").read_bytes(thumb_key)
    qtbot.waitUntil(lambda: window.thumbnails.get(msg.media.id, msg.media.path, msg.media.location) is not None,
                    timeout=10_000)
    cached = {p.read_bytes() for p in (attached.cfg.data_dir / "cache").iterdir()}
    original = home.storage_for("amazon").read_bytes(msg.media.path)
    assert cached and cached <= {thumb_bytes, original}  # whole copies only, never a part

    window.status.refresh()
    qtbot.waitUntil(lambda: window.status.listener.text().startswith("Attached to SQLite"), timeout=5000)
    assert f"S3 {BUCKET}" in window.status.listener.text()
