"""Meta's business side: numbers in WhatsApp Business Accounts, the app's webhook subscriptions, and the
callback checks Meta makes before it takes an `override_callback_uri`.

`BusinessAccounts.answer` is what Graph answers for the business-management routes (numbers, phone
numbers, subscribed apps), errors in Meta's words: 100 for an unknown object, 200 for a missing
permission, 2200 when the callback's verify handshake fails. The bad token (190) is the handler's, as
for every route. Subscribing does what Meta does: a GET to the callback with hub.mode=subscribe,
hub.verify_token and hub.challenge that must echo the challenge; once it has, a first webhook (a text
message to the number) is delivered there, signed with the app secret, so a wizard has something to show.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from engine.simulator.payloads import text_message
from engine.simulator.sender import WebhookSender

log = logging.getLogger(__name__)

META_VERIFY_USER_AGENT = "facebookplatform/1.0 (+http://developers.facebook.com)"
FIRST_MESSAGE = "Hello! This is the first message through your new MediaDesk connection."
FIRST_SENDER = ("15551230000", "Meta Test Customer")
VERIFY_TIMEOUT = 5.0
MAX_CALLBACK_CHARS = 200

Answer = tuple[int, dict[str, Any]]


def meta_error(message: str, kind: str, code: int, subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = secrets.token_urlsafe(12)
    return {"error": error}


def unknown_object(method: str, object_id: str) -> Answer:
    return 400, meta_error(
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
        "missing permissions, or does not support this operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api", "GraphMethodException", 100, 33)


@dataclass(frozen=True)
class SimulatedNumber:
    phone_number_id: str
    waba_id: str
    display_phone_number: str
    verified_name: str
    quality_rating: str = "GREEN"

    def fields(self, asked: str | None) -> dict[str, Any]:
        record = {"id": self.phone_number_id, "display_phone_number": self.display_phone_number,
                  "verified_name": self.verified_name, "quality_rating": self.quality_rating,
                  "code_verification_status": "VERIFIED", "platform_type": "CLOUD_API",
                  "throughput": {"level": "STANDARD"}}
        if not asked:
            return record
        wanted = [f.strip() for f in asked.split(",") if f.strip()]
        return {"id": self.phone_number_id, **{f: record[f] for f in wanted if f in record}}

    @property
    def webhook_digits(self) -> str:
        """How webhooks write the number: digits only."""
        return re.sub(r"\D", "", self.display_phone_number)


@dataclass(frozen=True)
class Verification:
    """One verify handshake Meta made: what it sent and what came back."""

    waba_id: str
    url: str
    verify_token: str
    challenge: str
    status: int | None
    body: str
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.body.strip() == self.challenge


@dataclass(frozen=True)
class Subscription:
    waba_id: str
    override_callback_uri: str | None
    verify_token: str | None


@dataclass
class Delivery:
    """The first webhook after a subscription: where it went and what the listener answered."""

    url: str
    wamid: str
    status: int | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


def callback_allowed(uri: str) -> bool:
    """Meta takes https only; the simulator also takes http on loopback, where test listeners are."""
    parts = urlsplit(uri)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def verify_callback(waba_id: str, url: str, verify_token: str, *, timeout: float = VERIFY_TIMEOUT) -> Verification:
    """Meta's check of a callback: a GET that must answer 200 with the challenge as its body."""
    challenge = str(secrets.randbelow(2 ** 31 - 10 ** 8) + 10 ** 8)
    query = urlencode({"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": verify_token})
    status, body, error = None, "", None
    try:
        resp = requests.get(url + ("&" if urlsplit(url).query else "?") + query, timeout=timeout,
                            headers={"User-Agent": META_VERIFY_USER_AGENT}, allow_redirects=False)
        status, body = resp.status_code, resp.text[:4096]
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"
    return Verification(waba_id, url, verify_token, challenge, status, body, error)


def _failure_detail(v: Verification) -> str:
    """The part after 'Callback verification failed with the following errors:', as Meta writes it."""
    if v.error is not None:
        return f"curl_errno = 7; curl_error = Failed to connect to {urlsplit(v.url).netloc}: Connection refused"
    if v.status != 200:
        return f"HTTP Status Code = {v.status}; HTTP Message = {v.body[:60]}"
    return (f"The URL couldn't be validated. Response does not match challenge, expected value=\"{v.challenge}\", "
            f"received=\"{v.body[:40]}\"")


