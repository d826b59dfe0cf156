"""Live reconfiguration: new settings applied to a running `MediaDeskEngine`, and what changed, in words.

Apart from the engine's life cycle (engine/runtime.py) because it is a different question: not "open, start,
stop", but "which running part must be replaced for this setting, and how to get back if that fails".
`MediaDeskEngine.reconfigure` calls `apply` under the engine's lock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from engine.config import Config
from engine.errors import ConfigError, MediaDeskError, StorageError
from engine.storage import Storage, make_storage

if TYPE_CHECKING:
    from engine.runtime import MediaDeskEngine

log = logging.getLogger(__name__)

# What cannot change in a running engine: the files and queue it has open. Each keeps its running value
# until the next start, with the note the caller is given.
AT_NEXT_START = {
    "data_dir": "data folder changes apply at the next start",
    "database_url": "database changes apply at the next start",
    "redis_url": "queue (Redis) changes apply at the next start",
    "attached": "switching between this computer and a shared backend applies at the next start",
    "attached_workers": "download workers on an attached console start or stop at the next start",
    "health_every_min": "health check interval changes apply at the next start",
    "scrub_every_min": "file check (scrub) interval changes apply at the next start",
}
_LISTENER_FIELDS = ("host", "port", "app_secret", "verify_token", "max_body_bytes")
_LISTENER_WORDS = {"app_secret": "app secret", "verify_token": "verify token", "max_body_bytes": "body size limit"}
WORKER_STOP_WAIT_S = 10.0  # a worker still downloading after this finishes on its own, then leaves


def apply(eng: MediaDeskEngine, cfg: Config) -> list[str]:
    """Apply `cfg` to `eng` (see `MediaDeskEngine.reconfigure`); the caller holds the engine's lock."""
    old = eng.cfg
    notes = [note for name, note in AT_NEXT_START.items() if getattr(cfg, name) != getattr(old, name)]
    cfg = replace(cfg, **{name: getattr(old, name) for name in AT_NEXT_START})
    applied: list[str] = []
    # What can fail comes first, so that a failure leaves the engine as it was.
    storage_changed = _storage_key(cfg) != _storage_key(old)
    storage = _new_storage(cfg) if storage_changed and eng.storage is not None else None
    if eng.listener is not None and _changed(old, cfg, _LISTENER_FIELDS):
        applied.append(_replace_listener(eng, old, cfg))
    elif _changed(old, cfg, ("host", "port")):
        applied.append(f"webhook address set to {cfg.host}:{cfg.port} (no listener is running here)")
    if storage is not None:
        eng.storage = storage
    if storage_changed:
        applied.append(_describe_storage(cfg))
    eng.cfg = cfg
    if eng.queue is not None:
        eng.queue.cfg = cfg  # its consumer starts `cfg.workers` threads
    if cfg.workers != old.workers:
        if eng.queue is not None and eng.queue.workers_alive() > 0:
            _restart_workers(eng)
            applied.append(f"{old.workers} -> {cfg.workers} download workers")
        else:
            applied.append(f"{cfg.workers} download workers when the workers start")
    applied += _describe_download_changes(old, cfg)
    for line in applied + notes:
        log.info("settings: %s", line)
    return applied + notes


def _new_storage(cfg: Config) -> Storage:
    try:
        return make_storage(cfg)
    except MediaDeskError:
        raise
    except Exception as exc:  # boto3 refusing the endpoint or region, say
        raise StorageError(f"cannot use the new storage settings: {exc}") from exc


def _replace_listener(eng: MediaDeskEngine, old_cfg: Config, cfg: Config) -> str:
    """Serve webhooks with `cfg`'s settings instead of the running listener's; restore it on failure."""
    current = eng.listener
    assert current is not None
    # Same configured address (port 0 included): keep the port the running listener actually has.
    port = current.port if (cfg.host, cfg.port) == (old_cfg.host, old_cfg.port) else cfg.port
    try:
        new = eng._bind_listener(cfg, port)  # bound while the old one still answers
    except ConfigError:
        if port != current.port:
            raise  # the port is someone else's: the old listener never stopped
        new = None  # the running listener holds this port itself: it must let go first
    # Two listeners must not feed one writer from two event loops at once: the old one stops first.
    current.stop()
    eng.listener = None
    try:
        if new is None:
            new = eng._bind_listener(cfg, port)
        try:
            new.start()
        except ConfigError:
            new.stop()
            raise
    except ConfigError as exc:
        try:
            eng.listener = eng._bind_listener(old_cfg, current.port)
            eng.listener.start()
        except ConfigError as again:
            if eng.listener is not None:
                eng.listener.stop()
            eng.listener = None
            raise ConfigError(f"{exc}; the listener is off, because {current.host}:{current.port} could not be "
                              f"taken back either ({again})") from exc
        log.warning("kept the previous webhook listener on %s", eng.listener.address)
        raise
    eng.listener = new
    if (new.host, new.port) != (current.host, current.port):
        return f"listener moved to {new.host}:{new.port}"
    words = [w for name, w in _LISTENER_WORDS.items() if getattr(cfg, name) != getattr(old_cfg, name)]
    with_what = f" with the new {' and '.join(words)}" if words else ""
    return f"listener on {new.host}:{new.port} restarted{with_what}"


def _restart_workers(eng: MediaDeskEngine) -> None:
    """Stop the download workers and start `eng.cfg.workers` new ones; paused stays paused.

    Queued tasks wait in Huey's storage meanwhile; a download in progress is finished, not dropped.
    """
    eng.queue.stop_consumer(timeout=WORKER_STOP_WAIT_S)
    eng.queue.start_consumer()


def _changed(old: Config, new: Config, names: Iterable[str]) -> bool:
    return any(getattr(old, name) != getattr(new, name) for name in names)


def _storage_key(cfg: Config) -> tuple[str | None, ...]:
    """What decides where new files go (the S3 settings do not matter while storage is local)."""
    if cfg.storage == "s3":
        return (cfg.storage, cfg.s3_bucket, cfg.s3_region, cfg.s3_endpoint_url)
    return (cfg.storage,)


def _describe_storage(cfg: Config) -> str:
    if cfg.storage == "s3":
        where = f" at {cfg.s3_endpoint_url}" if cfg.s3_endpoint_url else ""
        return f"storage is now S3 bucket {cfg.s3_bucket}{where} (files already downloaded stay where they are)"
    return "storage is now this computer's disk (files already downloaded stay where they are)"


def _describe_download_changes(old: Config, new: Config) -> list[str]:
    """The settings each download reads when it starts: nothing to restart, only to say."""
    lines = []
    if new.retry_delays != old.retry_delays:
        lines.append("retry waits are now " + ", ".join(f"{d:g}" for d in new.retry_delays) + " seconds")
    if new.graph_version != old.graph_version or new.graph_url != old.graph_url:
        lines.append(f"downloads use Graph API {new.graph_version}")
    if new.access_token != old.access_token:
        lines.append("downloads use the new access token")
    if new.download_timeout != old.download_timeout:
        lines.append(f"downloads time out after {new.download_timeout:g} seconds")
    return lines
