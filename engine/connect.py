"""Connecting a real WhatsApp number: check it at Graph, subscribe the listener's address, name its workspace.

The steps, each usable on its own by the console's wizard and chained by `connect_number` (and so by
`mediadesk connect`):

1. `check_callback_url`  the address is one Meta can call, and a public one has an app secret to check
                         signatures with (a public address without one would take forged messages)
2. `check_number`        the token and the number: `GET /{phone-number-id}` and `GET /{waba-id}/phone_numbers`
3. `subscribe`           `POST /{waba-id}/subscribed_apps` with `override_callback_uri` and `verify_token`:
                         Meta calls the listener's verify handshake before it answers
4. `save_workspace`      the number's workspace carries its name, WABA id and phone number id

A refused step raises `ConnectError` (its `reason` says which input is wrong) and leaves nothing behind:
no subscription at Meta (one this run made is taken back), no workspace. Graph's HTTP answers are
translated into `ConnectError` here, where they enter the engine.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets as _random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from engine import secrets
from engine.config import Config
from engine.db import Database, Workspace
from engine.errors import ConnectError, DatabaseError
from engine.media.graph import AUTH_CODES, RATE_LIMIT_CODES, GraphError, read_error

log = logging.getLogger(__name__)

NUMBER_FIELDS = "display_phone_number,verified_name,quality_rating"
MAX_CALLBACK_CHARS = 200  # Meta's limit for override_callback_uri
CALL_TIMEOUT = (10.0, 60.0)  # the subscribe call waits for Meta's own GET to our listener
PROBE_TIMEOUT = 5.0
_CALLBACK_VERIFICATION_FAILED = 2200
_UNKNOWN_OBJECT = 100
AUTO_NAME_PREFIX = "WhatsApp "  # what ingest names a workspace for a number it meets first


@dataclass(frozen=True)
class BusinessNumber:
    """A business phone number as Graph describes it."""

    phone_number_id: str
    waba_id: str
    display_phone_number: str
    verified_name: str
    quality_rating: str | None

    @property
    def label(self) -> str:
        """`Rossi Bakery (+39 02 1234 5678)`, or the number alone before Meta approves a name."""
        if self.verified_name:
            return f"{self.verified_name} ({self.display_phone_number})"
        return self.display_phone_number or self.phone_number_id


@dataclass(frozen=True)
class StepResult:
    """One step that went through, in words for the wizard's checklist."""

    step: str  # callback | number | subscribe | workspace
    message: str


@dataclass(frozen=True)
class WorkspaceRef:
    id: int
    name: str
    created: bool


@dataclass(frozen=True)
class ConnectedNumber:
    """What a successful connect did."""

    number: BusinessNumber
    callback_url: str
    workspace: WorkspaceRef
    steps: tuple[StepResult, ...]

    def describe(self) -> str:
        return (f"connected {self.number.label} to {self.callback_url}: Meta verified the callback; "
                f"workspace '{self.workspace.name}' (WABA {self.number.waba_id}, phone number id "
                f"{self.number.phone_number_id})")


# -- Graph, with its errors translated ------------------------------------------------------------

class BusinessGraph:
    """The few business-management calls connecting needs; every failure comes out as `ConnectError`."""

    def __init__(self, *, graph_url: str, version: str, token: str, session: requests.Session | None = None) -> None:
        self.base = f"{graph_url.rstrip('/')}/{version}"
        self.graph_url = graph_url
        self.session = session or requests.Session()
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, *, about: str, unknown: str = "number",
             params: dict[str, Any] | None = None, json: dict[str, Any] | None = None) -> dict[str, Any]:
        """One Graph call; `about` names the object in the user's words for the error sentence, `unknown` is the
        reason when Graph does not know it (number, account)."""
        url = path if path.startswith(("http://", "https://")) else f"{self.base}/{path}"
        try:
            resp = self.session.request(method, url, params=params, json=json, headers=self.headers,
                                        timeout=CALL_TIMEOUT)
        except requests.Timeout as exc:
            raise ConnectError(f"WhatsApp ({self.graph_url}) did not answer in time; try again in a minute",
                               reason="network") from exc
        except requests.RequestException as exc:
            raise ConnectError(f"could not reach WhatsApp at {self.graph_url} ({type(exc).__name__}); "
                               "check the internet connection", reason="network") from exc
        if resp.status_code != 200:
            raise refusal(read_error(resp), about=about, unknown=unknown)
        try:
            body = resp.json()
        except ValueError as exc:
            raise ConnectError(f"WhatsApp's answer about {about} was not JSON (HTTP {resp.status_code})",
                               reason="graph") from exc
        if not isinstance(body, dict):
            raise ConnectError(f"WhatsApp's answer about {about} was not understood", reason="graph")
        return body


