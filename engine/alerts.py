"""Alerts that reach the owner: a Slack-style webhook and email, once when health turns bad and once when it
recovers (SPEC section 14).

"Once" holds across restarts and across processes sharing one database: the state last alerted lives in
the `settings` table, and the process that moves it (a compare-and-set, `engine.db.claims`) is the one that
sends. A failure to send never raises into the health check: it is logged in one line and kept in
`settings`, where the "alert delivery" finding shows it until a later alert (or a test alert) goes through.
"""

from __future__ import annotations

import json
import logging
import re
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

import requests
from sqlalchemy.exc import SQLAlchemyError

from engine.config import Config
from engine.db.claims import claim_setting, read_setting, write_setting
from engine.db.models import utcnow
from engine.db.session import Database
from engine.errors import AlertError, ConfigError, DatabaseError
from engine.health import Finding, HealthReport

log = logging.getLogger(__name__)

STATE_KEY = "alerts.last_alerted"
DELIVERY_KEY = "alerts.last_delivery"
DELIVERY_FINDING = "alert delivery"
WEBHOOK_TIMEOUT_S = (3.05, 5.0)  # connect, read
SMTP_TIMEOUT_S = 8.0  # per socket operation
SEND_DEADLINE_S = 12.0  # the health check waits no longer for every channel together
WEBHOOK, EMAIL = "webhook", "email"


@dataclass(frozen=True)
class Alert:
    subject: str
    text: str


@dataclass(frozen=True)
class AlertDelivery:
    """How one channel took one alert; `error` says why not, in words fit for the owner."""

    channel: str
    ok: bool
    at: str
    error: str | None = None


def channels(cfg: Config) -> list[str]:
    """The channels set up in `cfg`: email needs a server and at least one recipient."""
    found = []
    if cfg.alert_webhook_url:
        found.append(WEBHOOK)
    if cfg.smtp_host and cfg.alert_email_to:
        found.append(EMAIL)
    return found


def bad_findings(report: HealthReport) -> list[str]:
    """What an alert is about: the names of the failing findings. Alert delivery itself is left out, or a
    webhook that is down would hold health bad and no recovery alert would ever be tried."""
    return sorted(f.name for f in report.findings if not f.ok and f.name != DELIVERY_FINDING)


def compose(report: HealthReport, before: list[str], now: list[str]) -> Alert:
    where = socket.gethostname()
    if not now:
        return Alert(f"MediaDesk on {where}: healthy again",
                     f"MediaDesk on {where} is healthy again (checked {report.checked_at} UTC): "
                     f"{', '.join(before)} fine now.")
    lines = [f"- {f.name}: {f.detail}" for f in report.findings if f.name in now]
    if before:
        head = f"MediaDesk on {where}: what needs attention has changed"
        gone = [name for name in before if name not in now]
        if gone:
            lines.append(f"Fine again: {', '.join(gone)}.")
    else:
        head = f"MediaDesk on {where} needs attention"
    return Alert(f"MediaDesk on {where}: {', '.join(now)}",
                 f"{head} (checked {report.checked_at} UTC):\n" + "\n".join(lines))


def alert_on_change(cfg: Config, db: Database, report: HealthReport) -> list[AlertDelivery]:
    """Send an alert if `report`'s failing findings differ from those last alerted, and this process is the
    one that records the change. Returns how each channel took it (empty: nothing to send, or no channel)."""
    if not channels(cfg):
        return []  # nothing recorded either: once a channel is set up, it hears about the state it finds
    now = bad_findings(report)
    try:
        raw = read_setting(db, STATE_KEY)
        before = _alerted(raw)
        if now == before:
            return []
        mine = claim_setting(db, STATE_KEY, expected=raw,
                             new=json.dumps({"bad": now, "since": report.checked_at}))
    except (SQLAlchemyError, DatabaseError) as exc:
        log.warning("alert not sent: the last alerted health state could not be read or written (%s)", exc)
        return []
    if not mine:
        return []  # another process recorded this change: it sends the alert
    return deliver(cfg, db, compose(report, before, now))


