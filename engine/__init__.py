"""MediaDesk's headless engine. The console imports only what is listed here.

The engine never imports Qt: it runs the same inside the desktop app and in `mediadesk serve`.
"""

from engine.config import Config, load_config
from engine.errors import (
    ConfigError,
    DatabaseError,
    MediaDeskError,
    MediaError,
    PermanentMediaError,
    StorageError,
    TransientMediaError,
    WebhookError,
)
from engine.events import EventBus, HealthChanged, MediaStatusChanged, MessagesStored
from engine.export import ExportResult, export_chat, media_link
from engine.health import Finding, HealthReport
from engine.metrics import Metrics
from engine.runtime import MediaDeskEngine

__all__ = [
    "Config",
    "ConfigError",
    "DatabaseError",
    "EventBus",
    "ExportResult",
    "Finding",
    "HealthChanged",
    "HealthReport",
    "MediaDeskEngine",
    "MediaDeskError",
    "MediaError",
    "MediaStatusChanged",
    "MessagesStored",
    "Metrics",
    "PermanentMediaError",
    "StorageError",
    "TransientMediaError",
    "WebhookError",
    "export_chat",
    "load_config",
    "media_link",
]
