"""Fixtures for the console suite: offscreen Qt, a real engine on a real SQLite file, the real simulator.

Every test ends with no engine thread, pool task or window left behind (`_no_leftovers`).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import gc  # noqa: E402
import threading  # noqa: E402
from collections.abc import Iterator
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from console_helpers import open_window  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from console.main_window import MainWindow  # noqa: E402
from console.tasks import wait_for_tasks  # noqa: E402
from engine import Config, MediaDeskEngine  # noqa: E402
from engine.simulator import CloudSimulator  # noqa: E402

APP_SECRET = "console-test-secret"


@pytest.fixture(autouse=True)
def _gc_on_the_gui_thread() -> Iterator[None]:
    """As the app does (console/gc_guard.py): no automatic collection while a console test runs, because the
    collector runs on whichever thread allocates, and a Qt wrapper freed on a pool or engine thread runs its
    C++ destructor there (a segfault seen in full runs: a collection inside a SQLAlchemy call on a pool
    thread). Collected here, on the GUI thread, before and after."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        gc.enable()


@pytest.fixture(autouse=True)
def _no_leftovers(qapp: QApplication) -> Iterator[None]:
    before = {t.ident for t in threading.enumerate()}
    yield
    assert wait_for_tasks(10_000), "a background task is still running"
    QApplication.processEvents()  # deliver the last queued callbacks before looking
    visible = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    assert not visible, f"windows left open: {visible}"
    deadline = threading.Event()
    for _ in range(50):  # engine threads are joined by engine.stop(); give daemon helpers a moment
        left = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()
                and not isinstance(t, threading._DummyThread)]
        if not left:
            break
        deadline.wait(0.1)
    assert not left, f"threads left running: {[t.name for t in left]}"


@pytest.fixture
def sim() -> Iterator[CloudSimulator]:
    with CloudSimulator(access_token="console-token") as running:
        yield running


@pytest.fixture
def cfg(tmp_path: Path, sim: CloudSimulator) -> Config:
    return Config(data_dir=tmp_path / "data").with_changes(
        graph_url=sim.base_url, graph_version=sim.version, access_token=sim.access_token, app_secret=APP_SECRET,
        verify_token="verify", port=0, workers=2, retry_delays=(0.05, 0.05),
        health_every_min=0, scrub_every_min=0, backup_every_hours=0)  # periodic tasks would upset these tests


@pytest.fixture
def engine(cfg: Config) -> Iterator[MediaDeskEngine]:
    eng = MediaDeskEngine(cfg)
    eng.open()
    eng.start()
    try:
        yield eng
    finally:
        eng.stop()


@pytest.fixture
def window(qtbot: Any, engine: MediaDeskEngine) -> Iterator[MainWindow]:
    with open_window(qtbot, engine) as win:
        yield win