def send_test_alert(cfg: Config, db: Database) -> list[AlertDelivery]:
    """Send a test alert to every channel set up; ConfigError when there is none. Failures are returned (and
    recorded for the health check), not raised."""
    if not channels(cfg):
        raise ConfigError("no alert channel is set up: give a webhook URL (MEDIADESK_ALERT_WEBHOOK_URL), "
                          "or an SMTP server and recipients (MEDIADESK_SMTP_HOST, MEDIADESK_ALERT_EMAIL_TO)")
    where = socket.gethostname()
    return deliver(cfg, db, Alert(f"MediaDesk on {where}: test alert",
                                  f"Test alert from MediaDesk on {where}: alerts reach you here."))


def deliver(cfg: Config, db: Database, alert: Alert) -> list[AlertDelivery]:
    """Send `alert` on every channel at once, waiting SEND_DEADLINE_S at most; record and return the outcome."""
    senders = {WEBHOOK: lambda: send_webhook(cfg.alert_webhook_url, alert.text),
               EMAIL: lambda: send_email(cfg, alert)}
    results: dict[str, AlertDelivery] = {}
    lock = threading.Lock()

    def run(channel: str) -> None:
        try:
            senders[channel]()
            outcome = AlertDelivery(channel, True, _now())
        except AlertError as exc:
            outcome = AlertDelivery(channel, False, _now(), str(exc))
        with lock:
            results[channel] = outcome

    # Daemon threads: a mail server that stalls past the deadline must not keep the process from exiting.
    threads = [threading.Thread(target=run, args=(c,), name=f"alert-{c}", daemon=True) for c in channels(cfg)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + SEND_DEADLINE_S
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    with lock:
        out = [results.get(c) or AlertDelivery(c, False, _now(), f"no answer within {SEND_DEADLINE_S:g} s")
               for c in channels(cfg)]
    for d in out:
        if not d.ok:
            log.warning("alert %r not sent by %s: %s", alert.subject, d.channel, d.error)
    _record(db, out)
    return out


def send_webhook(url: str | None, text: str) -> None:
    """POST `{"text": ...}` (Slack's incoming-webhook format, which Mattermost, Teams and others accept)."""
    if not url:
        raise AlertError("no webhook URL is set")
    try:
        r = requests.post(url, json={"text": text}, timeout=WEBHOOK_TIMEOUT_S)
    except requests.Timeout:
        raise AlertError(f"the webhook did not answer within {WEBHOOK_TIMEOUT_S[1]:g} s") from None
    except requests.ConnectionError as exc:
        raise AlertError(f"the webhook at {urlsplit(url).netloc} could not be reached ({_root_cause(exc)})") from None
    except requests.RequestException as exc:
        raise AlertError(f"the webhook at {urlsplit(url).netloc} refused the alert: {exc}") from None
    if not 200 <= r.status_code < 300:
        raise AlertError(f"the webhook answered {r.status_code}: {r.text[:120].strip()}")


def send_email(cfg: Config, alert: Alert, *, ssl_context: ssl.SSLContext | None = None) -> None:
    """One message to every recipient over SMTP (STARTTLS, implicit TLS or plain, as `cfg.smtp_security` says)."""
    if not cfg.smtp_host or not cfg.alert_email_to:
        raise AlertError("email alerts need an SMTP server and at least one recipient")
    msg = EmailMessage()
    msg["Subject"] = alert.subject
    # gethostname, not getfqdn: that may wait on DNS
    msg["From"] = cfg.alert_email_from or cfg.smtp_user or f"mediadesk@{socket.gethostname()}"
    msg["To"] = ", ".join(cfg.alert_email_to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="mediadesk")
    msg.set_content(alert.text)
    context = ssl_context or ssl.create_default_context()
    try:
        if cfg.smtp_security == "tls":
            server: smtplib.SMTP = smtplib.SMTP_SSL(cfg.smtp_host, cfg.smtp_port, timeout=SMTP_TIMEOUT_S,
                                                   context=context)
        else:
            server = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=SMTP_TIMEOUT_S)
        with server:
            if cfg.smtp_security == "starttls":
                server.starttls(context=context)
            if cfg.smtp_user:
                server.login(cfg.smtp_user, cfg.smtp_password or "")
            server.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise AlertError(f"the mail server {cfg.smtp_host} refused the user name or password: "
                         f"{_smtp_words(exc)}") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise AlertError(f"the mail server {cfg.smtp_host} does not offer that ({exc}); check the security "
                         f"setting (starttls, tls or none)") from None
    except smtplib.SMTPException as exc:
        raise AlertError(f"the mail server {cfg.smtp_host} refused the alert: {_smtp_words(exc)}") from None
    except ssl.SSLError as exc:
        raise AlertError(f"no secure connection to the mail server {cfg.smtp_host}: {exc}") from None
    except TimeoutError:
        raise AlertError(f"the mail server {cfg.smtp_host} did not answer within {SMTP_TIMEOUT_S:g} s") from None
    except OSError as exc:
        raise AlertError(f"the mail server {cfg.smtp_host}:{cfg.smtp_port} could not be reached: "
                         f"{_no_errno(exc.strerror or exc)}") from None


