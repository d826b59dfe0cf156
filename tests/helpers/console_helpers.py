"""Building chats for the console tests (real webhook bodies through the engine's ingest), and the window."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from PySide6.QtWidgets import QApplication

from console.bridge import EngineBridge
from console.main_window import MainWindow
from console.tasks import wait_for_tasks
from engine import MediaDeskEngine
from engine.simulator import CloudSimulator, Fault, media_message, text_message
from engine.simulator.payloads import new_wamid


def say(engine: MediaDeskEngine, wa_id: str, name: str, body: str, *, minutes_ago: float = 0) -> None:
    engine.ingest([text_message(body, wa_id=wa_id, name=name, wamid=new_wamid(wa_id),
                                timestamp=int(time.time() - minutes_ago * 60))])


def send_media(engine: MediaDeskEngine, sim: CloudSimulator, wa_id: str, name: str, media_id: str, *,
               kind: str = "image", mime: str = "image/jpeg", caption: str | None = None,
               fault: Fault | None = None) -> Any:
    registered = sim.add_media(media_id, mime, fault=fault)
    engine.ingest([media_message(kind, media_id, mime, caption=caption, sha256=registered.sha256_base64,
                                 wa_id=wa_id, name=name, wamid=new_wamid(wa_id), timestamp=int(time.time()))])
    return registered


def media_status(engine: MediaDeskEngine, wa_media_id: str) -> str | None:
    from sqlalchemy import select

    from engine.db import ChatMedia

    with engine.db.session() as s:
        return s.execute(select(ChatMedia.processing_status).where(ChatMedia.wa_media_id == wa_media_id)).scalar()


@contextmanager
def open_window(qtbot: Any, engine: MediaDeskEngine) -> Iterator[MainWindow]:
    """The main window on `engine`, shown and with its chat list loaded; closed, its tasks done, after."""
    bridge = EngineBridge()
    bridge.attach(engine.events)
    win = MainWindow(engine, bridge, engine.cfg)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.chats.loaded, timeout=10_000):
        win.engine_ready()
    try:
        yield win
    finally:
        bridge.detach()
        win.close()
        wait_for_tasks(10_000)
        QApplication.processEvents()
