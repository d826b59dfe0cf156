"""Fixtures for the console's views: a real migrated SQLite database with sample media, offscreen Qt."""

from __future__ import annotations

import ctypes
import gc
import os
import random
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import PySide6  # noqa: E402

if getattr(PySide6, "__version__", "") == "6.12.0" and sys.version_info < (3, 12):
    # PySide6 6.12.0 returns Py_True from SignalInstance.emit() without a new reference, so every emit
    # lowers True's refcount by one and Python aborts ("bool_dealloc") after ~9,000 emits. Python 3.12+
    # bools are immortal. Lift the count far from zero so a long test run is not killed by it.
    ctypes.c_ssize_t.from_address(id(True)).value += 1 << 40

from engine import Config  # noqa: E402
from engine.db.migrate import migrate  # noqa: E402
from engine.db.models import ChatMedia, MediaAttempt, MediaStatus, utcnow  # noqa: E402
from engine.db.session import Database  # noqa: E402

REASONS = ("expired", "gone", "too_large", "network")


def add_media(db: Database, *, completed: int = 0, failed: int = 0, pending: int = 0, seed: int = 1) -> None:
    """Insert chat_media rows (and one media_attempts row for each finished one) created within the last hour."""
    rnd = random.Random(seed)
    now = utcnow()
    with db.session() as s:
        plan = [MediaStatus.COMPLETED] * completed + [MediaStatus.FAILED] * failed + [MediaStatus.PENDING] * pending
        for i, status in enumerate(plan):
            created = now - timedelta(seconds=rnd.uniform(60, 3000))
            done = created + timedelta(seconds=rnd.uniform(0.2, 4.0)) if status == MediaStatus.COMPLETED else None
            meta = {"reason": REASONS[i % len(REASONS)], "error": "sample"} if status == MediaStatus.FAILED else {}
            media = ChatMedia(name=f"m{i}.jpg", type="image/jpeg", processing_status=status, processed_at=done,
                              meta=meta, created_at=created,
                              # failed now: "failed today" holds whatever the time, just after midnight too
                              updated_at=done or (now if status == MediaStatus.FAILED else created))
            if status != MediaStatus.PENDING:  # a pending media has not been tried yet
                media.attempts.append(MediaAttempt(started_at=created, finished_at=done or created,
                                                   outcome="completed" if done else "failed", bytes=2048))
            s.add(media)


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    cfg = Config(data_dir=tmp_path / "data")
    migrate(cfg)
    return cfg


@pytest.fixture
def db(cfg: Config):
    database = Database(cfg.sqlalchemy_url)
    yield database
    database.dispose()


@pytest.fixture(autouse=True)
def nothing_left_behind(qapp):
    """Every test ends with its background tasks finished, its windows closed and its threads stopped."""
    from PySide6.QtWidgets import QApplication

    from console.tasks import wait_for_tasks

    threads = set(threading.enumerate())
    yield
    assert wait_for_tasks(30_000), "a background task is still running"
    QApplication.processEvents()
    # Collect dead widgets' cycles here, on the GUI thread, not whenever the next pool task allocates.
    gc.collect()
    assert [w for w in QApplication.topLevelWidgets() if w.isVisible()] == []
    # Qt pool threads show up as _DummyThread once they log; they belong to the pool, not to the test.
    left = [t for t in threading.enumerate() if t not in threads and t.is_alive()
            and not isinstance(t, threading._DummyThread)]
    assert left == [], f"threads left running: {left}"


@pytest.fixture(name="add_media")
def add_media_fixture():
    """`add_media(db, completed=..., failed=..., pending=...)` for tests (conftest is not importable)."""
    return add_media
