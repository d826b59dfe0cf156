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
from engine.events import EventBus, HealthChanged, MaintenanceChanged, MediaStatusChanged, MessagesStored
from engine.health import Finding, HealthReport
from engine.maintenance import MaintenanceState
from engine.metrics import Metrics
from engine.runtime import MediaDeskEngine

__all__ = [
    "Config",
    "ConfigError",
    "DatabaseError",
    "EventBus",
    "Finding",
    "HealthChanged",
    "HealthReport",
    "MaintenanceChanged",
    "MaintenanceState",
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
    "load_config",
]
