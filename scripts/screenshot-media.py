"""docs/screenshot-media.png: View > Media over the demo's data (the WhatsApp Cloud simulator's story).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot-media.py docs/screenshot-media.png
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtWidgets import QApplication


def main(out: str) -> int:
    app = QApplication.instance() or QApplication([])
    from console.bridge import EngineBridge
    from console.main_window import MainWindow
    from console.tasks import wait_for_tasks
    from engine import Config, DemoRunner, MediaDeskEngine

    data = Path(tempfile.mkdtemp(prefix="mediadesk-shot-"))
    runner = DemoRunner(Config(data_dir=data).with_changes(port=0, health_every_min=0, scrub_every_min=0),
                        pace=0.0, history_pace=0.0)
    cfg = runner.start()
    engine = MediaDeskEngine(cfg)
    engine.start()
    bridge = EngineBridge()
    bridge.attach(engine.events)
    window = MainWindow(engine, bridge, cfg)
    window.resize(1280, 760)
    window.show()
    window.engine_ready()
    feeder = runner.feed(engine.listener.address)

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    feeder.join(60)
    pump(8)  # downloads, then the thumbnails' housekeeping tasks
    window.show_view("Media")
    view = window._views["Media"]
    view.model.reload()
    pump(3)
    view.table.selectRow(2)
    pump(1)
    window.grab().save(out)
    print(f"saved {out}: {view.model.rowCount()} media")
    window.close()
    wait_for_tasks(10_000)
    engine.stop()
    runner.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot-media.png"))
