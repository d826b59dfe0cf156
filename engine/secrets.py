"""Secrets in the OS keyring, with a clear word when there is no keyring (servers, CI).

The environment (`MEDIADESK_ACCESS_TOKEN`, ...) always wins over the keyring; see `engine.config`.
"""

from __future__ import annotations

import logging

import keyring
import keyring.errors
from keyring.backends import fail

from engine.errors import ConfigError

log = logging.getLogger(__name__)
SERVICE = "MediaDesk"
_warned = False


def keyring_available() -> bool:
    """True when a real keyring backend (not the 'fail' or null one) is configured."""
    backend = keyring.get_keyring()
    return not isinstance(backend, fail.Keyring) and backend.priority > 0


def _warn_once() -> None:
    global _warned
    if not _warned:
        log.warning(
            "no OS keyring is available on this machine; secrets come from the environment "
            "(MEDIADESK_ACCESS_TOKEN, MEDIADESK_APP_SECRET, MEDIADESK_VERIFY_TOKEN)"
        )
        _warned = True


def get_secret(name: str, *, account: str = "default") -> str | None:
    """The secret `name` for a workspace `account`, or None if unset or no keyring exists."""
    if not keyring_available():
        _warn_once()
        return None
    try:
        return keyring.get_password(SERVICE, f"{account}:{name}")
    except keyring.errors.KeyringError as exc:
        log.warning("could not read %s from the keyring: %s", name, exc)
        return None


def set_secret(name: str, value: str | None, *, account: str = "default") -> None:
    """Store (or with None, delete) a secret; raises ConfigError when no keyring can hold it."""
    if not keyring_available():
        raise ConfigError(
            "no OS keyring is available to store secrets; set them in the environment instead"
        )
    try:
        if value:
            keyring.set_password(SERVICE, f"{account}:{name}", value)
        else:
            try:
                keyring.delete_password(SERVICE, f"{account}:{name}")
            except keyring.errors.PasswordDeleteError:
                pass
    except keyring.errors.KeyringError as exc:
        raise ConfigError(f"the keyring refused to store {name}: {exc}") from exc