def delivery_finding(cfg: Config, db: Database) -> Finding | None:
    """"alert delivery": bad while the last alert on a channel set up now could not be sent. None without
    any channel, so that installations that use no alerts see nothing new."""
    set_up = channels(cfg)
    if not set_up:
        return None
    try:
        last = json.loads(read_setting(db, DELIVERY_KEY) or "{}")
    except (ValueError, SQLAlchemyError):
        last = {}
    failing = {c: last[c] for c in set_up if isinstance(last.get(c), dict) and not last[c].get("ok")}
    if not failing:
        return Finding(DELIVERY_FINDING, True, 0, f"alerts go to the {' and the '.join(set_up)}")
    words = "; ".join(f"{c} at {str(v.get('at')).replace('T', ' ')} UTC: {v.get('error')}"
                      for c, v in failing.items())
    return Finding(DELIVERY_FINDING, False, len(failing), f"the last alert could not be sent: {words}")


def _record(db: Database, deliveries: list[AlertDelivery]) -> None:
    try:
        last = json.loads(read_setting(db, DELIVERY_KEY) or "{}")
        if not isinstance(last, dict):
            last = {}
        for d in deliveries:
            last[d.channel] = {"ok": d.ok, "at": d.at, "error": d.error}
        write_setting(db, DELIVERY_KEY, json.dumps(last))
    except (ValueError, SQLAlchemyError) as exc:
        log.warning("could not record how the alert was delivered: %s", exc)


def _alerted(raw: str | None) -> list[str]:
    """The failing findings last alerted; nothing recorded means healthy, so a first bad check alerts."""
    try:
        bad = json.loads(raw or "{}").get("bad", [])
    except (ValueError, AttributeError):
        return []
    return sorted(str(b) for b in bad) if isinstance(bad, list) else []


def _root_cause(exc: BaseException) -> str:
    """"connection refused" rather than urllib3's three nested reprs."""
    reason: object = exc
    while isinstance(reason, BaseException) and reason.args:
        inner = getattr(reason, "reason", None) or reason.args[0]
        if inner is reason or not isinstance(inner, BaseException):
            break
        reason = inner
    words = str(reason).rsplit(": ", 1)[-1]
    return _no_errno(words).lower() or "no connection"


def _no_errno(text: str) -> str:
    """"name or service not known", not "[Errno -2] Name or service not known": the number means nothing to
    the owner, wherever it sits in the sentence."""
    return re.sub(r"\[errno -?\d+\]\s*", "", str(text), flags=re.IGNORECASE).strip()


def _smtp_words(exc: smtplib.SMTPException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        msg = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {msg}"
    return str(exc)


def _now() -> str:
    return utcnow().isoformat(timespec="seconds")