def refusal(err: GraphError, *, about: str, unknown: str = "number") -> ConnectError:
    """Graph's error, as the one sentence a business owner can act on."""
    if err.code in (102, 190) or (err.status == 401 and err.code not in AUTH_CODES):
        return ConnectError(f"WhatsApp refused the access token ({err.message}): it is wrong, expired or revoked; "
                            "set a valid system user token in Settings or MEDIADESK_ACCESS_TOKEN", reason="token")
    if err.code == _CALLBACK_VERIFICATION_FAILED:
        return ConnectError(f"Meta could not verify the callback: {err.message}", reason="callback")
    if err.code in AUTH_CODES or err.status == 403:
        return ConnectError(f"the access token may not manage {about} ({err}): give its system user the "
                            "whatsapp_business_management and whatsapp_business_messaging permissions on it",
                            reason="permission")
    if err.status == 429 or err.code in RATE_LIMIT_CODES:
        return ConnectError(f"WhatsApp asked us to slow down ({err}); try again in a few minutes", reason="graph")
    if err.code == _UNKNOWN_OBJECT:
        # Graph's own words here run to three lines and say the same: unknown, or hidden from this token
        return ConnectError(f"WhatsApp knows no {about} that this token can see (code {err.code}); check the id "
                            "in WhatsApp Manager", reason=unknown)
    if err.status >= 500 or err.is_transient:
        return ConnectError(f"WhatsApp is having trouble (HTTP {err.status}: {err}); try again in a few minutes",
                            reason="graph")
    return ConnectError(f"WhatsApp refused the request about {about}: {err}", reason="graph")


# -- the steps ----------------------------------------------------------------------------------------

