"""Desktop notifications through the system tray, and the log where there is no tray (offscreen, servers)."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QStyle, QSystemTrayIcon

log = logging.getLogger(__name__)
MESSAGE_MS = 10_000


class TrayNotifier(QObject):
    """`notify(title, text)` shows a tray balloon, or logs it when this desktop has no tray."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tray: QSystemTrayIcon | None = None
        self._said_bad = False

    @property
    def available(self) -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable() and QSystemTrayIcon.supportsMessages()

    def _icon(self) -> QIcon:
        icon = QGuiApplication.windowIcon()
        if icon.isNull() and isinstance(QApplication.instance(), QApplication):
            icon = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxInformation)
        return icon

    @Slot(str, str)
    def notify(self, title: str, text: str) -> None:
        if not self.available:
            log.warning("%s: %s", title, text)
            return
        if self._tray is None:
            # Created on first use: a tray icon that never notifies has no reason to sit in the panel.
            self._tray = QSystemTrayIcon(self._icon(), self)
            self._tray.setToolTip("MediaDesk")
            self._tray.show()
        log.info("notification: %s: %s", title, text)
        self._tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, MESSAGE_MS)

    @Slot(bool, str)
    def on_health_changed(self, ok: bool, summary: str) -> None:
        """Connect `HealthView.healthChanged` here: tell the owner when health turns bad, and when it recovers."""
        if not ok:
            self._said_bad = True
            self.notify("MediaDesk needs attention", summary)
        elif self._said_bad:  # "healthy" at start-up is no news; recovering after an alert is
            self._said_bad = False
            self.notify("MediaDesk is healthy again", summary)
