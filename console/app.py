"""`run_console`: the desktop application's start-up and shut-down.

The window is shown first and the engine opens behind it on a pool thread (migrating an older database,
with its backup, and saying so), so the first frame never waits for Alembic, Huey or the listener.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox

from console.bridge import EngineBridge
from console.gc_guard import GuiThreadGarbageCollector
from console.main_window import MainWindow
from console.screenshot import ScreenshotTaker
from console.tasks import run_task, wait_for_tasks
from engine import Config, MediaDeskEngine, resource_path, setup_logging, version

log = logging.getLogger(__name__)


def _light_palette() -> QPalette:
    """MediaDesk draws WhatsApp's light colours; keep the widgets around them light too."""
    p = QPalette()
    for role, color in ((QPalette.ColorRole.Window, "#f0f2f5"), (QPalette.ColorRole.Base, "#ffffff"),
                        (QPalette.ColorRole.AlternateBase, "#f5f6f6"), (QPalette.ColorRole.Text, "#111b21"),
                        (QPalette.ColorRole.WindowText, "#111b21"), (QPalette.ColorRole.Button, "#ffffff"),
                        (QPalette.ColorRole.ButtonText, "#111b21"), (QPalette.ColorRole.Highlight, "#00a884"),
                        (QPalette.ColorRole.HighlightedText, "#ffffff"), (QPalette.ColorRole.ToolTipBase, "#ffffff"),
                        (QPalette.ColorRole.ToolTipText, "#111b21"), (QPalette.ColorRole.PlaceholderText, "#8696a0")):
        p.setColor(role, QColor(color))
    return p


def make_app() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("MediaDesk")
    app.setOrganizationName("MediaDesk")
    app.setApplicationVersion(version())
    app.setDesktopFileName("mediadesk")  # Wayland taskbars match the window to resources/mediadesk.desktop
    app.setWindowIcon(QIcon(str(resource_path("icons", "mediadesk.png"))))
    app.setStyle("Fusion")
    app.setPalette(_light_palette())
    return app


def is_first_run(cfg: Config) -> bool:
    return cfg.database_url is None and not cfg.db_path.exists() and not cfg.access_token


def ask_first_run(parent: Any = None) -> str | None:
    """'demo', 'connect' or None (quit): a newcomer either sees it work or connects their number."""
    box = QMessageBox(parent)
    box.setWindowTitle("Welcome to MediaDesk")
    box.setIconPixmap(QIcon(str(resource_path("icons", "mediadesk.png"))).pixmap(64, 64))
    box.setText("<b>Welcome to MediaDesk</b>")
    box.setInformativeText("Try it with demo chats from a built-in WhatsApp simulator, or connect your "
                           "WhatsApp Business number now.")
    demo = box.addButton("Demo mode", QMessageBox.ButtonRole.AcceptRole)
    connect = box.addButton("Connect WhatsApp…", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    clicked = box.clickedButton()
    return "demo" if clicked is demo else "connect" if clicked is connect else None


class FirstPaint(QObject):
    """Notes when the window first paints: the 'start to first window' figure."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.at: float | None = None
        window.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if self.at is None and event.type() == QEvent.Type.Paint:
            self.at = time.monotonic()
            obj.removeEventFilter(self)
        return False


class Startup(QObject):
    """Opens and starts the engine off the GUI thread, then hands it to the window."""

    def __init__(self, engine: MediaDeskEngine, bridge: EngineBridge, window: MainWindow, runner: Any) -> None:
        super().__init__(window)
        self.engine, self.bridge, self.window, self.runner = engine, bridge, window, runner
        self.ready = False
        self.error: str | None = None
        self.connect_when_ready = False  # the first-run choice: the wizard needs the listener running

    def begin(self) -> None:
        engine = self.engine

        def work() -> Any:
            if engine.cfg.attached:  # a shared backend: its operator migrates it, its workers download
                result = engine.open(migrate=False)
                engine.attach(workers=engine.cfg.attached_workers)
            else:
                result = engine.open()
                engine.start()
            return result

        def check() -> Any:
            return engine.health_check()  # the status bar shows a fresh result, not "not checked yet"


        def started(migration: Any) -> None:
            self._started(migration)
            run_task(check, None, lambda exc: log.warning("the first health check failed: %s", exc))

        run_task(work, started, self._failed)

    def _started(self, migration: Any) -> None:
        self.bridge.attach(self.engine.events)
        if migration.changed and migration.before is not None:
            text = (f"The database was upgraded from {migration.before} to {migration.after}"
                    + (f"; the previous version was backed up to {migration.backup}." if migration.backup else "."))
            self.window.show_banner(text)
            self.window.status.showMessage("Database migrated", 15_000)
        self.window.engine_ready()
        if self.runner is not None:
            self.runner.feed(self.engine.listener.address)
            self.window.status.showMessage("Demo mode: a WhatsApp simulator is sending the demo's chats", 15_000)
        self.ready = True
        if self.connect_when_ready:
            self.window.connect_whatsapp()

    def _failed(self, exc: BaseException) -> None:
        self.error = str(exc)
        log.error("the engine could not start: %s", exc)
        self.bridge.error(f"MediaDesk could not start its engine: {exc}")
        self.window.status.listener.setText("Engine not running")


def run_console(cfg: Config, *, demo: bool = False, screenshot: Path | None = None,
                process_start: float | None = None, verbose: bool = False) -> int:
    process_start = process_start if process_start is not None else time.monotonic()
    log_path = setup_logging(cfg.logs_dir, verbose=verbose, stderr=verbose)
    app = make_app()

    choice = None
    if not demo and screenshot is None and is_first_run(cfg):
        choice = ask_first_run()
        if choice is None:
            return 0
        demo = choice == "demo"

    runner = None
    if demo:
        from engine import DemoRunner  # loads the simulator: only demo mode pays for it

        runner = DemoRunner(cfg, pace=0.0 if screenshot else 1.2, history_pace=0.0 if screenshot else 0.04)
        cfg = runner.start()

    engine = MediaDeskEngine(cfg)
    bridge = EngineBridge()
    window = MainWindow(engine, bridge, cfg, log_path=log_path)
    if demo:
        window.setWindowTitle("MediaDesk (demo)")
    first_paint = FirstPaint(window)
    startup = Startup(engine, bridge, window, runner)
    startup.connect_when_ready = choice == "connect"
    taker = None
    if screenshot is not None:
        taker = ScreenshotTaker(window, Path(screenshot), first_paint=first_paint, startup=startup, runner=runner,
                                process_start=process_start)
    window.show()
    QTimer.singleShot(0, startup.begin)
    if taker is not None:
        taker.start()
    app.setQuitOnLastWindowClosed(True)
    collector = GuiThreadGarbageCollector(app)
    collector.start()
    try:
        code = app.exec()
    finally:
        collector.stop()
        bridge.detach()
        window.close()
        if runner is not None:
            runner.stop()
        engine.stop()
        wait_for_tasks(10_000)
        window.deleteLater()
    if taker is not None:
        return taker.exit_code
    return code


__all__ = ["ask_first_run", "is_first_run", "make_app", "run_console"]
