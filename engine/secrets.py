"""Secrets (access token, app secret, verify token): in the OS keyring, or a file only the user can read.

Where there is a keyring (a desktop), secrets go there. Where there is none (a server, CI, a headless
box), they go to `secrets.json` in the data folder, created with mode 0600 on POSIX (on Windows the data
folder is inside the user's own profile). Never to the TOML config, which people copy and share.
The environment (`MEDIADESK_ACCESS_TOKEN`, ...) always wins over both; see `engine.config`.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
from pathlib import Path

import keyring
import keyring.errors
from keyring.backends import fail

from engine.errors import ConfigError

log = logging.getLogger(__name__)
SERVICE = "MediaDesk"
SECRETS_FILE = "secrets.json"
_warned = False


def keyring_available() -> bool:
    """True when a real keyring backend (not the 'fail' or null one) is configured."""
    backend = keyring.get_keyring()
    return not isinstance(backend, fail.Keyring) and backend.priority > 0


def secrets_path(data_dir: Path) -> Path:
    return Path(data_dir) / SECRETS_FILE


def _warn_once() -> None:
    global _warned
    if not _warned:
        log.warning(
            "no OS keyring is available on this machine; secrets come from the environment "
            "(MEDIADESK_ACCESS_TOKEN, MEDIADESK_APP_SECRET, MEDIADESK_VERIFY_TOKEN)"
        )
        _warned = True


def get_secret(name: str, *, account: str = "default", data_dir: Path | None = None) -> str | None:
    """The secret `name` for a workspace `account`: from the keyring, else from the data folder's file."""
    key = f"{account}:{name}"
    if keyring_available():
        try:
            value = keyring.get_password(SERVICE, key)
        except keyring.errors.KeyringError as exc:
            log.warning("could not read %s from the keyring: %s", name, exc)
            value = None
        if value is not None:
            return value
    elif data_dir is None:
        _warn_once()
        return None
    # A secret saved while there was no keyring stays readable once one appears.
    return _read_file(data_dir).get(key) if data_dir is not None else None


def set_secret(name: str, value: str | None, *, account: str = "default", data_dir: Path | None = None) -> str:
    """Store (or with None, delete) a secret; returns where it went ("keyring" or the file's path).

    Without a keyring it needs `data_dir`; ConfigError when neither can hold it.
    """
    key = f"{account}:{name}"
    if keyring_available():
        try:
            if value:
                keyring.set_password(SERVICE, key, value)
            else:
                try:
                    keyring.delete_password(SERVICE, key)
                except keyring.errors.PasswordDeleteError:
                    pass
        except keyring.errors.KeyringError as exc:
            raise ConfigError(f"the keyring refused to store {name}: {exc}") from exc
        if data_dir is not None and not value:
            _write_file(data_dir, key, None)
        return "keyring"
    if data_dir is None:
        raise ConfigError(
            "no OS keyring is available to store secrets; set them in the environment instead"
        )
    return str(_write_file(data_dir, key, value))


def _read_file(data_dir: Path) -> dict[str, str]:
    path = secrets_path(data_dir)
    try:
        if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
            # someone loosened it (a copy, an archive tool): take it back rather than refuse to start
            log.warning("%s could be read by other users; making it private again", path)
            path.chmod(0o600)
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the secrets file {path} cannot be read: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"the secrets file {path} is damaged (not a JSON object); delete it and save again")
    return {str(k): str(v) for k, v in raw.items()}


def _write_file(data_dir: Path, key: str, value: str | None) -> Path:
    """Replace the file whole: a crash mid-write leaves the old secrets, never half of them."""
    path = secrets_path(data_dir)
    current = _read_file(data_dir)
    if value:
        current[key] = value
    elif key in current:
        del current[key]
    else:
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".secrets-", dir=path.parent)  # mkstemp creates it 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(current, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"could not save {key.split(':', 1)[-1]} to {path}: {exc}") from exc
    return path
