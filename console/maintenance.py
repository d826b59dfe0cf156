"""The Database and Queue menus' work: confirm what cannot be undone, run it off the GUI thread with a
busy indicator, then say what happened (and where the backup is)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from console.status_bar import EngineStatusBar
from console.tasks import run_task

log = logging.getLogger(__name__)


class Maintenance(QObject):
    started = Signal(str)
    finished = Signal(str, object)  # (action, result); tests and the window wait on it
    failed = Signal(str, str)
    data_replaced = Signal()  # the database changed under the views: reload them

    def __init__(self, engine: Any, window: QWidget, status: EngineStatusBar) -> None:
        super().__init__(window)
        self.engine = engine
        self.window = window
        self.status = status
        self.running: str | None = None

    # -- dialogs (one place, so tests answer them by monkeypatching QMessageBox)
    def confirm(self, title: str, text: str, *, action: str = "Continue") -> bool:
        answer = QMessageBox.question(self.window, title, text,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def report(self, title: str, text: str) -> None:
        QMessageBox.information(self.window, title, text)

    def report_error(self, title: str, text: str) -> None:
        QMessageBox.warning(self.window, title, text)

    def run(self, action: str, busy_text: str, work: Callable[[], Any], describe: Callable[[Any], str], *,
            replaces_data: bool = False, announce: bool = True) -> None:
        if self.running is not None:
            self.report("Please wait", f"“{self.running}” is still running.")
            return
        self.running = action
        self.status.set_busy(busy_text)
        self.started.emit(action)

        def done(result: Any) -> None:
            self.running = None
            self.status.set_busy(None)
            self.status.refresh()
            if replaces_data:
                self.data_replaced.emit()
            self.status.showMessage(describe(result).split("\n")[0], 10_000)
            if announce:
                self.report(action, describe(result))
            self.finished.emit(action, result)

        def error(exc: BaseException) -> None:
            self.running = None
            self.status.set_busy(None)
            log.error("%s failed: %s", action, exc)
            if replaces_data:
                self.data_replaced.emit()
            self.report_error(action, f"{action} did not complete:\n{exc}")
            self.failed.emit(action, str(exc))

        run_task(work, done, error)

    # -- Database menu
    def backup_now(self) -> None:
        engine = self.engine
        self.run("Backup now", "Backing up the database…", engine.backup,
                 lambda path: f"The database was backed up to\n{path}")

    def restore(self, backup_file: Path | None = None) -> None:
        if backup_file is None:
            name, _ = QFileDialog.getOpenFileName(self.window, "Restore the database from a backup",
                                                  str(self.engine.cfg.backups_dir),
                                                  "SQLite backups (*.db *.sqlite *.sqlite3);;All files (*)")
            if not name:
                return
            backup_file = Path(name)
        if not self.confirm("Restore the database?",
                            f"Replace the current database with\n{backup_file}?\n\n"
                            "The current database is backed up first, so this can be undone."):
            return
        engine = self.engine
        self.run("Restore", "Restoring the database…", lambda: engine.restore(backup_file),
                 lambda safety: f"The database was restored from\n{backup_file}"
                 + (f"\n\nThe previous database was saved to\n{safety}" if safety else ""),
                 replaces_data=True)

    def migrate(self) -> None:
        if not self.confirm("Migrate the database?",
                            "Upgrade the database to the latest schema?\nA backup is taken first."):
            return
        engine = self.engine
        self.run("Migrate to latest", "Migrating the database…", engine.migrate, lambda r: r.describe(),
                 replaces_data=True)

    def rollback(self) -> None:
        if not self.confirm("Roll back the database?",
                            "Downgrade the database schema by one revision?\n"
                            "A backup is taken first. The console may need “Migrate to latest” afterwards "
                            "to show everything again."):
            return
        engine = self.engine
        self.run("Roll back one revision", "Rolling the database back…", engine.rollback,
                 lambda r: f"The database was rolled back from {r.before} to {r.after or 'an empty schema'}."
                 + (f"\n\nThe backup is at\n{r.backup}" if r.backup else ""),
                 replaces_data=True)

    # -- Queue menu
    def retry_all(self) -> None:
        if not self.confirm("Retry all failed media?",
                            "Download every failed media again (and any left waiting without a task)?"):
            return
        engine = self.engine
        self.run("Retry all failed", "Queueing failed media again…", engine.retry_failed,
                 lambda n: f"{n} media were queued again." if n else "There was nothing to retry.")

    def flush(self) -> None:
        if not self.confirm("Flush the download queue?",
                            "Drop every queued download task?\n\nThe media stay pending: "
                            "“Retry all failed” or the next start brings them back."):
            return
        engine = self.engine
        self.run("Flush queue", "Flushing the queue…", engine.flush_queue,
                 lambda n: f"The queue was flushed: {n} task(s) dropped.\nTheir media stay pending for Retry.")

    def set_paused(self, paused: bool) -> None:
        engine = self.engine
        work = engine.pause_workers if paused else engine.resume_workers
        self.run("Pause workers" if paused else "Resume workers", "Pausing workers…" if paused else "Resuming…",
                 work, lambda _r: "Download workers paused: they finish the current file and take no more."
                 if paused else "Download workers resumed.", announce=False)
