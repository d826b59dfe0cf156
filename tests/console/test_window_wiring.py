"""The window's wiring to the bridge: health reports reach the Health view, user messages the status bar."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from console.health_view import HealthView
from console.main_window import MainWindow
from console.wording import clock, local_time
from engine import HealthReport, MediaDeskEngine


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time 5:45 ahead of UTC, so a time shown in UTC cannot pass for local time."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX only")
    monkeypatch.setenv("TZ", "Asia/Kathmandu")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_health_view_shows_a_check_run_on_an_engine_thread(qtbot: Any, window: MainWindow,
                                                              engine: MediaDeskEngine) -> None:
    window.show_view("Health")
    view = window._views["Health"]
    assert isinstance(view, HealthView) and view.report is None
    done: list[HealthReport] = []
    # As the engine's periodic check does: on a worker thread, the report travels as a HealthChanged event.
    worker = threading.Thread(target=lambda: done.append(engine.health_check()))
    with qtbot.waitSignal(view.reportShown, timeout=10_000) as shown:
        worker.start()
    worker.join(10)
    assert shown.args[0] == done[0]
    assert view.report == done[0] and view.model.rowCount() == len(done[0].findings)
    assert view._verdict.text().startswith("✔ Healthy")


def test_the_status_bar_and_health_view_show_the_check_in_local_time(qtbot: Any, far_from_utc: None,
                                                                    window: MainWindow,
                                                                    engine: MediaDeskEngine) -> None:
    report = engine.health_check()
    window.status.refresh()
    qtbot.waitUntil(lambda: window.status.health.text().startswith("Health: OK"), timeout=5000)
    checked = datetime.fromisoformat(report.checked_at)
    assert window.status.health.text() == f"Health: OK at {clock(checked)}"
    assert clock(checked) != checked.strftime("%H:%M")  # the UTC reading would be another time
    window.show_view("Health")
    view = window._views["Health"]
    qtbot.waitUntil(lambda: view.report is not None, timeout=5000)
    assert view._checked.text() == f"Checked {local_time(checked):%Y-%m-%d %H:%M:%S}"


def test_bridge_messages_reach_the_status_bar_and_errors_the_banner(qtbot: Any, window: MainWindow) -> None:
    window.chats.load_failed.emit("Could not load the chats: database is locked")
    assert window.status.currentMessage() == "Could not load the chats: database is locked"
    window.bridge.info("Downloading photo.jpg again…")
    assert window.status.currentMessage() == "Downloading photo.jpg again…"
    assert window.banner.isHidden()
    window.bridge.error("MediaDesk could not start its engine: disk full")
    assert window.banner.isVisible() and "disk full" in window.banner_text.text()
