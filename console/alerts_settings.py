"""The Settings dialog's Alerts section: where health alerts go (a Slack-style webhook, email over SMTP), and
"Send test alert" to find out now, not on the day the disk fills up.

Self-contained: the dialog asks it for `changes()` (Config fields), `secrets()` (the SMTP password, for the
keyring or the private secrets file) and `valid()`, and revalidates on `edited`. The test alert goes through
the running engine with the values typed (not yet saved), off the GUI thread; its outcome per channel is shown
in words here and recorded by the engine, whose "alert delivery" health finding keeps a failure in view.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

import shiboken6
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from console.form_styles import ERROR_STYLE, NOTE_STYLE, OK_STYLE, CheckedField
from console.tasks import run_task
from engine import AlertDelivery, Config, ConfigError, MediaDeskError

log = logging.getLogger(__name__)

SECURITY = (("STARTTLS (port 587)", "starttls"), ("TLS (port 465)", "tls"), ("None (not encrypted)", "none"))
CHANNEL_WORDS = {"webhook": "Webhook", "email": "Email"}
_ADDRESS = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")


def addresses(text: str) -> list[str]:
    return [a.strip() for a in text.split(",") if a.strip()]


def check_webhook_url(text: str) -> str | None:
    text = text.strip()
    if text and not re.match(r"https?://[^\s/]+", text):
        return "Paste the whole webhook URL, starting with https://."
    return None


def check_addresses(text: str, *, needed: bool) -> str | None:
    found = addresses(text)
    if needed and not found:
        return "Add at least one recipient, or clear the SMTP server to send no email."
    bad = [a for a in found if not _ADDRESS.fullmatch(a)]
    return f"Not an email address: {', '.join(bad)}." if bad else None


def delivery_words(deliveries: list[AlertDelivery]) -> list[tuple[bool, str]]:
    """One line per channel, for the owner: (ok, words)."""
    out = []
    for d in deliveries:
        name = CHANNEL_WORDS.get(d.channel, d.channel)
        out.append((True, f"✔ {name}: the test alert was sent.") if d.ok
                   else (False, f"✖ {name}: not sent: {(d.error or 'no reason given').rstrip('.')}."))
    return out


class AlertsSection(QGroupBox):
    edited = Signal()  # a field changed: the dialog revalidates
    tested = Signal(list)  # [(ok, words)] once a test alert finished (tests wait on it)

    def __init__(self, cfg: Config, engine: Any = None, parent: QWidget | None = None) -> None:
        super().__init__("Alerts", parent)
        self.setObjectName("alertsSection")
        self._cfg = cfg
        self._engine = engine
        self._testing = False
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.webhook_url = self._edit("alert_webhook_url", cfg.alert_webhook_url or "",
                                      "a Slack, Mattermost or Teams incoming webhook (optional)")
        self.smtp_host = self._edit("smtp_host", cfg.smtp_host or "", "e.g. smtp.example.com (optional)")
        self.smtp_port = QSpinBox()
        self.smtp_port.setObjectName("smtp_port")
        self.smtp_port.setRange(1, 65535)
        self.smtp_port.setValue(cfg.smtp_port)
        self.smtp_port.valueChanged.connect(self._edited)
        self.security = QComboBox()
        self.security.setObjectName("smtp_security")
        for words, value in SECURITY:
            self.security.addItem(words, value)
        self.security.setCurrentIndex(max(0, self.security.findData(cfg.smtp_security)))
        self.security.currentIndexChanged.connect(self._security_changed)
        self.smtp_user = self._edit("smtp_user", cfg.smtp_user or "", "the mail account, if the server needs one")
        self.smtp_password = self._edit("smtp_password", "", "")
        self.smtp_password.editor.setEchoMode(QLineEdit.EchoMode.Password)
        if os.environ.get("MEDIADESK_SMTP_PASSWORD"):
            self.smtp_password.editor.setPlaceholderText("set by MEDIADESK_SMTP_PASSWORD (the environment wins)")
        else:
            self.smtp_password.editor.setPlaceholderText("•••• stored, leave empty to keep it" if cfg.smtp_password
                                                         else "not set")
        self.recipients = self._edit("alert_email_to", ", ".join(cfg.alert_email_to),
                                     "who gets the email, separated by commas")
        self.sender = self._edit("alert_email_from", cfg.alert_email_from or "",
                                 "the From address (default: the mail account)")
        server = QHBoxLayout()
        server.addWidget(self.smtp_host.box, 1)
        server.addWidget(QLabel("Port"))
        server.addWidget(self.smtp_port)
        form.addRow("Webhook URL", self.webhook_url.box)
        form.addRow("SMTP server", server)
        form.addRow("Security", self.security)
        form.addRow("User name", self.smtp_user.box)
        form.addRow("Password", self.smtp_password.box)
        form.addRow("Send to", self.recipients.box)
        form.addRow("From", self.sender.box)
        self.test_button = QPushButton("Send test alert")
        self.test_button.setObjectName("sendTestAlert")
        self.test_button.clicked.connect(self.send_test)
        self.test_result = QLabel("")
        self.test_result.setObjectName("testAlertResult")
        self.test_result.setWordWrap(True)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)
        form.addRow("", test_row)
        note = QLabel("MediaDesk sends one alert when its health check turns bad and one when it recovers. A "
                      "failure to send shows in View > Health as “alert delivery”.")
        note.setStyleSheet(NOTE_STYLE)
        note.setWordWrap(True)
        form.addRow("", note)
        self.valid()

    def _edit(self, name: str, text: str, placeholder: str) -> CheckedField:
        edit = QLineEdit(text)
        edit.setObjectName(name)
        edit.setPlaceholderText(placeholder)
        edit.textChanged.connect(self._edited)
        return CheckedField(edit)

    def _edited(self, *_args: Any) -> None:
        self.valid()
        self.edited.emit()

    def _security_changed(self, _index: int) -> None:
        # The usual port follows the security, unless the owner typed another one.
        usual = {"starttls": 587, "tls": 465}
        if self.smtp_port.value() in (587, 465, 25) and self.security.currentData() in usual:
            self.smtp_port.setValue(usual[self.security.currentData()])
        self._edited()

    # -- what the dialog asks
    def valid(self) -> bool:
        email = bool(self.smtp_host.editor.text().strip())
        ok = self.webhook_url.show(check_webhook_url(self.webhook_url.editor.text()))
        ok &= self.recipients.show(check_addresses(self.recipients.editor.text(), needed=email))
        sender = self.sender.editor.text().strip()
        ok &= self.sender.show(None if not sender or _ADDRESS.fullmatch(sender) else
                               f"Not an email address: {sender}.")
        has_channel = bool(self.webhook_url.editor.text().strip()) or (email and bool(addresses(
            self.recipients.editor.text())))
        self.test_button.setEnabled(ok and has_channel and self._engine is not None and not self._testing)
        self.test_button.setToolTip("" if self._engine is not None else "available while MediaDesk runs")
        return ok

    def changes(self) -> dict[str, Any]:
        """The Config fields this section sets."""
        text = {name: field.editor.text().strip() for name, field in (
            ("alert_webhook_url", self.webhook_url), ("smtp_host", self.smtp_host), ("smtp_user", self.smtp_user),
            ("alert_email_from", self.sender))}
        return {**{k: v or None for k, v in text.items()},
                "smtp_port": self.smtp_port.value(), "smtp_security": str(self.security.currentData()),
                "alert_email_to": tuple(addresses(self.recipients.editor.text()))}

    def secrets(self) -> dict[str, str]:
        """The password typed, if any (empty keeps what is stored)."""
        typed = self.smtp_password.editor.text()
        return {"smtp_password": typed} if typed else {}

    # -- the test alert
    def send_test(self) -> None:
        try:
            cfg = self._cfg.with_changes(**self.changes(), **self.secrets())
        except ConfigError as exc:
            self._show([(False, f"✖ {exc}")])
            return
        engine = self._engine

        def work() -> list[AlertDelivery]:
            return engine.send_test_alert(cfg)

        self._testing = True
        self.test_button.setEnabled(False)
        self.test_button.setText("Sending…")
        self.test_result.setStyleSheet(NOTE_STYLE)
        self.test_result.setText("Sending a test alert to every channel filled in…")
        run_task(work, lambda deliveries: self._show(delivery_words(deliveries)), self._failed)

    def _failed(self, exc: BaseException) -> None:
        if not isinstance(exc, MediaDeskError):
            log.error("the test alert failed unexpectedly", exc_info=exc)
        self._show([(False, f"✖ The test alert could not be sent: {exc}")])

    def _show(self, lines: list[tuple[bool, str]]) -> None:
        if not shiboken6.isValid(self):
            return
        self._testing = False
        self.test_button.setText("Send test alert")
        self.test_result.setStyleSheet(OK_STYLE if all(ok for ok, _ in lines) else ERROR_STYLE)
        self.test_result.setText("\n".join(words for _, words in lines))
        self.valid()
        self.tested.emit(lines)
