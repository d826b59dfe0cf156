"""Settings' "Where MediaDesk runs" group: this computer (listener and workers here), or a shared backend.

Attached to a shared backend (SPEC 11), the console only shows and steers: the database URL, the queue (in the
database, or Redis) and, under Media storage, the S3 bucket every worker writes to. Passwords and S3 keys are
typed here and saved by the engine to the keyring (or the private secrets file), never to the TOML file, and
never shown back. "Test connection" tries the typed values off the GUI thread and says in one line what is wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from console.form_styles import ERROR_STYLE, NOTE_STYLE, OK_STYLE
from console.tasks import run_task
from engine import BackendChoice, Config, ConfigError, MediaDeskError, check_backend

log = logging.getLogger(__name__)
KEEP_PLACEHOLDER = "leave empty to keep the stored one"


def validate_database_url(text: str) -> str | None:
    t = text.strip()
    if not t:
        return "Enter the shared database's URL, e.g. postgresql://mediadesk@db.example.com/mediadesk."
    if not t.startswith(("postgresql://", "postgres://", "postgresql+psycopg://", "sqlite:///")):
        return "The URL starts with postgresql:// (or sqlite:/// for a file on this computer)."
    return None


def validate_redis_url(text: str) -> str | None:
    t = text.strip()
    return None if t.startswith(("redis://", "rediss://", "unix://")) else "Enter the Redis URL, e.g. redis://host:6379/0."


class BackendGroup(QGroupBox):
    """The choice and its fields; `choice()` is what they say, `valid()` whether OK may save it."""

    changed = Signal()  # a field changed: the dialog revalidates
    tested = Signal(bool, str)  # the connection test's outcome (tests wait on it)

    def __init__(self, cfg: Config, typed_config: Callable[[], Config], parent: QWidget | None = None) -> None:
        super().__init__("Where MediaDesk runs", parent)
        self.setObjectName("backendGroup")
        self._typed_config = typed_config  # the dialog's other fields (S3 bucket...) as typed
        self._testing = False
        now = BackendChoice.from_config(cfg)
        self.here = QRadioButton("This computer receives webhooks and downloads media")
        self.shared = QRadioButton("Connect to a shared MediaDesk backend")
        self.here.setObjectName("backendHere")
        self.shared.setObjectName("backendShared")
        buttons = QButtonGroup(self)
        buttons.addButton(self.here)
        buttons.addButton(self.shared)
        (self.shared if now.attached else self.here).setChecked(True)

        self.database_url = self._edit("database_url", now.database_url or "",
                                       "postgresql://mediadesk@db.example.com:5432/mediadesk")
        self.database_password = self._edit("database_password", "", KEEP_PLACEHOLDER if cfg.database_password
                                            else "if the URL has none", secret=True)
        self.queue = QComboBox()
        self.queue.setObjectName("queue_kind")
        self.queue.addItem("In the database", "database")
        self.queue.addItem("Redis", "redis")
        self.queue.setCurrentIndex(1 if now.redis_url else 0)
        self.queue.currentIndexChanged.connect(self._on_change)
        self.redis_url = self._edit("redis_url", now.redis_url or "", "redis://:password@cache.example.com:6379/0")
        self.s3_key_id = self._edit("s3_access_key_id", "", KEEP_PLACEHOLDER if cfg.s3_access_key_id
                                    else "empty: the AWS environment or ~/.aws")
        self.s3_secret = self._edit("s3_secret_access_key", "", KEEP_PLACEHOLDER if cfg.s3_secret_access_key
                                    else "with the access key ID", secret=True)
        self.workers = QCheckBox("Also download media on this computer")
        self.workers.setObjectName("attached_workers")
        self.workers.setChecked(now.attached_workers)
        self.message = QLabel("")
        self.message.setObjectName("backendMessage")
        self.message.setWordWrap(True)
        self.message.setStyleSheet(ERROR_STYLE)
        self.test_button = QPushButton("Test connection")
        self.test_button.setObjectName("backendTest")
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = QLabel("")
        self.test_result.setObjectName("backendTestResult")
        self.test_result.setWordWrap(True)

        # Two fields a row: the group sits under the four others and must not push OK off a laptop's screen.
        grid = QGridLayout()
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(3, 2)
        for row, (label, first, label2, second) in enumerate((
                ("Database URL", self.database_url, "Password", self.database_password),
                ("Download queue", self.queue, "Redis URL", self.redis_url),
                ("S3 access key ID", self.s3_key_id, "S3 secret key", self.s3_secret))):
            grid.addWidget(QLabel(label), row, 0)
            grid.addWidget(first, row, 1)
            grid.addWidget(QLabel(label2), row, 2)
            grid.addWidget(second, row, 3)
        test_row = QHBoxLayout()
        test_row.addWidget(self.workers)
        test_row.addSpacing(16)
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)
        note = QLabel("Attached, this console receives no webhooks and runs no download workers unless asked: "
                      "it shows every chat and media of the backend live, and Retry, Flush and Pause act on the "
                      "shared queue. Files on S3: choose Amazon S3 under Media storage, with the backend's bucket. "
                      "Passwords and keys go to the keyring, never to the settings file. Applies at the next start.")
        note.setStyleSheet(NOTE_STYLE)
        note.setWordWrap(True)
        choice_row = QHBoxLayout()
        choice_row.addWidget(self.here)
        choice_row.addWidget(self.shared)
        choice_row.addStretch(1)
        col = QVBoxLayout(self)
        col.addLayout(choice_row)
        col.addLayout(grid)
        col.addLayout(test_row)
        col.addWidget(self.message)
        col.addWidget(note)
        self.here.toggled.connect(self._on_change)
        self._on_change()

    def _edit(self, name: str, text: str, placeholder: str, *, secret: bool = False) -> QLineEdit:
        edit = QLineEdit(text)
        edit.setObjectName(name)
        edit.setPlaceholderText(placeholder)
        if secret:
            edit.setEchoMode(QLineEdit.EchoMode.Password)
        edit.textChanged.connect(self._on_change)
        return edit

    @property
    def attached(self) -> bool:
        return self.shared.isChecked()

    def _uses_redis(self) -> bool:
        return self.queue.currentData() == "redis"

    def _on_change(self) -> None:
        on = self.attached
        for w in (self.database_url, self.database_password, self.queue, self.s3_key_id, self.s3_secret,
                  self.workers):
            w.setEnabled(on)
        self.redis_url.setEnabled(on and self._uses_redis())
        self.valid()
        self.changed.emit()

    def problem(self) -> str | None:
        """What keeps the typed backend from being saved, or None."""
        if not self.attached:
            return None
        return validate_database_url(self.database_url.text()) or (
            validate_redis_url(self.redis_url.text()) if self._uses_redis() else None)

    def valid(self) -> bool:
        problem = self.problem()
        self.message.setText(problem or "")
        self.message.setVisible(bool(problem))
        self.test_button.setEnabled(self.attached and problem is None and not self._testing)
        return problem is None

    def choice(self) -> BackendChoice:
        def text(edit: QLineEdit) -> str | None:
            return edit.text().strip() or None

        return BackendChoice(attached=self.attached, database_url=text(self.database_url),
                             database_password=self.database_password.text() or None,
                             redis_url=text(self.redis_url) if self._uses_redis() else None,
                             attached_workers=self.workers.isChecked(),
                             s3_access_key_id=text(self.s3_key_id), s3_secret_access_key=self.s3_secret.text() or None)

    def apply(self, cfg: Config) -> Config:
        return self.choice().apply(cfg)

    # -- the connection test
    def test_connection(self) -> None:
        try:
            cfg = self.apply(self._typed_config())
        except ConfigError as exc:
            self._show(False, f"✖ {exc}")
            return
        self._testing = True
        self.test_button.setText("Testing…")
        self.valid()
        self.test_result.setStyleSheet(NOTE_STYLE)
        self.test_result.setText("Connecting to the database, the queue and the storage…")
        run_task(lambda: check_backend(cfg), self._on_tested, self._on_failed)

    def _on_tested(self, said: str) -> None:
        if shiboken6.isValid(self):
            self._show(True, "✔ " + said[:1].upper() + said[1:])

    def _on_failed(self, exc: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        if not isinstance(exc, MediaDeskError):
            log.error("the backend test failed unexpectedly", exc_info=exc)
        self._show(False, f"✖ {exc}")

    def _show(self, ok: bool, text: str) -> None:
        self._testing = False
        self.test_button.setText("Test connection")
        self.test_result.setStyleSheet(OK_STYLE if ok else ERROR_STYLE)
        self.test_result.setText(text)
        self.valid()
        self.tested.emit(ok, text)
