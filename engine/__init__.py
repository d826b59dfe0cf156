"""MediaDesk's headless engine. The console imports only what is listed here.

The engine never imports Qt: it runs the same inside the desktop app and in `mediadesk serve`.
"""

from engine.alerts import AlertDelivery
from engine.backup_schedule import BackupInfo
from engine.config import Config, load_config
from engine.connect import ConnectedNumber, StepResult, connect_number
from engine.db.models import MediaStatus
from engine.errors import (
    AlertError,
    ConfigError,
    ConnectError,
    DatabaseError,
    MediaDeskError,
    MediaError,
    PermanentMediaError,
    StorageError,
    TransientMediaError,
    WebhookError,
)
from engine.events import EventBus, HealthChanged, MediaStatusChanged, MessagesStored
from engine.health import Finding, HealthReport
from engine.media.reasons import FailureReason
from engine.metrics import Metrics
from engine.runtime import MediaDeskEngine

__all__ = [
    "AlertDelivery",
    "AlertError",
    "BackupInfo",
    "Config",
    "ConfigError",
    "ConnectError",
    "ConnectedNumber",
    "DatabaseError",
    "EventBus",
    "FailureReason",
    "Finding",
    "HealthChanged",
    "HealthReport",
    "MediaDeskEngine",
    "MediaDeskError",
    "MediaError",
    "MediaStatus",
    "MediaStatusChanged",
    "MessagesStored",
    "Metrics",
    "PermanentMediaError",
    "StepResult",
    "StorageError",
    "TransientMediaError",
    "WebhookError",
    "connect_number",
    "load_config",
]
