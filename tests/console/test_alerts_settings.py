"""Settings > Alerts against a real engine: a real webhook server on loopback, a mail server that is not there,
"Send test alert" in words per channel, the fields saved, the failure in the health view."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PySide6.QtCore import Qt

from console.health_view import HealthView
from console.settings_dialog import SettingsDialog
from engine import Config, MediaDeskEngine, load_config


class Hook:
    """A Slack-style incoming webhook on loopback that answers `status` and keeps what it was sent."""

    def __init__(self) -> None:
        self.status = 200
        self.received: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok" if hook.status == 200 else b"channel_is_archived")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0/B0"
        self.thread = threading.Thread(target=self.server.serve_forever, name="test-hook", daemon=True)


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    h.thread.start()
    yield h
    h.server.shutdown()
    h.server.server_close()
    h.thread.join(5)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once it is closed


@pytest.fixture
def file_secrets() -> Iterator[None]:
    """No keyring, as on a server: the SMTP password goes to the data folder's private secrets file."""
    import keyring
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)


def _fill(d: SettingsDialog, **values: str) -> None:
    for name, value in values.items():
        getattr(d.alerts, name).editor.setText(value)


def test_send_test_alert_says_per_channel_how_it_went(qtbot: Any, engine: MediaDeskEngine, cfg: Config, hook: Hook,
                                                      closed_port: int) -> None:
    d = SettingsDialog(cfg, engine=engine)
    qtbot.addWidget(d)
    assert not d.alerts.test_button.isEnabled()  # no channel filled in yet
    _fill(d, webhook_url=hook.url, smtp_host="127.0.0.1", recipients="owner@example.com")
    d.alerts.smtp_port.setValue(closed_port)
    d.alerts.security.setCurrentIndex(d.alerts.security.findData("none"))
    assert d.alerts.test_button.isEnabled()
    with qtbot.waitSignal(d.alerts.tested, timeout=20_000) as done:
        qtbot.mouseClick(d.alerts.test_button, Qt.MouseButton.LeftButton)
    (hook_ok, hook_words), (mail_ok, mail_words) = done.args[0]
    assert hook_ok and hook_words == "✔ Webhook: the test alert was sent."
    assert hook.received[0]["text"].startswith("Test alert from MediaDesk")
    assert not mail_ok and mail_words.startswith("✖ Email: not sent: the mail server 127.0.0.1:")
    assert "could not be reached" in mail_words
    assert d.alerts.test_result.text() == f"{hook_words}\n{mail_words}"
    assert engine.cfg.alert_webhook_url is None  # the typed values were tried, nothing was saved


def test_bad_fields_are_named_and_block_ok(qtbot: Any, cfg: Config) -> None:
    d = SettingsDialog(cfg)
    qtbot.addWidget(d)
    d.fields["port"].editor.setText("8787")  # these tests' engines listen on port 0, which the form refuses
    assert d.revalidate()
    _fill(d, webhook_url="hooks.slack.com/x", smtp_host="mail.example.com")
    assert "starting with https://" in d.alerts.webhook_url.message.text()
    assert "at least one recipient" in d.alerts.recipients.message.text()
    assert not d.revalidate()
    _fill(d, webhook_url="https://hooks.slack.com/x", recipients="owner@example.com, nobody")
    assert d.alerts.recipients.message.text() == "Not an email address: nobody."
    _fill(d, recipients="owner@example.com, ops@example.com")
    assert d.revalidate()
    assert not d.alerts.test_button.isEnabled()  # no engine: the test alert needs MediaDesk running


def test_saved_alerts_reach_the_file_and_secrets_and_a_failure_the_health_view(
        qtbot: Any, engine: MediaDeskEngine, cfg: Config, hook: Hook, file_secrets: None) -> None:
    d = SettingsDialog(cfg, engine=engine)
    qtbot.addWidget(d)
    _fill(d, webhook_url=hook.url, smtp_host="mail.example.com", smtp_user="owner", smtp_password="s3cret",
          recipients="owner@example.com", sender="mediadesk@example.com")
    d.alerts.security.setCurrentIndex(d.alerts.security.findData("tls"))
    assert d.alerts.smtp_port.value() == 465  # the usual port follows the security
    d.backup_schedule.every_hours.setValue(6)
    d.backup_schedule.keep.setValue(3)
    d.fields["port"].editor.setText("8787")
    with qtbot.waitSignal(d.finished, timeout=10_000):
        d.accept()
    saved = d.result_config()
    again = load_config({"data_dir": cfg.data_dir}, environ={})
    assert again.alert_webhook_url == hook.url and again.smtp_host == "mail.example.com"
    assert again.smtp_port == 465 and again.smtp_security == "tls" and again.smtp_user == "owner"
    assert again.alert_email_to == ("owner@example.com",) and again.alert_email_from == "mediadesk@example.com"
    assert again.smtp_password == "s3cret"  # from the 0600 secrets file: there is no keyring here
    assert (cfg.data_dir / "secrets.json").stat().st_mode & 0o077 == 0
    assert "s3cret" not in (cfg.data_dir / "mediadesk.toml").read_text()
    assert (again.backup_every_hours, again.backup_keep) == (6, 3)

    hook.status = 404
    engine.reconfigure(saved.with_changes(port=cfg.port, smtp_host=None, alert_email_to=()))  # same listener
    deliveries = engine.send_test_alert()
    assert [d.ok for d in deliveries] == [False]
    view = HealthView(engine)
    qtbot.addWidget(view)
    view.run_check()
    qtbot.waitUntil(lambda: view.report is not None
                    and any(f.name == "alert delivery" for f in view.report.findings), timeout=20_000)
    finding = next(f for f in view.report.findings if f.name == "alert delivery")
    assert not finding.ok
    assert finding.detail.startswith("the last alert could not be sent: webhook at ")
    assert "T" not in finding.detail.split(" at ")[1][:19]  # a date and a time, not ISO's 2026-01-01T10:00
    assert "the webhook answered 404: channel_is_archived" in finding.detail