class BusinessAccounts:
    """The accounts and numbers Meta holds for the simulated app, and what it subscribed. Thread-safe."""

    def __init__(self, *, app_secret: str | None = None, first_webhook: bool = True) -> None:
        self.app_secret = app_secret
        self.first_webhook = first_webhook
        # Meta's docs want the app subscribed before an override is set; when this is True a failed override
        # still leaves that plain subscription, as a two-step Meta would, and the client must take it back.
        self.subscribe_before_verifying = False
        self._lock = threading.Lock()
        self._numbers: dict[str, SimulatedNumber] = {}
        self._wabas: dict[str, list[str]] = {}
        self._denied: set[str] = set()
        self.subscriptions: dict[str, Subscription] = {}
        self.verifications: list[Verification] = []
        self.deliveries: list[Delivery] = []

    # set-up ---------------------------------------------------------------------------------------
    def add_number(self, waba_id: str, phone_number_id: str, *, display_phone_number: str,
                   verified_name: str, quality_rating: str = "GREEN") -> SimulatedNumber:
        number = SimulatedNumber(str(phone_number_id), str(waba_id), display_phone_number, verified_name,
                                 quality_rating)
        with self._lock:
            self._numbers[number.phone_number_id] = number
            self._wabas.setdefault(number.waba_id, []).append(number.phone_number_id)
        return number

    def deny(self, waba_id: str) -> None:
        """The token's system user lost its permissions on this account: its edges answer code 200."""
        with self._lock:
            self._denied.add(str(waba_id))

    def knows(self, object_id: str) -> bool:
        with self._lock:
            return object_id in self._numbers or object_id in self._wabas

    # what Graph answers ------------------------------------------------------------------------------
    def answer(self, method: str, parts: list[str], params: dict[str, str]) -> Answer:
        """`parts`: the path after the version, e.g. ["1234", "subscribed_apps"]."""
        node, edge = parts[0], "/".join(parts[1:])
        with self._lock:
            number = self._numbers.get(node)
            numbers = [self._numbers[n] for n in self._wabas.get(node, [])]
            is_waba, denied = node in self._wabas, node in self._denied
        if number is not None and not edge and method == "GET":
            return 200, number.fields(params.get("fields"))
        if not is_waba:
            return unknown_object(method, node)
        if denied:
            return 403, meta_error("(#200) Requires whatsapp_business_management permission to manage the object",
                                   "OAuthException", 200)
        if edge == "" and method == "GET":
            return 200, {"id": node, "name": f"{numbers[0].verified_name} WABA" if numbers else node,
                         "currency": "USD", "timezone_id": "1"}
        if edge == "phone_numbers" and method == "GET":
            return 200, {"data": [n.fields(params.get("fields")) for n in numbers],
                         "paging": {"cursors": {"before": "QVFIUjBl", "after": "QVFIUjBl"}}}
        if edge == "subscribed_apps":
            if method == "GET":
                return 200, {"data": self._subscribed(node)}
            if method == "DELETE":
                with self._lock:
                    self.subscriptions.pop(node, None)
                return 200, {"success": True}
            if method == "POST":
                return self._subscribe(node, numbers, params)
        return 400, meta_error(f"(#100) Tried accessing nonexisting field ({edge or method})", "OAuthException", 100)

    def _subscribed(self, waba_id: str) -> list[dict[str, Any]]:
        with self._lock:
            sub = self.subscriptions.get(waba_id)
        if sub is None:
            return []
        app: dict[str, Any] = {"whatsapp_business_api_data": {"id": "1234567890123456", "name": "MediaDesk Simulator",
                                                              "link": "https://www.facebook.com/games/?app_id=1"}}
        if sub.override_callback_uri:
            app["override_callback_uri"] = sub.override_callback_uri
        return [app]

    def _subscribe(self, waba_id: str, numbers: list[SimulatedNumber], params: dict[str, str]) -> Answer:
        uri, token = params.get("override_callback_uri") or None, params.get("verify_token") or None
        if uri is None:  # the app's own callback from the dashboard: nothing to verify here
            with self._lock:
                self.subscriptions[waba_id] = Subscription(waba_id, None, None)
            return 200, {"success": True}
        if token is None:
            return 400, meta_error("(#100) The parameter verify_token is required", "OAuthException", 100)
        if len(uri) > MAX_CALLBACK_CHARS or not callback_allowed(uri):
            return 400, meta_error("(#100) Param override_callback_uri must be a valid https URL", "OAuthException",
                                   100)
        check = verify_callback(waba_id, uri, token)
        with self._lock:
            self.verifications.append(check)
            if self.subscribe_before_verifying:
                self.subscriptions.setdefault(waba_id, Subscription(waba_id, None, None))
        if not check.ok:
            return 400, meta_error(f"(#2200) Callback verification failed with the following errors: "
                                   f"{_failure_detail(check)}", "OAuthException", 2200)
        with self._lock:
            self.subscriptions[waba_id] = Subscription(waba_id, uri, token)
        if self.first_webhook and self.app_secret and numbers:
            self._send_first_webhook(uri, numbers[0])
        return 200, {"success": True}

    def _send_first_webhook(self, url: str, number: SimulatedNumber) -> Delivery:
        wa_id, name = FIRST_SENDER
        body = text_message(FIRST_MESSAGE, wa_id=wa_id, name=name, phone_number_id=number.phone_number_id,
                            display_phone_number=number.webhook_digits, waba_id=number.waba_id)
        delivery = Delivery(url, body["entry"][0]["changes"][0]["value"]["messages"][0]["id"])
        with self._lock:
            self.deliveries.append(delivery)
        secret = self.app_secret or ""

        def deliver() -> None:  # after the subscribe answer, as Meta's webhooks come on their own
            try:
                with WebhookSender(url, secret) as sender:
                    delivery.status = sender.send(body)
            except requests.RequestException as exc:
                delivery.error = f"{type(exc).__name__}: {exc}"
                log.info("simulator: the first webhook to %s failed: %s", url, exc)
            finally:
                delivery.done.set()

        threading.Thread(target=deliver, name="simulator-first-webhook", daemon=True).start()
        return delivery
