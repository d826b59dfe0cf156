"""The Settings dialog's Backups section: how often MediaDesk copies its database by itself, and how many of
those copies it keeps (backups taken by hand or before a migration are never pruned). Self-contained, like
the Alerts section: `changes()` and `valid()` for the dialog."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QSpinBox, QWidget

from console.form_styles import NOTE_STYLE
from engine import Config


class BackupScheduleSection(QGroupBox):
    edited = Signal()

    def __init__(self, cfg: Config, parent: QWidget | None = None) -> None:
        super().__init__("Backups", parent)
        self.setObjectName("backupSection")
        self._postgres = bool(cfg.database_url)
        form = QFormLayout(self)
        self.every_hours = QSpinBox()
        self.every_hours.setObjectName("backup_every_hours")
        self.every_hours.setRange(0, 24 * 30)
        self.every_hours.setSpecialValueText("off")  # shown for 0
        self.every_hours.setSuffix(" hours")
        self.every_hours.setValue(cfg.backup_every_hours)
        self.keep = QSpinBox()
        self.keep.setObjectName("backup_keep")
        self.keep.setRange(1, 1000)
        self.keep.setValue(cfg.backup_keep)
        for box in (self.every_hours, self.keep):
            box.valueChanged.connect(self._edited)
        form.addRow("Back up every", self.every_hours)
        form.addRow("Scheduled backups kept", self.keep)
        self.note = QLabel()
        self.note.setStyleSheet(NOTE_STYLE)
        self.note.setWordWrap(True)
        form.addRow("", self.note)
        self._edited()

    def _edited(self, *_args: Any) -> None:
        if self._postgres:
            words = ("The database is PostgreSQL: MediaDesk's backups do not cover it; use pg_dump or the "
                     "server's own backups.")
        elif self.every_hours.value() == 0:
            words = "Scheduled backups are off. Database > Backups… lists the backups there are."
        else:
            words = (f"A copy of the database every {self.every_hours.value()} hours; the newest "
                     f"{self.keep.value()} are kept. Backups taken by hand or before a migration are never "
                     "deleted by MediaDesk; Database > Backups… lists them all.")
        self.note.setText(words)
        self.keep.setEnabled(self.every_hours.value() > 0)
        self.edited.emit()

    def valid(self) -> bool:
        return True  # the spin boxes allow nothing else

    def changes(self) -> dict[str, Any]:
        return {"backup_every_hours": self.every_hours.value(), "backup_keep": self.keep.value()}
