"""Writing the flat TOML settings file that `engine.config` reads (secrets never go here: see engine.secrets)."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from engine.config import Config
from engine.errors import ConfigError

# The keys the Settings dialog owns in the file; anything else there is kept as it was.
SETTINGS_KEYS = ("graph_version", "host", "port", "storage", "s3_bucket", "s3_region", "s3_endpoint_url",
                 "retry_delays", "workers")
SETTINGS_KEYS += ("retention_action", "retention_days", "retention_types")  # the Retention group
SETTINGS_KEYS += ("alert_webhook_url", "alert_email_to", "alert_email_from", "smtp_host", "smtp_port", "smtp_security",
                  "smtp_user")  # the Alerts section
SETTINGS_KEYS += ("backup_every_hours", "backup_keep")  # the Backups section
SETTINGS_KEYS += ("tunnel", "tunnel_domain")  # the built-in tunnel that Connect WhatsApp… opened


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    escaped = str(v).replace("\\", "\\\\").replace('"', '\\"')
    escaped = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", escaped)
    return f'"{escaped}"'


def settings_path(cfg: Config) -> Path:
    """Where settings are saved: the file MediaDesk was started with, else `{data_dir}/mediadesk.toml`."""
    return cfg.config_file or cfg.data_dir / "mediadesk.toml"


def write_settings_toml(path: Path, values: dict[str, Any]) -> None:
    """Merge `values` into the flat TOML file at `path` (None removes a key); atomic replace."""
    current: dict[str, Any] = {}
    if path.exists():
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML ({exc}); fix or remove it, then save again") from None
        current = dict(raw.get("mediadesk", raw))
    for key, value in values.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = list(value) if isinstance(value, tuple) else value
    lines = ["# MediaDesk settings, written by the Settings dialog. Secrets live in the OS keyring.", ""]
    lines += [f"{key} = {_toml_value(value)}" for key, value in sorted(current.items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def save_settings(cfg: Config) -> Path:
    """Write `cfg`'s file-kept settings (SETTINGS_KEYS) to its settings file; returns the file."""
    path = settings_path(cfg)
    write_settings_toml(path, {key: getattr(cfg, key) for key in SETTINGS_KEYS})
    return path


__all__ = ["SETTINGS_KEYS", "save_settings", "settings_path", "write_settings_toml"]
