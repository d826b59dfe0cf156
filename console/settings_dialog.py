"""Settings (SPEC section 6): what goes where, and a clear word at each field that cannot work.

The form and its field checks live here; saving is the engine's: non-secret settings go to a flat TOML file
(`save_settings`), secrets to the OS keyring or, where there is none, to a file only the user can read (never
the TOML file, never shown back; the dialog says which), and the workspace's names and ids to its row in the
database (the engine's `library`). Keyring, S3 and database calls can all block, so they run off the GUI thread.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from console.alerts_settings import AlertsSection
from console.backend_group import BackendGroup
from console.backup_settings import BackupScheduleSection
from console.form_styles import ERROR_STYLE, NOTE_STYLE, OK_STYLE, CheckedField
from console.retention_settings import RetentionGroup
from console.settings_checks import (
    Validator,
    digits,
    int_between,
    required,
    validate_bucket,
    validate_delays,
    validate_endpoint,
    validate_graph_version,
    validate_region,
)
from console.tasks import run_task
from engine import (
    Config,
    ConfigError,
    MediaDeskError,
    WorkspaceInfo,
    get_secret,
    keyring_available,
    make_storage,
    save_backend,
    save_settings,
    secrets_path,
    set_secret,
)

log = logging.getLogger(__name__)
STORED_PLACEHOLDER = "•••• stored in keyring"
STORED_IN_FILE_PLACEHOLDER = "•••• stored"
ALERTS_TAB = "Alerts and backups"


def _secrets_state(data_dir: Path) -> tuple[str | None, dict[str, bool]]:
    """Where secrets are kept (None: the OS keyring; else the 0600 file's path), and which are stored."""
    where = None if keyring_available() else str(secrets_path(data_dir))
    return where, {name: get_secret(name, data_dir=data_dir) is not None for name in ("access_token", "app_secret")}


# -- the dialog
class SettingsDialog(QDialog):
    """Edit `cfg`; after OK, `result_config()` is the new Config (already saved to file, keyring and db)."""

    def __init__(self, cfg: Config, parent: QWidget | None = None, engine: Any = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("MediaDesk settings")
        self._cfg = cfg
        self._engine = engine
        self._library = engine.library if engine is not None else None
        self._workspace: WorkspaceInfo | None = None
        self._keyring: dict[str, bool] | None = None
        self._result: Config | None = None
        self._testing = False
        self.fields: dict[str, CheckedField] = {}
        self._build()
        # Wide enough that the notes under the fields wrap in two or three lines, not eight.
        self.setMinimumSize(940, 600)
        self.resize(1000, 860)  # room for the backend group under the others
        self._load_background()
        self.revalidate()

    # -- building
    def _line(self, name: str, text: str = "", validator: Validator | None = None, *,
              placeholder: str = "", secret: bool = False) -> CheckedField:
        edit = QLineEdit(text)
        edit.setObjectName(name)
        edit.setPlaceholderText(placeholder)
        if secret:
            edit.setEchoMode(QLineEdit.EchoMode.Password)
        edit.textChanged.connect(self.revalidate)
        field = CheckedField(edit, validator)
        self.fields[name] = field
        return field

    def _form(self, title: str) -> tuple[QGroupBox, QFormLayout]:
        box = QGroupBox(title)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        return box, form

    def _build(self) -> None:
        c = self._cfg
        ws_box, ws = self._form("WhatsApp workspace")
        ws.addRow("Workspace name", self._line("workspace_name", placeholder="e.g. Rossi Bakery").box)
        ws.addRow("Phone number ID", self._line("phone_number_id", validator=digits("phone number id"),
                                                placeholder="from Meta's WhatsApp > API setup").box)
        ws.addRow("WhatsApp Business account ID", self._line("waba_id", validator=digits("WABA id")).box)
        ws.addRow("Graph API version", self._line("graph_version", c.graph_version, validate_graph_version).box)
        if self._library is None:
            for name in ("workspace_name", "phone_number_id", "waba_id"):
                self.fields[name].editor.setEnabled(False)
                self.fields[name].editor.setPlaceholderText("available while MediaDesk runs")
        self._secrets_note = QLabel("Checking the keyring…")
        self._secrets_note.setStyleSheet(NOTE_STYLE)
        self._secrets_note.setWordWrap(True)
        ws.addRow("Access token", self._line("access_token", secret=True, placeholder="checking the keyring…").box)
        ws.addRow("App secret", self._line("app_secret", secret=True, placeholder="checking the keyring…").box)
        ws.addRow("", self._secrets_note)

        hook_box, hook = self._form("Webhook")
        hook.addRow("Listen on host", self._line("host", c.host, required("host name or address")).box)
        hook.addRow("Port", self._line("port", str(c.port), int_between(1, 65535, "The port")).box)
        hook.addRow("Verify token", self._line("verify_token", c.verify_token or "",
                                               placeholder="any phrase; paste the same in Meta's dashboard").box)
        self._url = QLineEdit()
        self._url.setReadOnly(True)
        self._url.setPlaceholderText("fix the host and port to see the URL")
        self.copy_button = QPushButton("Copy")
        self.copy_button.clicked.connect(self._copy_url)
        url_row = QHBoxLayout()
        url_row.addWidget(self._url, 1)
        url_row.addWidget(self.copy_button)
        hook.addRow("Callback URL", url_row)
        self._url_note = QLabel("Paste it in Meta's dashboard (WhatsApp > Configuration > Webhook). Meta calls "
                                "public HTTPS addresses only: put a tunnel or reverse proxy in front of it.")
        self._url_note.setStyleSheet(NOTE_STYLE)
        self._url_note.setWordWrap(True)
        hook.addRow("", self._url_note)

        store_box, store = self._form("Media storage")
        self.storage_box = QComboBox()
        self.storage_box.addItem("This computer's disk", "local")
        self.storage_box.addItem("Amazon S3 (or compatible)", "s3")
        self.storage_box.setCurrentIndex(1 if c.storage == "s3" else 0)
        self.storage_box.currentIndexChanged.connect(self.revalidate)
        store.addRow("Store media on", self.storage_box)
        store.addRow("S3 bucket", self._line("s3_bucket", c.s3_bucket or "", validate_bucket).box)
        store.addRow("Region", self._line("s3_region", c.s3_region or "", validate_region,
                                          placeholder="e.g. eu-west-1").box)
        store.addRow("Endpoint URL", self._line("s3_endpoint_url", c.s3_endpoint_url or "", validate_endpoint,
                                                placeholder="empty for AWS; set for MinIO, R2, …").box)
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = QLabel("")
        self.test_result.setWordWrap(True)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)
        store.addRow("", test_row)

        dl_box, dl = self._form("Downloads")
        dl.addRow("Retry after (seconds)", self._line("retry_delays", ", ".join(f"{d:g}" for d in c.retry_delays),
                                                      validate_delays).box)
        dl.addRow("Download workers", self._line("workers", str(c.workers), int_between(1, 64, "Workers")).box)
        note = QLabel("Each failed download is tried again after these waits, then shown as failed with Retry. "
                      "Saved changes apply at once; a download in progress finishes first.")
        note.setStyleSheet(NOTE_STYLE)
        note.setWordWrap(True)
        dl.addRow("", note)

        self.alerts = AlertsSection(c, self._engine)
        self.alerts.edited.connect(self.revalidate)
        self.backup_schedule = BackupScheduleSection(c)
        self.backup_schedule.edited.connect(self.revalidate)
        self.backend = BackendGroup(c, self._build_config, self)  # shared backend or this computer (SPEC 11)
        self.backend.changed.connect(self.revalidate)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.save_result = QLabel("")
        self.save_result.setWordWrap(True)
        self.save_result.setStyleSheet(ERROR_STYLE)

        grid = QGridLayout()
        grid.addWidget(ws_box, 0, 0)
        grid.addWidget(hook_box, 1, 0)
        grid.addWidget(store_box, 0, 1)
        grid.addWidget(dl_box, 1, 1)
        self.retention = RetentionGroup(c, self._engine)  # self-contained: its own preview and apply
        grid.addWidget(self.retention, 2, 0, 1, 2)
        self.retention.action.currentIndexChanged.connect(self.revalidate)  # moving to S3 needs the bucket
        grid.addWidget(self.backend, 3, 0, 1, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        # Tabs: a third row of sections squeezed every field and clipped the notes under them.
        main = QWidget()
        main.setLayout(grid)
        self.tabs = QTabWidget()
        self.tabs.addTab(main, "WhatsApp and storage")
        self.tabs.addTab(self._alerts_tab(), ALERTS_TAB)
        root = QVBoxLayout(self)
        root.addWidget(self.tabs, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.save_result, 1)
        bottom.addWidget(self.buttons)
        root.addLayout(bottom)

    def _alerts_tab(self) -> QWidget:
        tab = QWidget()
        row = QHBoxLayout(tab)
        row.addWidget(self.alerts, 3)
        side = QVBoxLayout()
        side.addWidget(self.backup_schedule)
        side.addStretch(1)
        row.addLayout(side, 2)
        return tab

    # -- loading what lives outside Config
    def _load_background(self) -> None:
        data_dir = self._cfg.data_dir
        run_task(lambda: _secrets_state(data_dir), self._on_keyring, self._on_keyring_error)
        if self._library is not None:
            run_task(self._library.workspace, self._on_workspace, self._on_workspace_error)

    def _on_keyring(self, found: tuple[str | None, dict[str, bool]] | None) -> None:
        if not shiboken6.isValid(self):
            return
        env = {"access_token": "MEDIADESK_ACCESS_TOKEN", "app_secret": "MEDIADESK_APP_SECRET"}
        if found is None:  # the keyring or the secrets file could not even be read: the log says why
            for name in env:
                self.fields[name].editor.setEnabled(False)
                self.fields[name].editor.setPlaceholderText("cannot be read here")
            self._secrets_note.setText("The stored secrets could not be read (see Logs). Set MEDIADESK_ACCESS_TOKEN "
                                       "and MEDIADESK_APP_SECRET in the environment before starting MediaDesk.")
            return
        where, state = found
        self._keyring = state
        for name, var in env.items():
            edit = self.fields[name].editor
            if os.environ.get(var):
                edit.setPlaceholderText(f"set by {var} (the environment wins)")
            elif state.get(name):
                edit.setPlaceholderText(STORED_PLACEHOLDER if where is None else STORED_IN_FILE_PLACEHOLDER)
            else:
                edit.setPlaceholderText("not set")
        self._secrets_note.setText("Saved in the OS keyring, never shown again. Leave empty to keep what is stored."
                                   if where is None else
                                   f"No OS keyring here: saved in {where}, which only you can read; never shown "
                                   "again. Leave empty to keep what is stored.")

    def _on_keyring_error(self, exc: BaseException) -> None:
        log.error("could not check the keyring", exc_info=exc)
        if shiboken6.isValid(self):
            self._on_keyring(None)

    def _on_workspace(self, info: WorkspaceInfo | None) -> None:
        if not shiboken6.isValid(self) or info is None:
            return
        self._workspace = info
        # Only fill fields the user has not started typing in while the row loaded.
        for name, value in (("workspace_name", info.name), ("phone_number_id", info.phone_number_id),
                            ("waba_id", info.waba_id)):
            edit = self.fields[name].editor
            if not edit.isModified() and not edit.text():
                edit.setText(value)

    def _on_workspace_error(self, exc: BaseException) -> None:
        if shiboken6.isValid(self):
            self.save_result.setText(f"Could not read the workspace: {exc}")

    # -- validation
    def _text(self, name: str) -> str:
        return self.fields[name].editor.text().strip()

    @property
    def storage(self) -> str:
        return str(self.storage_box.currentData())

    @property
    def _s3_in_use(self) -> bool:
        """New files go to S3, or the retention policy moves old ones there: either way the bucket is needed."""
        retention = getattr(self, "retention", None)
        return self.storage == "s3" or (retention is not None and retention.action_value == "s3")

    def revalidate(self) -> bool:
        """Check every field; show each message at its field; OK only when all are fine."""
        s3 = self._s3_in_use
        for name in ("s3_bucket", "s3_region", "s3_endpoint_url"):
            self.fields[name].editor.setEnabled(s3)
        ok = True
        for name, field in self.fields.items():
            ok &= field.check(active=s3 or not name.startswith("s3_"))
        port_ok = self.fields["host"].check() and self.fields["port"].check()
        self._url.setText(f"http://{self._text('host')}:{self._text('port')}/webhook" if port_ok else "")
        self.copy_button.setEnabled(port_ok)
        ok &= self.backend.valid()
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
        sections_ok = self.alerts.valid() & self.backup_schedule.valid()
        if hasattr(self, "tabs"):  # a field there can be wrong while another tab is shown: the tab says so
            self.tabs.setTabText(1, ALERTS_TAB if sections_ok else f"{ALERTS_TAB} ⚠")
        ok &= sections_ok
        storage_ok = all(self.fields[n].check(active=s3) for n in ("s3_bucket", "s3_region", "s3_endpoint_url"))
        self.test_button.setEnabled(storage_ok and not self._testing)
        return ok

    def _build_config(self) -> Config:
        """The Config the fields describe; raises ConfigError when a field is invalid."""
        if not self.revalidate():
            raise ConfigError("some settings are not valid; see the messages at the fields")
        s3 = self._s3_in_use
        secrets = {name: self._text(name) for name in ("access_token", "app_secret") if self._text(name)}
        return self.backend.apply(self._cfg.with_changes(
            graph_version=self._text("graph_version"),
            host=self._text("host"),
            port=int(self._text("port")),
            verify_token=self._text("verify_token") or None,
            storage=self.storage,
            s3_bucket=(self._text("s3_bucket") or None) if s3 else self._cfg.s3_bucket,
            s3_region=(self._text("s3_region") or None) if s3 else self._cfg.s3_region,
            s3_endpoint_url=(self._text("s3_endpoint_url") or None) if s3 else self._cfg.s3_endpoint_url,
            retry_delays=self._text("retry_delays"),
            workers=int(self._text("workers")),
            **self.retention.changes(),
            **self.alerts.changes(),
            **self.backup_schedule.changes(),
            **secrets,
            **self.alerts.secrets(),
        ))

    def result_config(self) -> Config:
        """The settings as saved after OK; before that, what the fields say now."""
        return self._result if self._result is not None else self._build_config()

    # -- actions
    def _copy_url(self) -> None:
        QGuiApplication.clipboard().setText(self._url.text())
        self._url_note.setText("Copied. Paste it in Meta's dashboard as the callback URL, with the verify token.")

    def test_connection(self) -> None:
        """Try to store a file where media would go, with the values typed (not yet saved)."""
        s3 = self._s3_in_use
        cfg = self._cfg.with_changes(
            storage="s3" if s3 else self.storage,
            s3_bucket=self._text("s3_bucket") if s3 else self._cfg.s3_bucket,
            s3_region=(self._text("s3_region") or None) if s3 else self._cfg.s3_region,
            s3_endpoint_url=(self._text("s3_endpoint_url") or None) if s3 else self._cfg.s3_endpoint_url,
        )

        def work() -> str:
            return make_storage(cfg).test_connection()

        self._testing = True
        self.test_button.setEnabled(False)
        self.test_button.setText("Testing…")
        self.test_result.setStyleSheet(NOTE_STYLE)
        self.test_result.setText("Writing a small test file…")
        run_task(work, self._on_tested, self._on_test_failed)

    def _on_tested(self, message: str) -> None:
        if shiboken6.isValid(self):
            self._show_test("✔ " + message[:1].upper() + message[1:], OK_STYLE)

    def _on_test_failed(self, exc: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        if not isinstance(exc, MediaDeskError):
            log.error("storage test failed unexpectedly", exc_info=exc)
        self._show_test(f"✖ {exc}", ERROR_STYLE)

    def _show_test(self, text: str, style: str) -> None:
        self._testing = False
        self.test_button.setText("Test connection")
        self.test_result.setStyleSheet(style)
        self.test_result.setText(text)
        self.revalidate()

    def accept(self) -> None:
        """Save off the GUI thread; close only once file, keyring and database all took the settings."""
        try:
            cfg = self._build_config()
        except ConfigError as exc:
            self.save_result.setText(str(exc))
            return
        secrets = {name: self._text(name) for name in ("access_token", "app_secret") if self._text(name)}
        if (cfg.verify_token or None) != (self._cfg.verify_token or None):
            secrets["verify_token"] = cfg.verify_token or ""
        data_dir = self._cfg.data_dir
        # Beside the others in the keyring, or in the data folder's private file where there is none.
        file_secrets = self.alerts.secrets()
        library, ws = self._library, None
        if library is not None:
            base = self._workspace
            ws = WorkspaceInfo(base.id if base else None, self._text("workspace_name"),
                               self._text("phone_number_id"), self._text("waba_id"))

        def work() -> Config:
            save_settings(cfg)
            save_backend(cfg)
            for name, value in secrets.items():
                set_secret(name, value or None, data_dir=data_dir)
            for name, value in file_secrets.items():
                set_secret(name, value, data_dir=data_dir)
            if library is not None and ws is not None:
                library.save_workspace(ws, graph_version=cfg.graph_version)
            return cfg

        self.buttons.setEnabled(False)
        self.save_result.setStyleSheet(NOTE_STYLE)
        self.save_result.setText("Saving…")
        run_task(work, self._on_saved, self._on_save_failed)

    def _on_saved(self, cfg: Config) -> None:
        if shiboken6.isValid(self):
            self._result = cfg
            super().accept()

    def _on_save_failed(self, exc: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        if not isinstance(exc, MediaDeskError | OSError):
            log.error("saving the settings failed", exc_info=exc)
        self.buttons.setEnabled(True)
        self.save_result.setStyleSheet(ERROR_STYLE)
        self.save_result.setText(f"Not saved: {exc}")
