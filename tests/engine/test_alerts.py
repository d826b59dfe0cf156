"""Alerts on health changes: a real HTTP receiver and a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from mediadesk_testkit import MEDIADESK_BIN, build_config, wait_until

from engine import alerts
from engine.alerts import DELIVERY_FINDING, send_test_alert
from engine.config import Config, load_config
from engine.db import ChatMedia, Database, MediaStatus
from engine.errors import ConfigError
from engine.health import last_report
from engine.monitoring import check_health
from engine.storage import LocalStorage


class Receiver:
    """A Slack-style incoming webhook that keeps every POST and answers `status` (200 by default)."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status, self.delay = status, delay
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.posts.append({"type": self.headers.get("Content-Type", ""), "body": body})
                time.sleep(receiver.delay)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def texts(self) -> list[str]:
        with self.lock:
            return [json.loads(p["body"])["text"] for p in self.posts]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """aiosmtpd's handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def hook() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    """A plain SMTP server with AUTH (user 'owner', password 'pw'), as a small office relay is."""
    box = Mailbox()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"owner", b"pw")
        return AuthResult(success=ok, handled=False)

    port = free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port, authenticator=authenticate, auth_require_tls=False)
    ctl.start()
    yield box, port
    ctl.stop()


def add_failed(db: Database, n: int) -> None:
    with db.session() as s:
        s.add_all(ChatMedia(name=f"f{i}.jpg", processing_status=MediaStatus.FAILED) for i in range(n))


def set_ok(db: Database) -> None:
    with db.session() as s:
        s.query(ChatMedia).delete()


def check(cfg: Config, db: Database):  # type: ignore[no-untyped-def]
    return check_health(cfg, db, lambda _loc: LocalStorage(cfg.data_dir))


def test_one_post_when_health_turns_bad_none_while_unchanged_one_on_recovery(
        data_dir: Path, database: Database, hook: Receiver) -> None:
    cfg = build_config(data_dir, alert_webhook_url=hook.url)
    assert check(cfg, database).ok and hook.texts() == []  # healthy from the start: nothing to say
    add_failed(database, 11)
    assert not check(cfg, database).ok
    assert len(hook.texts()) == 1 and "failed" in hook.texts()[0] and "11 failed today" in hook.texts()[0]
    assert hook.posts[0]["type"] == "application/json"
    add_failed(database, 3)  # still bad for the same reason: the count is not a change
    check(cfg, database)
    check(cfg, database)
    assert len(hook.texts()) == 1
    set_ok(database)
    assert check(cfg, database).ok
    assert len(hook.texts()) == 2 and "healthy again" in hook.texts()[1]
    assert next(f for f in last_report(database).findings if f.name == DELIVERY_FINDING).ok


def test_the_last_alerted_state_survives_a_restart(data_dir: Path, database: Database, hook: Receiver) -> None:
    cfg = build_config(data_dir, alert_webhook_url=hook.url)
    add_failed(database, 11)
    check(cfg, database)
    database.dispose()
    again = Database(cfg.sqlalchemy_url)  # as a new process would open it
    try:
        assert not check(cfg, again).ok
    finally:
        again.dispose()
    assert len(hook.texts()) == 1


def test_several_processes_on_one_database_send_one_alert(data_dir: Path, database: Database,
                                                          hook: Receiver) -> None:
    add_failed(database, 11)
    env = {**os.environ, "MEDIADESK_ALERT_WEBHOOK_URL": hook.url,
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    procs = [subprocess.Popen([str(MEDIADESK_BIN), "health", "--data-dir", str(data_dir)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    outputs = [p.communicate(timeout=120) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes == [1, 1, 1, 1], [err.decode()[-500:] for _, err in outputs]  # every one saw health bad
    assert len(hook.texts()) == 1


def test_a_failing_webhook_is_recorded_not_raised_and_cleared_by_the_next_alert(
        data_dir: Path, database: Database, caplog: pytest.LogCaptureFixture) -> None:
    refusing = Receiver(status=500)
    try:
        cfg = build_config(data_dir, alert_webhook_url=refusing.url)
        add_failed(database, 11)
        report = check(cfg, database)
        delivery = next(f for f in report.findings if f.name == DELIVERY_FINDING)
        assert not delivery.ok and "webhook" in delivery.detail and "500" in delivery.detail
        stored = next(f for f in last_report(database).findings if f.name == DELIVERY_FINDING)
        assert stored == delivery  # what /healthz and the console show
        warnings = [r for r in caplog.records if r.name == "engine.alerts" and r.levelname == "WARNING"]
        assert len(warnings) == 1 and "\n" not in warnings[0].getMessage()
        # a webhook that is down does not make a change of its own: no new attempt every check
        check(cfg, database)
        assert len(refusing.posts) == 1
        refusing.status = 200
        set_ok(database)
        report = check(cfg, database)  # the recovery alert goes through and clears the finding
        assert report.ok and len(refusing.posts) == 2
    finally:
        refusing.stop()


def test_a_webhook_that_never_answers_does_not_hold_the_health_check(
        data_dir: Path, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerts, "WEBHOOK_TIMEOUT_S", (1.0, 1.0))
    slow = Receiver(delay=5.0)
    try:
        cfg = build_config(data_dir, alert_webhook_url=slow.url)
        add_failed(database, 11)
        started = time.monotonic()
        report = check(cfg, database)
        assert time.monotonic() - started < 4.0
        delivery = next(f for f in report.findings if f.name == DELIVERY_FINDING)
        assert not delivery.ok and "did not answer" in delivery.detail
    finally:
        slow.stop()


def test_email_alert_over_smtp_with_login(data_dir: Path, database: Database,
                                          smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    cfg = build_config(data_dir, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                       smtp_user="owner", smtp_password="pw", alert_email_to="a@example.com, b@example.com",
                       alert_email_from="desk@example.com")
    add_failed(database, 11)
    check(cfg, database)
    wait_until(lambda: box.messages, timeout=5, what="the alert email")
    rcpts, msg = box.messages[0]
    assert rcpts == ["a@example.com", "b@example.com"]
    assert msg["From"] == "desk@example.com" and "media failed today" in msg["Subject"]
    assert "11 failed today" in msg.get_payload()


def test_wrong_smtp_password_is_a_finding_in_words(data_dir: Path, database: Database,
                                                   smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    cfg = build_config(data_dir, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                       smtp_user="owner", smtp_password="wrong", alert_email_to="a@example.com")
    sent = send_test_alert(cfg, database)
    assert [(d.channel, d.ok) for d in sent] == [("email", False)]
    assert "refused the user name or password" in sent[0].error
    assert box.messages == []
    assert not check(cfg, database).ok  # health shows that alerts do not get through


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_email_over_starttls_verifies_the_server(data_dir: Path, database: Database, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    box, port = Mailbox(), free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port, tls_context=server_tls, require_starttls=True)
    ctl.start()
    try:
        cfg = build_config(data_dir, smtp_host="127.0.0.1", smtp_port=port, alert_email_to="a@example.com")
        assert cfg.smtp_security == "starttls"  # the default
        refused = send_test_alert(cfg, database)  # a certificate nobody vouches for is refused
        assert not refused[0].ok and "secure connection" in refused[0].error
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now this machine trusts it, as after installing a CA
        assert [d.ok for d in send_test_alert(cfg, database)] == [True]
        wait_until(lambda: box.messages, timeout=5, what="the test email")
        assert "test alert" in box.messages[0][1]["Subject"]
    finally:
        ctl.stop()


def test_test_alert_goes_to_every_channel_and_needs_one(data_dir: Path, database: Database, hook: Receiver,
                                                        smtp: tuple[Mailbox, int]) -> None:
    with pytest.raises(ConfigError, match="no alert channel"):
        send_test_alert(build_config(data_dir), database)
    box, port = smtp
    cfg = build_config(data_dir, alert_webhook_url=hook.url, smtp_host="127.0.0.1", smtp_port=port,
                       smtp_security="none", alert_email_to="a@example.com")
    assert [(d.channel, d.ok) for d in send_test_alert(cfg, database)] == [("webhook", True), ("email", True)]
    assert "Test alert" in hook.texts()[0]
    wait_until(lambda: box.messages, timeout=5, what="the test email")


def test_alert_test_command(data_dir: Path, database: Database, hook: Receiver) -> None:
    env = {**os.environ, "MEDIADESK_ALERT_WEBHOOK_URL": hook.url,
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    done = subprocess.run([str(MEDIADESK_BIN), "alert-test", "--data-dir", str(data_dir)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "webhook: sent"
    assert len(hook.texts()) == 1


def test_alert_settings_from_environment_and_file(tmp_path: Path) -> None:
    env = {"MEDIADESK_ALERT_WEBHOOK_URL": "https://hooks.example.com/T/B/x", "MEDIADESK_SMTP_PORT": "465",
           "MEDIADESK_SMTP_SECURITY": "TLS", "MEDIADESK_ALERT_EMAIL_TO": "a@x.com,b@x.com",
           "MEDIADESK_SMTP_PASSWORD": "pw", "MEDIADESK_DATA_DIR": str(tmp_path)}
    cfg = load_config(environ=env, use_keyring=False)
    assert cfg.alert_webhook_url == "https://hooks.example.com/T/B/x"
    assert (cfg.smtp_port, cfg.smtp_security, cfg.alert_email_to, cfg.smtp_password) == (
        465, "tls", ("a@x.com", "b@x.com"), "pw")
    toml = tmp_path / "m.toml"
    toml.write_text('alert_webhook_url = "https://h.example.com/x"\nsmtp_host = "mail.example.com"\n'
                    'alert_email_to = ["o@example.com"]\n')
    cfg = load_config(environ={}, config_file=toml, use_keyring=False)
    assert (cfg.alert_webhook_url, cfg.smtp_host, cfg.alert_email_to) == (
        "https://h.example.com/x", "mail.example.com", ("o@example.com",))
    toml.write_text('smtp_password = "pw"\n')
    with pytest.raises(ConfigError, match="secrets"):
        load_config(environ={}, config_file=toml, use_keyring=False)
    with pytest.raises(ConfigError, match="SMTP security"):
        load_config({"smtp_security": "ssl3"}, environ={}, use_keyring=False)


def test_the_running_engine_alerts_from_its_own_health_check(config: Config, start_engine, hook: Receiver) -> None:  # type: ignore[no-untyped-def]
    eng = start_engine(config.with_changes(alert_webhook_url=hook.url), listener=False)
    add_failed(eng.db, 11)
    report = eng.health_check()  # what the periodic task and the console's "check now" run
    assert not report.ok and len(hook.texts()) == 1
    eng.health_check()
    assert len(hook.texts()) == 1