def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_callback_url(url: str, *, app_secret: str | None, graph_url: str | None = None) -> StepResult:
    """An address Meta can be given; a public one only with an app secret, so forged bodies are refused.

    `graph_url`: with Meta's own Graph, an address on this computer is refused at once, as Meta cannot reach it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectError(f"the callback URL {url!r} is not an http(s) address", reason="callback")
    if len(url) > MAX_CALLBACK_CHARS:
        raise ConnectError(f"the callback URL is {len(url)} characters long; Meta takes at most "
                           f"{MAX_CALLBACK_CHARS}", reason="callback")
    if is_loopback(parts.hostname):
        graph_host = (urlsplit(graph_url).hostname or "") if graph_url else ""
        if graph_host == "facebook.com" or graph_host.endswith(".facebook.com"):
            raise ConnectError(f"Meta cannot reach {url}, an address on this computer; give a public https address "
                               "(a tunnel or the owner's own) that leads to the listener", reason="callback")
        return StepResult("callback", f"{url} is on this computer (only a local stand-in of Meta can call it)")
    if parts.scheme != "https":
        raise ConnectError(f"Meta only calls https addresses, and the callback URL {url} is http", reason="callback")
    if not app_secret:
        raise ConnectError(f"MediaDesk will not open the public address {url} without an app secret: anyone who "
                           "finds it could post forged messages; set the app secret (Meta app > App settings > "
                           "Basic) in Settings or MEDIADESK_APP_SECRET first", reason="secret")
    return StepResult("callback", f"{url} is public; webhooks must carry the app secret's signature")


def check_number(graph: BusinessGraph, *, waba_id: str, phone_number_id: str) -> BusinessNumber:
    """The number exists, the token may read it, and it belongs to the account."""
    info = graph.call("GET", phone_number_id, params={"fields": NUMBER_FIELDS},
                      about=f"phone number with id {phone_number_id}")
    number = BusinessNumber(phone_number_id=str(info.get("id") or phone_number_id), waba_id=waba_id,
                            display_phone_number=str(info.get("display_phone_number") or ""),
                            verified_name=str(info.get("verified_name") or ""),
                            quality_rating=info.get("quality_rating"))
    ids: list[str] = []
    page: str | None = f"{waba_id}/phone_numbers"
    for _ in range(20):  # a WABA holds a few numbers; the bound only guards against a paging loop
        if page is None:
            break
        answer = graph.call("GET", page, params={"fields": "id,display_phone_number"} if "?" not in page else None,
                            about=f"Business Account with id {waba_id}", unknown="account")
        ids += [str(n.get("id")) for n in answer.get("data") or [] if isinstance(n, dict)]
        page = (answer.get("paging") or {}).get("next")
    if number.phone_number_id not in ids:
        raise ConnectError(f"the phone number {number.display_phone_number or phone_number_id} (id {phone_number_id}) "
                           f"is not in WhatsApp Business Account {waba_id}; check both ids in WhatsApp Manager",
                           reason="number")
    return number


def find_numbers(graph: BusinessGraph, *, waba_id: str) -> list[BusinessNumber]:
    """The account's numbers, for the owner to pick one: the token, the account id and the permission on it
    are all checked by this one call, each refusal in its own sentence."""
    numbers: list[BusinessNumber] = []
    page: str | None = f"{waba_id}/phone_numbers"
    for _ in range(20):  # as in check_number: a guard against a paging loop
        if page is None:
            break
        answer = graph.call("GET", page, params={"fields": f"id,{NUMBER_FIELDS}"} if "?" not in page else None,
                            about=f"Business Account with id {waba_id}", unknown="account")
        numbers += [BusinessNumber(phone_number_id=str(n.get("id")), waba_id=waba_id,
                                   display_phone_number=str(n.get("display_phone_number") or ""),
                                   verified_name=str(n.get("verified_name") or ""),
                                   quality_rating=n.get("quality_rating"))
                    for n in answer.get("data") or [] if isinstance(n, dict) and n.get("id")]
        page = (answer.get("paging") or {}).get("next")
    if not numbers:
        raise ConnectError(f"WhatsApp Business Account {waba_id} has no phone number yet; add one in WhatsApp "
                           "Manager first", reason="number")
    return numbers


def probe_callback(url: str, verify_token: str, *, fresh_token: bool = False) -> str | None:
    """Why the listener at `url` would fail Meta's verification, or None when it answers as it should."""
    challenge = str(_random.randbelow(10 ** 9))
    query = urlencode({"hub.mode": "subscribe", "hub.verify_token": verify_token, "hub.challenge": challenge})
    try:
        resp = requests.get(url + ("&" if urlsplit(url).query else "?") + query, timeout=PROBE_TIMEOUT)
    except requests.RequestException as exc:
        return f"nothing answers at {url} ({type(exc).__name__}); start `mediadesk serve` (or the console) there first"
    if resp.status_code == 403 and fresh_token:
        return (f"the listener at {url} was started before MediaDesk made its verify token; restart it so it "
                "reads the token, then connect again")
    if resp.status_code == 403:
        return (f"the listener at {url} refuses the verify token sent to Meta (it was started with another one); "
                "give both the same verify token, restart the listener and connect again")
    if resp.status_code != 200 or resp.text.strip() != challenge:
        return (f"{url} answered HTTP {resp.status_code} {resp.text[:40]!r} instead of the challenge; is it "
                "MediaDesk's /webhook address?")
    return None


def subscribe(graph: BusinessGraph, *, waba_id: str, callback_url: str, verify_token: str,
              fresh_token: bool = False) -> StepResult:
    """Point the account's webhooks at `callback_url`; taken back when this run subscribed and Meta refused.

    `fresh_token`: the verify token was made just now, so a listener already running cannot know it."""
    about = f"Business Account with id {waba_id}"
    before = graph.call("GET", f"{waba_id}/subscribed_apps", about=about, unknown="account")
    was_subscribed = bool(before.get("data"))
    try:
        graph.call("POST", f"{waba_id}/subscribed_apps", about=about, unknown="account",
                   json={"override_callback_uri": callback_url, "verify_token": verify_token})
    except ConnectError as exc:
        if not was_subscribed:
            _unsubscribe(graph, waba_id)
        if exc.reason != "callback":
            raise
        metas_words = str(exc).split(": ", 1)[-1]
        why = probe_callback(callback_url, verify_token, fresh_token=fresh_token) or \
            f"it answers here, but Meta cannot reach it ({metas_words})"
        raise ConnectError(f"Meta could not verify the callback {callback_url}: {why}", reason="callback") from exc
    return StepResult("subscribe", f"Meta verified {callback_url} and sends WABA {waba_id}'s webhooks there")


