"""MediaDesk configuration: one frozen `Config`, built once from four layers.

Precedence is CLI > environment (`MEDIADESK_*`) > TOML file (`--config`) > defaults. Secrets (access
token, app secret, verify token) are never written to the TOML file or the database: they live in the
OS keyring, or without one in a file only the user can read (see `engine.secrets`), and the environment
overrides both for headless use.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import platformdirs

from engine.errors import ConfigError

APP_NAME = "MediaDesk"
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (10.0, 30.0, 60.0)
# Meta's newest Graph API version (released 29 July 2026; each one is served about two years). Calls pinned to a
# version Meta retired start failing, so this moves forward with Meta's changelog; MEDIADESK_GRAPH_VERSION overrides.
GRAPH_API_VERSION = "v26.0"

# MEDIADESK_<NAME> -> Config field
ENV_FIELDS: dict[str, str] = {
    "MEDIADESK_DATA_DIR": "data_dir",
    "MEDIADESK_DATABASE_URL": "database_url",
    "MEDIADESK_GRAPH_URL": "graph_url",
    "MEDIADESK_GRAPH_VERSION": "graph_version",
    "MEDIADESK_ACCESS_TOKEN": "access_token",
    "MEDIADESK_APP_SECRET": "app_secret",
    "MEDIADESK_VERIFY_TOKEN": "verify_token",
    "MEDIADESK_HOST": "host",
    "MEDIADESK_PORT": "port",
    "MEDIADESK_STORAGE": "storage",
    "MEDIADESK_S3_BUCKET": "s3_bucket",
    "MEDIADESK_S3_REGION": "s3_region",
    "MEDIADESK_S3_ENDPOINT_URL": "s3_endpoint_url",
    "MEDIADESK_REDIS_URL": "redis_url",
    "MEDIADESK_RETRY_DELAYS": "retry_delays",
    "MEDIADESK_WORKERS": "workers",
    "MEDIADESK_MAX_BODY_BYTES": "max_body_bytes",
    "MEDIADESK_DOWNLOAD_TIMEOUT": "download_timeout",
    "MEDIADESK_HEALTH_EVERY_MIN": "health_every_min",
    "MEDIADESK_ALERT_WEBHOOK_URL": "alert_webhook_url",
    "MEDIADESK_ALERT_EMAIL_TO": "alert_email_to",
    "MEDIADESK_ALERT_EMAIL_FROM": "alert_email_from",
    "MEDIADESK_SMTP_HOST": "smtp_host",
    "MEDIADESK_SMTP_PORT": "smtp_port",
    "MEDIADESK_SMTP_SECURITY": "smtp_security",
    "MEDIADESK_SMTP_USER": "smtp_user",
    "MEDIADESK_SMTP_PASSWORD": "smtp_password",
    "MEDIADESK_BACKUP_EVERY_HOURS": "backup_every_hours",
    "MEDIADESK_BACKUP_KEEP": "backup_keep",
    "MEDIADESK_SCRUB_EVERY_MIN": "scrub_every_min",
    "MEDIADESK_SCRUB_PERIOD_DAYS": "scrub_period_days",
    "MEDIADESK_DISK_WARN_MB": "disk_warn_mb",
    "MEDIADESK_DISK_WARN_PERCENT": "disk_warn_percent",
    "MEDIADESK_DISK_BAD_MB": "disk_bad_mb",
    "MEDIADESK_TUNNEL_AUTHTOKEN": "tunnel_authtoken",
    "MEDIADESK_TUNNEL_DOMAIN": "tunnel_domain",
    "MEDIADESK_TUNNEL": "tunnel",
    "MEDIADESK_RETENTION_ACTION": "retention_action",
    "MEDIADESK_RETENTION_DAYS": "retention_days",
    "MEDIADESK_RETENTION_TYPES": "retention_types",
    "MEDIADESK_ATTACHED": "attached",
    "MEDIADESK_ATTACHED_WORKERS": "attached_workers",
    "MEDIADESK_DATABASE_PASSWORD": "database_password",
    "MEDIADESK_REDIS_PASSWORD": "redis_password",
    "MEDIADESK_S3_ACCESS_KEY_ID": "s3_access_key_id",
    "MEDIADESK_S3_SECRET_ACCESS_KEY": "s3_secret_access_key",
}
SECRET_FIELDS = ("access_token", "app_secret", "verify_token", "smtp_password", "tunnel_authtoken", "database_password",
                 "redis_password", "s3_access_key_id", "s3_secret_access_key")
SMTP_SECURITY = ("starttls", "tls", "none")
RETENTION_ACTIONS = ("keep", "s3", "delete")  # engine.media.retention
RETENTION_TYPES = ("image", "video", "audio", "document", "sticker")
SETTINGS_FILE = "mediadesk.toml"


@dataclass(frozen=True)
class Config:
    """Everything the engine needs to run; immutable so it can be shared across threads."""

    data_dir: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME, False)))
    database_url: str | None = None
    graph_url: str = "https://graph.facebook.com"
    graph_version: str = GRAPH_API_VERSION
    access_token: str | None = None
    app_secret: str | None = None
    verify_token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8787
    storage: str = "local"
    s3_bucket: str | None = None
    s3_region: str | None = None
    s3_endpoint_url: str | None = None
    redis_url: str | None = None
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    workers: int = 4
    max_body_bytes: int = 1024 * 1024
    download_timeout: float = 300.0
    health_every_min: int = 5  # the periodic health check; 0 turns it off (tests that count the queue)
    alert_webhook_url: str | None = None  # a Slack-style incoming webhook: health changes are POSTed there
    alert_email_to: tuple[str, ...] = ()  # comma-separated in the environment and TOML
    alert_email_from: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls | tls (implicit, port 465) | none
    smtp_user: str | None = None
    smtp_password: str | None = None
    backup_every_hours: int = 24  # scheduled backups; 0 turns them off
    backup_keep: int = 7  # scheduled backups kept; those taken before migrations and by hand are never pruned
    scrub_every_min: int = 60  # the rolling re-hash of stored files (engine.media.verify); 0 turns it off
    scrub_period_days: float = 7.0  # every stored file is re-hashed within this many days
    scrub_max_files: int = 500  # the most files one scrub run re-hashes, however far behind it is
    # Free space on the data and temp folders: a warning under either of the first two, bad under the third.
    disk_warn_mb: int = 1024
    disk_warn_percent: float = 5.0
    disk_bad_mb: int = 200
    tunnel_authtoken: str | None = None  # the owner's ngrok authtoken (a secret): the built-in tunnel's account
    tunnel_domain: str | None = None  # a static ngrok domain, so the address Meta holds survives a restart
    tunnel: bool = False  # open the built-in tunnel whenever the listener starts (Connect WhatsApp… sets it)
    retention_action: str = "keep"  # keep (forever) | s3 (move there) | delete, after retention_days
    retention_days: int = 90
    retention_types: tuple[str, ...] = ()  # the media types the policy applies to; empty: every type
    # A console attached to a shared backend (engine.attach): no listener, workers only with `attached_workers`.
    attached: bool = False
    attached_workers: bool = False
    # Kept out of the URLs in the TOML file (secrets); load_config puts them back into database_url / redis_url.
    database_password: str | None = None
    redis_password: str | None = None
    s3_access_key_id: str | None = None  # empty: boto3's own chain (environment, ~/.aws, an instance role)
    s3_secret_access_key: str | None = None
    config_file: Path | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "mediadesk.db"

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.db_path}"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.db"

    @property
    def backups_dir(self) -> Path:
        return self.data_dir / "backups"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def webhook_url(self) -> str:
        return f"http://{self.host}:{self.port}/webhook"

    def with_changes(self, **changes: Any) -> Config:
        return _coerce(replace(self, **changes))


def _parse_delays(value: Any) -> tuple[float, ...]:
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
    else:
        parts = list(value)
    try:
        delays = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise ConfigError(f"retry delays must be seconds separated by commas, got {value!r}") from None
    if any(d < 0 for d in delays):
        raise ConfigError(f"retry delays cannot be negative, got {value!r}")
    return delays


def _parse_addresses(value: Any) -> tuple[str, ...]:
    parts = value.split(",") if isinstance(value, str) else list(value or ())
    return tuple(str(p).strip() for p in parts if str(p).strip())


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def url_password(url: str | None) -> tuple[str | None, str | None]:
    """`url` without its password, and the password (None when it has none); other parts stay as written."""
    if not url:
        return url, None
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}@{host}" if user else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc)), unquote(parts.password)


def url_with_password(url: str | None, password: str | None) -> str | None:
    """`url` with `password` put in (percent-encoded) unless it carries one already."""
    if not url or not password or urlsplit(url).password is not None:
        return url
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))


def _coerce(cfg: Config) -> Config:
    """Normalise types (env and TOML give strings) and reject values that cannot work."""
    try:
        port = int(cfg.port)
        workers = int(cfg.workers)
        max_body = int(cfg.max_body_bytes)
        timeout = float(cfg.download_timeout)
        health_every = int(cfg.health_every_min)
        smtp_port, backup_every, backup_keep = int(cfg.smtp_port), int(cfg.backup_every_hours), int(cfg.backup_keep)
        scrub_every = int(cfg.scrub_every_min)
        scrub_period = float(cfg.scrub_period_days)
        scrub_max = int(cfg.scrub_max_files)
        disk_warn_mb, disk_bad_mb = int(cfg.disk_warn_mb), int(cfg.disk_bad_mb)
        disk_warn_percent = float(cfg.disk_warn_percent)
        retention_days = int(cfg.retention_days)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid number in configuration: {exc}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"port must be between 0 and 65535, got {port}")
    if not 0 <= health_every <= 60 or (health_every and 60 % health_every):
        raise ConfigError(f"the health check interval must divide 60 minutes (or be 0 for off), got {health_every}")
    if not 0 <= scrub_every <= 60 or (scrub_every and 60 % scrub_every):
        raise ConfigError(f"the scrub interval must divide 60 minutes (or be 0 for off), got {scrub_every}")
    if scrub_period <= 0 or scrub_max < 1:
        raise ConfigError(f"the scrub needs a period over 0 days and at least 1 file per run, got "
                          f"{scrub_period:g} days and {scrub_max} files")
    if disk_warn_mb < 0 or disk_bad_mb < 0 or not 0 <= disk_warn_percent <= 100:
        raise ConfigError("free-space thresholds must be positive megabytes and a percentage from 0 to 100")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    retention_action, retention_types = str(cfg.retention_action).lower(), _parse_addresses(cfg.retention_types)
    if retention_action not in RETENTION_ACTIONS or retention_days < 1:
        raise ConfigError(f"retention is keep, s3 or delete after at least 1 day, got {cfg.retention_action!r} "
                          f"after {retention_days} days")
    if set(retention_types) - set(RETENTION_TYPES):
        raise ConfigError(f"retention types are {', '.join(RETENTION_TYPES)}, got {', '.join(retention_types)}")
    if retention_action == "s3" and not cfg.s3_bucket:
        raise ConfigError("moving media to S3 needs a bucket (MEDIADESK_S3_BUCKET)")
    smtp_security = str(cfg.smtp_security).lower()
    if smtp_security not in SMTP_SECURITY:
        raise ConfigError(f"SMTP security must be one of {', '.join(SMTP_SECURITY)}, got {cfg.smtp_security!r}")
    if backup_every < 0 or backup_keep < 1:
        raise ConfigError(f"backups need an interval of 0 (off) or more hours and a count of at least 1, "
                          f"got every {backup_every} hours, keep {backup_keep}")
    storage = str(cfg.storage).lower()
    if storage == "aws":
        storage = "s3"
    if storage not in ("local", "s3"):
        raise ConfigError(f"storage must be 'local' or 's3', got {cfg.storage!r}")
    if storage == "s3" and not cfg.s3_bucket:
        raise ConfigError("S3 storage needs a bucket (MEDIADESK_S3_BUCKET)")
    return replace(
        cfg,
        data_dir=Path(cfg.data_dir).expanduser(),
        port=port,
        workers=workers,
        max_body_bytes=max_body,
        download_timeout=timeout,
        health_every_min=health_every,
        scrub_every_min=scrub_every,
        scrub_period_days=scrub_period,
        scrub_max_files=scrub_max,
        disk_warn_mb=disk_warn_mb,
        disk_bad_mb=disk_bad_mb,
        disk_warn_percent=disk_warn_percent,
        storage=storage,
        retry_delays=_parse_delays(cfg.retry_delays),
        graph_url=str(cfg.graph_url).rstrip("/"),
        smtp_port=smtp_port,
        smtp_security=smtp_security,
        alert_email_to=_parse_addresses(cfg.alert_email_to),
        backup_every_hours=backup_every,
        backup_keep=backup_keep,
        retention_action=retention_action,
        retention_days=retention_days,
        retention_types=retention_types,
        attached=_flag(cfg.attached),
        attached_workers=_flag(cfg.attached_workers),
        tunnel=_flag(cfg.tunnel),
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    known = {f.name for f in fields(Config)}
    flat = dict(raw.get("mediadesk", raw))
    unknown = sorted(set(flat) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s) in {path}: {', '.join(unknown)}")
    secrets_in_file = [k for k in SECRET_FIELDS if k in flat]
    if secrets_in_file:
        raise ConfigError(
            f"{path} holds secrets ({', '.join(secrets_in_file)}); keep them in the keyring or environment"
        )
    return flat


def load_config(
    cli: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: Path | str | None = None,
    use_keyring: bool = True,
) -> Config:
    """Build the configuration: CLI > environment > file > keyring (secrets only) > defaults.

    `cli` holds only options the user actually gave (None values are ignored).
    """
    environ = os.environ if environ is None else environ
    layers: dict[str, Any] = {}
    file_path = config_file or (cli or {}).get("config_file") or environ.get("MEDIADESK_CONFIG")
    if file_path:
        layers.update(_read_toml(Path(file_path)))
        layers["config_file"] = Path(file_path)
    for env_name, attr in ENV_FIELDS.items():
        value = environ.get(env_name)
        if value not in (None, ""):
            layers[attr] = value
    for key, value in (cli or {}).items():
        if value is not None and key != "config_file":
            layers[key] = value
    if not file_path:
        # The console's Settings dialog saves to {data_dir}/mediadesk.toml: read it back, below env and CLI.
        data_dir = Path(layers.get("data_dir") or Config().data_dir).expanduser()
        saved = data_dir / SETTINGS_FILE
        if saved.is_file():
            layers = {**_read_toml(saved), "config_file": saved, **layers}
    cfg = _coerce(Config(**layers))
    if use_keyring:
        from engine import secrets

        missing = {name: secrets.get_secret(name, data_dir=cfg.data_dir) for name in SECRET_FIELDS
                   if getattr(cfg, name) is None}
        cfg = replace(cfg, **{k: v for k, v in missing.items() if v is not None})
    return replace(cfg, database_url=url_with_password(cfg.database_url, cfg.database_password),
                   redis_url=url_with_password(cfg.redis_url, cfg.redis_password))
