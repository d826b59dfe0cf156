"""Database > Backups…: every backup the engine knows (when, why, how big), with Restore and Delete.

`BackupsModel` is a thin table over `engine.backups()`; reading the folder, deleting and restoring all run off
the GUI thread. Restore is the Database menu's own (`Maintenance.restore`: confirmed, the engine pauses its
workers and backs the current database up first, the views reload after); Delete is confirmed the same way.
"""

from __future__ import annotations

import logging
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.maintenance import Maintenance
from console.rows_model import Index, RowsModel
from console.tasks import run_task
from console.wording import human_size
from engine import BackupInfo, MediaDeskError

log = logging.getLogger(__name__)
BackupRole = Qt.ItemDataRole.UserRole + 1
NOTE_STYLE = "color: #54656f;"
ERROR_STYLE = "color: #c62828;"


class BackupsModel(RowsModel[BackupInfo]):
    HEADERS = ("Taken", "Why", "Size", "File")
    set_backups = RowsModel.set_rows
    backup = RowsModel.row_at

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        b = self.cell_row(index)
        if b is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            # taken_at is local time already (it is the file's name)
            return (f"{b.taken_at:%Y-%m-%d %H:%M:%S}", b.reason[:1].upper() + b.reason[1:], human_size(b.size),
                    b.path.name)[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return str(b.path)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == BackupRole:
            return b
        return None


class BackupsDialog(QDialog):
    loaded = Signal()  # the list was read (tests wait on it)
    deleted = Signal(str)  # the file name deleted

    def __init__(self, engine: Any, maintenance: Maintenance, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Database backups")
        self.setObjectName("backupsDialog")
        self.engine = engine
        self.maintenance = maintenance
        self.model = BackupsModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _i: self.restore_selected())
        self.summary = QLabel("Reading the backups…", self)
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet(NOTE_STYLE)
        self.restore_button = QPushButton("Restore…", self)
        self.restore_button.clicked.connect(self.restore_selected)
        self.delete_button = QPushButton("Delete…", self)
        self.delete_button.clicked.connect(self.delete_selected)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.clicked.connect(self.refresh)
        close = QPushButton("Close", self)
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        for b in (self.restore_button, self.delete_button, self.refresh_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        col = QVBoxLayout(self)
        col.addWidget(self.summary)
        col.addWidget(self.table, 1)
        col.addLayout(buttons)
        self.resize(760, 420)
        maintenance.finished.connect(self._maintenance_done)
        maintenance.failed.connect(self._maintenance_done)
        self._selection_changed()
        self.refresh()

    # -- reading
    def refresh(self) -> None:
        engine = self.engine

        def work() -> tuple[list[BackupInfo], str | None]:
            return engine.backups(), engine.backups_not_covered()

        self.refresh_button.setEnabled(False)
        run_task(work, self._show, self._failed)

    def _show(self, result: tuple[list[BackupInfo], str | None]) -> None:
        if not shiboken6.isValid(self):
            return
        backups, not_covered = result
        self.refresh_button.setEnabled(True)
        self.model.set_backups(backups)
        self.summary.setStyleSheet(NOTE_STYLE)
        self.summary.setText(self._summary(backups, not_covered))
        self.table.setVisible(not_covered is None)
        self._selection_changed()
        self.loaded.emit()

    def _summary(self, backups: list[BackupInfo], not_covered: str | None) -> str:
        cfg = self.engine.cfg
        if not_covered is not None:
            return f"No backups to list: {not_covered}."
        if cfg.backup_every_hours:
            schedule = (f"A backup is taken every {cfg.backup_every_hours} hours; the newest {cfg.backup_keep} "
                        "scheduled ones are kept.")
        else:
            schedule = "Scheduled backups are off (Settings > Backups)."
        schedule += " Backups taken by hand or before a migration, rollback or restore are kept until you delete them."
        if not backups:
            return f"No backups yet in {cfg.backups_dir}. {schedule}"
        total = human_size(sum(b.size for b in backups))
        return f"{len(backups)} backup{'s' if len(backups) != 1 else ''} ({total}) in {cfg.backups_dir}. {schedule}"

    def _failed(self, exc: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        if not isinstance(exc, MediaDeskError | OSError):
            log.error("could not list the backups", exc_info=exc)
        self.refresh_button.setEnabled(True)
        self.summary.setStyleSheet(ERROR_STYLE)
        self.summary.setText(f"Could not read the backups: {exc}")
        self._selection_changed()

    # -- acting on one
    def selected(self) -> BackupInfo | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.backup(rows[0].row()) if rows else None

    def _selection_changed(self, *_args: Any) -> None:
        chosen = self.selected() is not None
        busy = self.maintenance.running is not None
        self.restore_button.setEnabled(chosen and not busy)
        self.delete_button.setEnabled(chosen and not busy)

    def restore_selected(self) -> None:
        chosen = self.selected()
        if chosen is not None:
            self.maintenance.restore(chosen.path)  # it confirms, and says where the current database went
            self._selection_changed()

    def _maintenance_done(self, action: str, _result: Any) -> None:
        if action == "Restore" and shiboken6.isValid(self):
            self.refresh()  # the restore took a backup of the database it replaced

    def delete_selected(self) -> None:
        chosen = self.selected()
        if chosen is None:
            return
        if not self.maintenance.confirm("Delete this backup?",
                                        f"Delete the backup taken {chosen.taken_at:%Y-%m-%d %H:%M} "
                                        f"({chosen.reason})?\n\n{chosen.path.name}\n\nThis cannot be undone."):
            return
        engine, name = self.engine, chosen.path.name

        def done(_result: Any) -> None:
            if shiboken6.isValid(self):
                self.deleted.emit(name)
                self.refresh()

        self.delete_button.setEnabled(False)
        run_task(lambda: engine.delete_backup(chosen.path), done, self._failed)
