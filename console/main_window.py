"""The main window: chats on the left, the conversation on the right, menus, views and the status bar.

It wires parts together; the models own the data, the delegates paint, `MediaActions` does what a click on
a bubble means, `Maintenance` runs the Database and Queue menus, `EngineStatusBar` keeps the figures current.
Its look is `resources/console.qss`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from console.backups_dialog import BackupsDialog
from console.banner import MaintenanceBanner
from console.bridge import EngineBridge
from console.bubbles import MessageDelegate
from console.chat_export import ChatExport, copy_media_link
from console.chat_list import ChatListDelegate, ChatListModel, ChatListView, SummaryRole, avatar_color
from console.connect_wizard import ConnectWizard
from console.conversation import MessageListModel
from console.conversation_view import ConversationView
from console.health_view import HealthView
from console.logs_view import LogsView
from console.maintenance import Maintenance
from console.media_actions import MediaActions
from console.settings_dialog import SettingsDialog
from console.status_bar import EngineStatusBar
from console.tasks import run_task
from console.tray import TrayNotifier
from console.wording import initials, phone
from engine import ChatSummary, Config, MediaDeskError, MediaStatus, MediaStatusChanged, resource_path, version

log = logging.getLogger(__name__)

VIEWS = ("Chats", "Health", "Charts", "Logs", "Media")
MESSAGE_MS = {"info": 5_000, "warning": 15_000, "error": 30_000}  # how long the status bar shows each level


class ConversationHeader(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversationHeader")
        self.setFixedHeight(60)
        self.avatar = QLabel(self)
        self.avatar.setFixedSize(40, 40)
        self.avatar.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.name = QLabel(self)
        self.name.setObjectName("headerName")
        self.detail = QLabel(self)
        self.detail.setObjectName("headerDetail")
        text = QVBoxLayout()
        text.setSpacing(0)
        text.addWidget(self.name)
        text.addWidget(self.detail)
        row = QHBoxLayout(self)
        row.setContentsMargins(16, 8, 16, 8)
        row.addWidget(self.avatar)
        row.addSpacing(8)
        row.addLayout(text, 1)

    def show_chat(self, chat: ChatSummary) -> None:
        color = avatar_color(chat.wa_id).name()
        self.avatar.setStyleSheet(f"background: {color}; color: white; border-radius: 20px; font-weight: bold;")
        self.avatar.setText(initials(chat.name, chat.wa_id))
        self.name.setText(chat.name or phone(chat.wa_id))
        failed = f"  ·  {chat.failed_media} failed media" if chat.failed_media else ""
        self.detail.setText(f"{phone(chat.wa_id)}  ·  {chat.messages} messages{failed}")


class MainWindow(QMainWindow):
    chat_opened = Signal(int)  # contact id, once its messages are shown
    settings_applied = Signal(list)  # what the engine changed, in words, after Settings > OK
    settings_failed = Signal(str)  # why the saved settings could not be applied to the running engine

    def __init__(self, engine: Any, bridge: EngineBridge, cfg: Config, *, log_path: Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.bridge = bridge
        self.cfg = cfg
        self.log_path = log_path or cfg.logs_dir / "mediadesk.log"
        self.setWindowTitle("MediaDesk")
        self.resize(1280, 800)
        self._views: dict[str, QWidget] = {}
        self._tray: TrayNotifier | None = None
        self._last_health_ok: bool | None = None

        self.chats = ChatListModel(engine, self)
        self.messages = MessageListModel(engine, self)
        self.media_actions = MediaActions(engine, bridge, self.messages, self)
        self.thumbnails = self.media_actions.thumbnails
        self.message_delegate = MessageDelegate(self.thumbnails)

        self.status = EngineStatusBar(engine, self)
        self.setStatusBar(self.status)
        self.maintenance = Maintenance(engine, self, self.status)

        self.stack = QStackedWidget(self)
        self.stack.addWidget(self._build_chats_page())
        self._views["Chats"] = self.stack.widget(0)
        central = QWidget(self)
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        self.banner = self._build_banner()
        column.addWidget(self.banner)
        self.maintenance_banner = MaintenanceBanner(engine, bridge, self.maintenance, central)
        self.maintenance_banner.turned_bad.connect(self.notify)
        self.maintenance_banner.resumed.connect(self.reload)
        column.addWidget(self.maintenance_banner)
        column.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self._build_menus()
        self.setStyleSheet(resource_path("console.qss").read_text(encoding="utf-8"))

        bridge.media_status_changed.connect(self._on_media_status)
        bridge.messages_stored.connect(self._on_messages_stored)
        bridge.health_changed.connect(self._on_health)
        bridge.message.connect(self._on_message)
        self.message_delegate.action.connect(self.media_actions.run)
        self.conversation.copy_link.connect(lambda media_id: copy_media_link(self.engine, self.bridge, media_id))
        self.maintenance.data_replaced.connect(self.reload)
        self.chats.loaded.connect(self._chats_loaded)
        self.chats.load_failed.connect(bridge.warning)
        self.messages.load_failed.connect(bridge.warning)
        self.messages.loaded.connect(self._chat_loaded)
        # Messages arrive in bursts: reload the list once per burst, not once per webhook.
        self._reload_timer = QTimer(self, singleShot=True, interval=400)
        self._reload_timer.timeout.connect(self._reload_after_store)

    # -- building
    def _build_chats_page(self) -> QWidget:
        left = QWidget(self)
        left.setObjectName("chatPanel")
        col = QVBoxLayout(left)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        title = QLabel("Chats", left)
        title.setObjectName("panelTitle")
        self.search = QLineEdit(left)
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search by name or number")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self, singleShot=True, interval=200)
        self._search_timer.timeout.connect(lambda: self.chats.set_search(self.search.text()))
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.chat_list = ChatListView(left)  # uniform rows, per-pixel scrolling, no relayout per page
        self.chat_list.type_to_search.connect(self._type_to_search)
        self.chat_list.setObjectName("chatList")
        self.chat_list.setModel(self.chats)
        self.chat_list.setItemDelegate(ChatListDelegate(self.chat_list))
        self.chat_list.setMouseTracking(True)
        self.chat_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.chat_list.setFrameShape(QFrame.Shape.NoFrame)
        self.chat_list.selectionModel().currentChanged.connect(self._on_chat_selected)
        search_box = QWidget(left)
        sb = QVBoxLayout(search_box)
        sb.setContentsMargins(12, 6, 12, 8)
        sb.addWidget(self.search)
        col.addWidget(title)
        col.addWidget(search_box)
        col.addWidget(self.chat_list, 1)
        left.setMinimumWidth(300)

        right = QWidget(self)
        rcol = QVBoxLayout(right)
        rcol.setContentsMargins(0, 0, 0, 0)
        rcol.setSpacing(0)
        self.header = ConversationHeader(right)
        self.chat_export = ChatExport(self.engine, self.bridge, self.header)
        self.header.layout().addWidget(self.chat_export)
        self.conversation = ConversationView(self.messages, self.message_delegate, right)
        self.empty = QLabel("MediaDesk\n\nSelect a chat to see its messages and media.", right)
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.right_stack = QStackedWidget(right)
        convo = QWidget(right)
        cc = QVBoxLayout(convo)
        cc.setContentsMargins(0, 0, 0, 0)
        cc.setSpacing(0)
        cc.addWidget(self.header)
        cc.addWidget(self.conversation, 1)
        self.right_stack.addWidget(self.empty)
        self.right_stack.addWidget(convo)
        rcol.addWidget(self.right_stack)

        split = QSplitter(self)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([380, 900])
        split.setChildrenCollapsible(False)
        split.setHandleWidth(1)
        return split

    def _build_banner(self) -> QFrame:
        banner = QFrame(self)
        banner.setObjectName("banner")
        row = QHBoxLayout(banner)
        row.setContentsMargins(16, 6, 8, 6)
        self.banner_text = QLabel(banner)
        self.banner_text.setWordWrap(True)
        close = QPushButton("Dismiss", banner)
        close.setFlat(True)
        close.clicked.connect(banner.hide)
        row.addWidget(self.banner_text, 1)
        row.addWidget(close)
        banner.hide()
        return banner

    def _build_menus(self) -> None:
        bar = self.menuBar()
        m = self.maintenance

        def add(menu: Any, text: str, slot: Any, shortcut: str | QKeySequence | None = None) -> QAction:
            action = QAction(text, self)
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(slot)
            menu.addAction(action)
            return action

        file_menu = bar.addMenu("&File")
        self.connect_action = add(file_menu, "&Connect WhatsApp…", self.connect_whatsapp)
        self.settings_action = add(file_menu, "&Settings…", self.open_settings, QKeySequence.StandardKey.Preferences)
        file_menu.addSeparator()
        add(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        db = bar.addMenu("&Database")
        self.backup_action = add(db, "&Backup now", m.backup_now)
        self.restore_action = add(db, "&Restore…", lambda: m.restore())
        self.backups_action = add(db, "Back&ups…", self.open_backups)
        db.addSeparator()
        self.migrate_action = add(db, "&Migrate to latest", m.migrate)
        self.rollback_action = add(db, "Roll &back one revision", m.rollback)

        queue = bar.addMenu("&Queue")
        self.retry_all_action = add(queue, "&Retry all failed", m.retry_all)
        self.pause_action = add(queue, "&Pause workers", lambda checked: m.set_paused(checked))
        self.pause_action.setCheckable(True)
        m.finished.connect(self._maintenance_finished)
        self.status.read.connect(lambda st: self._show_paused(st.workers_paused))  # paused from anywhere
        queue.addSeparator()
        self.flush_action = add(queue, "&Flush queue", m.flush)

        view = bar.addMenu("&View")
        group = QActionGroup(self)
        self.view_actions: dict[str, QAction] = {}
        for i, name in enumerate(VIEWS, start=1):
            action = add(view, name, lambda _c=False, n=name: self.show_view(n), f"Ctrl+{i}")
            action.setCheckable(True)
            group.addAction(action)
            self.view_actions[name] = action
        self.view_actions["Chats"].setChecked(True)

        help_menu = bar.addMenu("&Help")
        add(help_menu, "&About MediaDesk", self.about)
        add(help_menu, "Open &data folder", self.open_data_folder)

    # -- life cycle
    def engine_ready(self) -> None:
        """The engine is open and running: load data, start the status bar."""
        self.chats.reload()
        self.status.start()
        self.maintenance_banner.refresh()

    def show_banner(self, text: str) -> None:
        self.banner_text.setText(text)
        self.banner.show()

    def reload(self) -> None:
        self.chats.reload()
        if self.messages.contact_id is not None:
            self.messages.open_chat(self.messages.contact_id)

    def closeEvent(self, event: Any) -> None:
        self.status.stop()
        self.conversation.stop()
        self._reload_timer.stop()
        super().closeEvent(event)

    # -- chats
    def _on_chat_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        chat: ChatSummary = current.data(SummaryRole)
        self.header.show_chat(chat)
        self.chat_export.set_contact(chat.contact_id)
        self.right_stack.setCurrentIndex(1)
        if chat.contact_id != self.messages.contact_id:
            self.messages.open_chat(chat.contact_id)

    def select_chat(self, contact_id: int) -> bool:
        row = self.chats.row_of(contact_id)
        if row < 0:
            return False
        index = self.chats.index(row)
        self.chat_list.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.chat_list.scrollTo(index)
        return True

    def _chat_loaded(self) -> None:
        cid = self.messages.contact_id
        if cid is not None:
            self.chats.mark_read(cid)
            self.chat_opened.emit(cid)

    def _chats_loaded(self) -> None:
        # Keep the open chat selected across reloads and as pages arrive: a reset clears the selection,
        # and new messages move chats to other rows (the list only finds a chat whose page is loaded).
        cid = self.messages.contact_id
        if cid is None:
            return
        selection = self.chat_list.selectionModel()
        current = self.chat_list.currentIndex()
        row = self.chats.row_of(cid)
        if row < 0:
            shown = self.chats.summary(current.row()) if current.isValid() else None
            if shown is not None and shown.contact_id != cid:
                selection.clear()  # the selected row now holds another chat
            return
        index = self.chats.index(row)
        if current != index or not selection.isSelected(index):
            selection.select(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.NoUpdate)
        self.header.show_chat(self.chats.summary(row))

    # -- engine events
    def _on_media_status(self, event: MediaStatusChanged) -> None:
        if event.status == MediaStatus.PENDING:
            self.thumbnails.forget(event.media_id)
        self.messages.on_media_status(event)
        if event.status in (MediaStatus.FAILED, MediaStatus.COMPLETED):
            self._reload_timer.start()  # the failed-media badges change

    def _on_messages_stored(self, _event: Any) -> None:
        self._reload_timer.start()
        self.messages.load_newer()

    def _reload_after_store(self) -> None:
        self.chats.reload()

    def _on_health(self, event: Any) -> None:
        self.status.refresh()
        if event.ok is False and self._last_health_ok is not False:
            problems = [f.detail for f in event.report.findings if not f.ok]
            self.notify("MediaDesk health check", "; ".join(problems) or "Something needs attention")
        self._last_health_ok = event.ok

    def _on_message(self, level: str, text: str) -> None:
        """The bridge's words for the user: a passing note in the status bar; an error stays in the banner."""
        self.status.showMessage(text, MESSAGE_MS.get(level, 15_000))
        if level == "error":
            self.show_banner(text)

    def notify(self, title: str, text: str) -> None:
        if self._tray is None:
            self._tray = TrayNotifier(self)  # without a system tray it logs instead (a server, CI)
        self._tray.notify(title, text)

    def _maintenance_finished(self, action: str, _result: Any) -> None:
        if action in ("Pause workers", "Resume workers"):
            self._show_paused(action == "Pause workers")

    def _show_paused(self, paused: bool) -> None:
        self.pause_action.setChecked(paused)
        self.pause_action.setText("Resume workers" if paused else "Pause workers")

    def _type_to_search(self, text: str) -> None:
        self.search.setFocus()
        self.search.insert(text)

    # -- views
    def show_view(self, name: str) -> None:
        widget = self._views.get(name) or self._create_view(name)
        self._views[name] = widget
        self.stack.setCurrentWidget(widget)
        self.view_actions[name].setChecked(True)
        if hasattr(widget, "refresh"):
            widget.refresh()

    def _create_view(self, name: str) -> QWidget:
        widget: QWidget
        if name == "Health":
            health = HealthView(self.engine, self)
            self.bridge.health_changed.connect(health.on_health_changed)
            widget = health
        elif name == "Charts":
            # Here, not at the top: pyqtgraph costs ~200 ms of imports, paid when the charts are first shown.
            from console.charts_view import ChartsView
            from console.usage_chart import StorageUsageChart

            widget = ChartsView(self.engine.metrics, self)
            widget.add_panel(StorageUsageChart(self.engine.storage_usage))
        elif name == "Logs":
            widget = LogsView(self.log_path, self)
        elif name == "Media":
            from console.media_view import MediaView
            from console.show_in_chat import ShowInChat

            widget = MediaView(self.engine, self.bridge, parent=self)
            self.show_in_chat = ShowInChat(self)
            widget.show_in_chat.connect(self.show_in_chat.show)
        else:
            raise ValueError(f"no view called {name!r}")
        self.stack.addWidget(widget)
        return widget

    # -- File and Help
    def open_settings(self) -> None:
        dialog = SettingsDialog(self.cfg, self, engine=self.engine)
        if dialog.exec():
            self.cfg = dialog.result_config()
            self.apply_settings(self.cfg)

    def connect_whatsapp(self, tunnels: Any = None) -> ConnectWizard:
        """The wizard, not modal: messages keep arriving in the window behind it (`tunnels`: for tests)."""
        wizard = ConnectWizard(self.engine, self.bridge, self, tunnels=tunnels)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        wizard.connected.connect(lambda _done: setattr(self, "cfg", self.engine.cfg))
        wizard.connected.connect(lambda _done: self.reload())
        wizard.open()
        return wizard

    def open_backups(self) -> BackupsDialog:
        dialog = BackupsDialog(self.engine, self.maintenance, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def apply_settings(self, cfg: Config) -> None:
        """Hand saved settings to the running engine, off the GUI thread; then say what changed."""
        engine = self.engine

        def work() -> tuple[list[str], str | None]:
            applied = engine.reconfigure(cfg)
            return applied, engine.listener.address if engine.listener else None

        self.settings_action.setEnabled(False)
        self.status.set_busy("Applying the new settings…")
        run_task(work, self._settings_applied, self._settings_not_applied)

    def _settings_applied(self, result: tuple[list[str], str | None]) -> None:
        applied, address = result
        self.settings_action.setEnabled(True)
        self.status.set_busy(None)
        self._show_listener(address)
        text = ("Settings saved and applied: " + "; ".join(applied) + ".") if applied else "Settings saved."
        self.status.showMessage(text, 20_000)
        self.settings_applied.emit(applied)

    def _settings_not_applied(self, exc: BaseException) -> None:
        self.settings_action.setEnabled(True)
        self.status.set_busy(None)
        if not isinstance(exc, MediaDeskError):
            log.error("applying the settings failed", exc_info=exc)
        listener = self.engine.listener
        self._show_listener(listener.address if listener else None)
        kept = f"\n\nWebhooks are still received on {listener.address}/webhook." if listener else ""
        self.status.showMessage(f"Settings saved but not applied: {exc}", 20_000)
        box = QMessageBox(QMessageBox.Icon.Warning, "Settings not applied",
                          f"The settings were saved, but the running MediaDesk could not use them:\n\n{exc}{kept}",
                          QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setObjectName("settingsError")
        box.open()
        self.settings_failed.emit(str(exc))

    def _show_listener(self, address: str | None) -> None:
        self.status.listener.setText(f"Listening on {address}/webhook" if address else "Listener off")
        self.status.refresh()  # workers and queue figures too

    def about(self) -> None:
        QMessageBox.about(self, "About MediaDesk",
                          f"<b>MediaDesk {version()}</b><p>Every WhatsApp media file, kept.</p>"
                          f"<p>Data folder: {self.cfg.data_dir}</p>")

    def open_data_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.cfg.data_dir)))