def _unsubscribe(graph: BusinessGraph, waba_id: str) -> None:
    """Meta may have subscribed the app before the override failed: leave no subscription behind."""
    try:
        graph.call("DELETE", f"{waba_id}/subscribed_apps", about=f"Business Account with id {waba_id}",
                   unknown="account")
    except ConnectError as exc:
        log.warning("could not take back the subscription of WABA %s: %s", waba_id, exc)


def save_workspace(db: Database, number: BusinessNumber, *, graph_version: str) -> WorkspaceRef:
    """Create or update the number's workspace; a name the owner chose is kept, the automatic one replaced."""
    wanted = number.verified_name or number.display_phone_number or number.phone_number_id
    for attempt in (1, 2):
        try:
            with db.session() as s:
                ws = s.execute(select(Workspace).where(Workspace.phone_number_id == number.phone_number_id)
                               ).scalar_one_or_none()
                created = ws is None
                if ws is None:
                    ws = Workspace(name=wanted, phone_number_id=number.phone_number_id, settings={})
                    s.add(ws)
                elif not ws.name or ws.name.startswith(AUTO_NAME_PREFIX):
                    ws.name = wanted
                ws.waba_id = number.waba_id
                ws.graph_api_version = graph_version
                s.flush()
                return WorkspaceRef(ws.id, ws.name, created)
        except IntegrityError as exc:
            # Meta's first webhook can reach ingest between our look and our insert: update the row it made.
            if attempt == 2:
                raise DatabaseError(f"could not save the workspace for {number.label}: {exc}") from exc
        except SQLAlchemyError as exc:
            raise DatabaseError(f"could not save the workspace for {number.label}: {exc}") from exc
    raise AssertionError("unreachable: the second attempt returns or raises")


def verify_token_for(cfg: Config) -> tuple[str, bool]:
    """The configured verify token, or a new one saved as a secret (the listener reads it when it starts);
    True when it is new."""
    if cfg.verify_token:
        return cfg.verify_token, False
    token = _random.token_urlsafe(24)
    where = secrets.set_secret("verify_token", token, data_dir=cfg.data_dir)
    log.warning("no verify token was set: made one and saved it (%s); a listener already running needs it handed "
                "over (the console does) or a restart", where)
    return token, True


def connect_number(cfg: Config, *, waba_id: str, phone_number_id: str, callback_url: str,
                   db: Database | None = None, session: requests.Session | None = None,
                   on_step: Callable[[StepResult], None] | None = None) -> ConnectedNumber:
    """Every step in order; `on_step` hears each one that went through. Without `db`, the data dir's database."""
    waba_id, phone_number_id, callback_url = waba_id.strip(), phone_number_id.strip(), callback_url.strip()
    done: list[StepResult] = []

    def passed(step: StepResult) -> None:
        done.append(step)
        if on_step is not None:
            on_step(step)

    step = "callback"
    own_db, own_session = db is None, session is None
    session = session or requests.Session()
    try:
        passed(check_callback_url(callback_url, app_secret=cfg.app_secret, graph_url=cfg.graph_url))
        step = "number"
        if not cfg.access_token:
            raise ConnectError("no access token is set: put a system user token in Settings or "
                               "MEDIADESK_ACCESS_TOKEN", reason="token")
        graph = BusinessGraph(graph_url=cfg.graph_url, version=cfg.graph_version, token=cfg.access_token,
                              session=session)
        number = check_number(graph, waba_id=waba_id, phone_number_id=phone_number_id)
        passed(StepResult("number", f"{number.label} is in WABA {waba_id} "
                                    f"(quality {number.quality_rating or 'unknown'})"))
        step = "subscribe"
        if db is None:
            from engine.db.migrate import migrate

            migrate(cfg)  # before subscribing: a database that cannot open must refuse while nothing has changed
            db = Database(cfg.sqlalchemy_url)
        verify_token, fresh = verify_token_for(cfg)
        passed(subscribe(graph, waba_id=waba_id, callback_url=callback_url, verify_token=verify_token,
                         fresh_token=fresh))
        step = "workspace"
        ws = save_workspace(db, number, graph_version=cfg.graph_version)
        passed(StepResult("workspace", f"workspace '{ws.name}' {'created' if ws.created else 'updated'}"))
    except ConnectError as exc:
        exc.step = exc.step or step
        raise
    finally:
        if own_db and db is not None:
            db.dispose()
        if own_session:
            session.close()
    return ConnectedNumber(number=number, callback_url=callback_url, workspace=ws, steps=tuple(done))
