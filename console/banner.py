"""The maintenance banner: what the engine's guard knows (a full disk, a database that refuses writes, a schema
that is not the one this version needs) in the owner's words, at the top of the window for as long as it lasts.

The state comes from the engine (`maintenance_state()` once, then `MaintenanceChanged` through the bridge); the
banner only presents it. Its one action, "Migrate to latest", is the Database menu's (`console.maintenance`);
when the migration is done the guard notices and resumes everything, and its event hides the banner.
"""

from __future__ import annotations

import logging
from typing import Any

import shiboken6
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QStyle, QWidget

from console.bridge import EngineBridge
from console.maintenance import Maintenance
from console.tasks import run_task
from engine import MaintenanceChanged, MaintenanceState

log = logging.getLogger(__name__)

MIGRATE = "Migrate to latest"
REDELIVERY = "WhatsApp will send them again for up to 7 days"


def banner_words(state: MaintenanceState) -> str | None:
    """The banner's text for `state`; None when all is well."""
    if state.ok:
        return None
    if state.reason == "disk_full":
        return ("The disk is full: MediaDesk cannot store new messages. "
                f"{REDELIVERY} once you free space.")
    if state.maintenance and state.newer:
        return (f"A newer version of MediaDesk upgraded this database (revision {state.found_revision}); this "
                f"version knows revisions up to {state.needed_revision}. Start the newer MediaDesk, or restore a "
                f"backup taken before it (Database > Backups…). Until then new messages are refused "
                f"({REDELIVERY}) and downloads wait.")
    if state.maintenance:
        found = f"revision {state.found_revision}" if state.found_revision else "no schema at all"
        return (f"The database is at {found}, but this version of MediaDesk needs revision "
                f"{state.needed_revision}. Until it is migrated, new messages are refused ({REDELIVERY}) "
                "and downloads wait.")
    if state.reason == "database_unavailable":
        return ("The database is busy or cannot be written: MediaDesk cannot store new messages right now. "
                f"{REDELIVERY}; MediaDesk takes them as soon as the database answers.")
    return f"MediaDesk cannot store new messages right now: {state.detail}. {REDELIVERY}."


def tray_title(state: MaintenanceState) -> str:
    if state.reason == "disk_full":
        return "MediaDesk: the disk is full"
    if state.maintenance:
        return "MediaDesk: the database needs migrating"
    return "MediaDesk cannot store messages"


class MaintenanceBanner(QFrame):
    """Hidden while the engine takes writes; otherwise says why not and, for the schema, offers the migration."""

    shown = Signal(object)  # the MaintenanceState now presented (tests wait on it)
    turned_bad = Signal(str, str)  # (title, text): the window hands it to the tray
    resumed = Signal()  # writes work again after a fault: the views reload what failed meanwhile

    def __init__(self, engine: Any, bridge: EngineBridge, maintenance: Maintenance,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("maintenanceBanner")
        self.engine = engine
        self.maintenance = maintenance
        self.state: MaintenanceState | None = None
        row = QHBoxLayout(self)
        row.setContentsMargins(16, 8, 12, 8)
        row.setSpacing(10)
        icon = QLabel(self)
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(20, 20))
        row.addWidget(icon)
        self.text = QLabel(self)
        self.text.setObjectName("maintenanceText")
        self.text.setWordWrap(True)
        self.migrate_button = QPushButton(MIGRATE, self)
        self.migrate_button.setObjectName("migrateButton")
        self.migrate_button.clicked.connect(maintenance.migrate)
        row.addWidget(self.text, 1)
        row.addWidget(self.migrate_button)
        self.hide()
        bridge.maintenance_changed.connect(self._on_event)
        maintenance.started.connect(self._on_started)
        maintenance.finished.connect(self._on_done)
        maintenance.failed.connect(self._on_done)

    def refresh(self) -> None:
        """Read the engine's state now (at start-up: a database already behind sends no event)."""
        engine = self.engine
        run_task(engine.maintenance_state, self._show_if_alive,
                 lambda exc: log.warning("could not read the maintenance state: %s", exc))

    def _show_if_alive(self, state: MaintenanceState) -> None:
        if shiboken6.isValid(self):
            self.show_state(state)

    def _on_event(self, event: MaintenanceChanged) -> None:
        self.show_state(event.state)

    def show_state(self, state: MaintenanceState) -> None:
        before, self.state = self.state, state
        words = banner_words(state)
        self.setVisible(words is not None)
        self.text.setText(words or "")
        self.setProperty("reason", state.reason or "")
        self.style().unpolish(self)  # the colour follows the "reason" property in console.qss
        self.style().polish(self)
        self.migrate_button.setVisible(state.maintenance and not state.newer)  # a migration cannot go back
        if words is not None and (before is None or before.reason != state.reason):
            self.turned_bad.emit(tray_title(state), words)
        elif words is None and before is not None and not before.ok:
            self.resumed.emit()
        self.shown.emit(state)

    def _on_started(self, action: str) -> None:
        if action == MIGRATE:
            self.migrate_button.setEnabled(False)
            self.migrate_button.setText("Migrating…")

    def _on_done(self, action: str, _result: Any) -> None:
        if action == MIGRATE:
            self.migrate_button.setEnabled(True)
            self.migrate_button.setText(MIGRATE)
