"""Connecting a number from inside the running engine: the console's `Connect WhatsApp…` wizard, a step a call.

`engine.connect` holds the steps against Graph; here they meet the running listener, so nothing needs a
restart: the app secret and a new verify token reach the listener (`MediaDeskEngine.reconfigure`) before Meta's
handshake, and the secrets typed are saved (keyring, or the 0600 file) for the next start.

1. `find_numbers`         token and account checked, the account's numbers listed
2. `open_public_address`  the built-in tunnel, or the owner's own https address, self-tested through that address
3. `subscribe_number`     subscribe (Meta verifies the webhook), workspace created or updated, token saved

Each blocks on the network: call them off the GUI thread. Each refusal is a ConnectError or TunnelError whose
text is one sentence for the owner.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from engine import secrets
from engine.config import Config
from engine.connect import (
    BusinessGraph,
    BusinessNumber,
    ConnectedNumber,
    check_callback_url,
    connect_number,
    is_loopback,
    probe_callback,
    verify_token_for,
)
from engine.connect import find_numbers as _find_numbers
from engine.errors import ConnectError
from engine.settings_file import save_settings
from engine.tunnel import TunnelProvider

if TYPE_CHECKING:
    from engine.runtime import MediaDeskEngine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublicAddress:
    """Where Meta will send webhooks, and how the self-test through it went."""

    callback_url: str
    tunnel: bool
    message: str


def find_numbers(cfg: Config, *, waba_id: str, access_token: str | None = None) -> list[BusinessNumber]:
    """The numbers of account `waba_id` as `access_token` (default: the configured one) sees them."""
    token = (access_token or cfg.access_token or "").strip()
    if not token:
        raise ConnectError("no access token was given: paste a system user token from Meta Business Settings",
                           reason="token")
    with requests.Session() as session:
        graph = BusinessGraph(graph_url=cfg.graph_url, version=cfg.graph_version, token=token, session=session)
        try:
            return _find_numbers(graph, waba_id=waba_id.strip())
        except ConnectError as exc:
            if exc.reason != "token":
                raise
            # The command line's advice (Settings, the environment) does not fit a token being typed in
            words = str(exc).split(": it is", 1)[0]
            raise ConnectError(f"{words}: it is wrong, expired or revoked; make a new system user token (Meta "
                               "Business Settings > System users > Generate token) and paste it here",
                               reason="token", step="number") from exc


def _use(engine: MediaDeskEngine, **changes: Any) -> Config:
    """Save the given secrets where this computer keeps them and hand them to the running engine."""
    cfg = engine.cfg
    changed = {k: v for k, v in changes.items() if v and v != getattr(cfg, k)}
    if not changed:
        return cfg
    for name, value in changed.items():
        where = secrets.set_secret(name, value, data_dir=cfg.data_dir)
        log.info("saved the %s (%s)", name.replace("_", " "), where)
    engine.reconfigure(cfg.with_changes(**changed))
    return engine.cfg


def open_public_address(engine: MediaDeskEngine, *, app_secret: str | None = None, own_url: str | None = None,
                        tunnel: bool = False, provider: TunnelProvider | None = None,
                        tunnel_authtoken: str | None = None, tunnel_domain: str | None = None) -> PublicAddress:
    """The address Meta will call: the built-in tunnel (`tunnel=True`) or `own_url`, checked from outside in.

    The app secret (given, or already set) comes first: neither a tunnel nor a public address opens without it.
    A verify token is made if there is none and the running listener takes both before the self-test, which
    makes the handshake Meta will make, through the address itself."""
    secret = (app_secret or "").strip() or engine.cfg.app_secret
    url = (own_url or "").strip()
    if not tunnel and not url:
        raise ConnectError("give the https address that leads to this computer's listener, or choose the "
                           "built-in tunnel", reason="callback")
    public = tunnel or not is_loopback(urlsplit(url).hostname or "")
    if public and not secret:
        raise ConnectError("MediaDesk will not open a public address without the app secret (Meta app > App "
                           "settings > Basic): without it, anyone who finds the address could post forged "
                           "messages", reason="secret")
    if not tunnel:
        check_callback_url(url, app_secret=secret, graph_url=engine.cfg.graph_url)
    verify_token, _fresh = verify_token_for(engine.cfg)  # saved as a secret when made
    cfg = _use(engine, app_secret=secret, verify_token=verify_token)
    if tunnel:
        cfg = _use(engine, tunnel_authtoken=(tunnel_authtoken or "").strip() or None)
        opened = engine.open_tunnel(provider=provider, authtoken=cfg.tunnel_authtoken,
                                    domain=(tunnel_domain or "").strip() or cfg.tunnel_domain)
        url = opened.webhook_url
        check_callback_url(url, app_secret=secret, graph_url=cfg.graph_url)
    why = probe_callback(url, cfg.verify_token or verify_token)
    if why is not None:
        if tunnel:
            engine.close_tunnel()
        raise ConnectError(f"the self-test through {url} failed: {why}", reason="callback")
    if tunnel:  # the static domain is the owner's setting: kept for the next start
        _remember(engine, tunnel_domain=(tunnel_domain or "").strip() or cfg.tunnel_domain)
    how = "the built-in tunnel" if tunnel else "your address"
    return PublicAddress(url, tunnel, f"{url} reaches MediaDesk: the self-test through {how} answered the "
                                      "handshake as Meta will")


def subscribe_number(engine: MediaDeskEngine, *, number: BusinessNumber, callback_url: str,
                     access_token: str | None = None) -> ConnectedNumber:
    """Subscribe `number`'s account to `callback_url` (Meta verifies it), save its workspace; then the access
    token is saved and the running downloads use it."""
    cfg = engine.cfg
    token = (access_token or "").strip() or cfg.access_token
    done = connect_number(cfg.with_changes(access_token=token), waba_id=number.waba_id,
                          phone_number_id=number.phone_number_id, callback_url=callback_url, db=engine.db)
    _use(engine, access_token=token)
    # Meta now calls `callback_url`: when that is the built-in tunnel, it opens again whenever MediaDesk starts
    # (at the same static domain, the address Meta holds); an address of the owner's own needs nothing at start.
    _remember(engine, tunnel=engine.tunnel is not None and callback_url == engine.tunnel.webhook_url)
    return done


def _remember(engine: MediaDeskEngine, **settings: Any) -> None:
    """Keep `settings` in the running engine and in the settings file."""
    if any(getattr(engine.cfg, k) != v for k, v in settings.items()):
        engine.reconfigure(engine.cfg.with_changes(**settings))
        save_settings(engine.cfg)
