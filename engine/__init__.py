"""MediaDesk's headless engine. The console imports only what is listed here (tests/console/test_imports.py).

The engine never imports Qt or the console: it runs the same inside the desktop app and in `mediadesk serve`.

- running it: `MediaDeskEngine` (its `library` reads chats, conversations, media and the workspace), `Config`,
  `load_config`, the settings file (`save_settings`, `settings_path`) and the keyring (`get_secret`, ...)
- what it reads back: `ChatSummary`, `MessageView`, `MediaView`, `WorkspaceInfo`, `HealthReport`/`Finding`,
  `Metrics` with its targets and windows (`METRICS_WINDOWS`), `MediaStatus`
  `Metrics` with its targets, `MediaStatus`, `StorageUsage`/`UsageSlice`
- retention: `RetentionPolicy`/`RetentionRule`, what a run would do (`RetentionPreview`) and did (`RetentionReport`)
- what it tells: `EventBus` and its events; errors: the `MediaDeskError` tree (engine/errors.py)
- a console attached to a shared backend: `BackendChoice`, `check_backend`, `describe_backend`, `save_backend`,
  `MediaCache` (S3 files kept on this computer once shown)
- around it: `version`, `PROCESS_START`, `resource_path`, `setup_logging`, `DemoRunner`, `make_storage`
"""

from engine.about import PROCESS_START, version
from engine.alerts import AlertDelivery
from engine.attach import BackendChoice, check_backend, describe_backend, save_backend
from engine.backup_schedule import BackupInfo
from engine.config import Config, load_config
from engine.connect import BusinessNumber, ConnectedNumber, StepResult, connect_number
from engine.connect_live import PublicAddress, find_numbers, open_public_address, subscribe_number
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
    TunnelError,
)
from engine.events import EventBus, HealthChanged, MaintenanceChanged, MediaStatusChanged, MessagesStored
from engine.export import ExportResult, export_chat, media_link
from engine.health import Finding, HealthReport
from engine.ingest.parse import error_words
from engine.library import ChatSummary, Library, MediaFilter, MediaItem, MediaView, MessageView
from engine.logs import setup_logging
from engine.maintenance import MaintenanceState
from engine.media.dedupe import StorageUsage, UsageSlice
from engine.media.reasons import FailureReason
from engine.media.retention import RetentionPolicy, RetentionPreview, RetentionReport, RetentionRule
from engine.metrics import PROCESSING_TARGET_S, SUCCESS_TARGET, UNAVAILABLE_TARGET, Metrics
from engine.metrics import WINDOWS as METRICS_WINDOWS
from engine.resources import resource_path
from engine.runtime import MediaDeskEngine
from engine.secrets import get_secret, keyring_available, secrets_path, set_secret
from engine.settings_file import save_settings, settings_path
from engine.sizes import size_words
from engine.storage import make_storage
from engine.storage.cache import MediaCache
from engine.workspace import WorkspaceInfo


def __getattr__(name: str) -> object:
    # The demo's simulator costs ~40 ms of imports that `mediadesk serve` and a normal start never need.
    if name == "DemoRunner":
        from engine.demo import DemoRunner

        return DemoRunner
    raise AttributeError(f"module 'engine' has no attribute {name!r}")

__all__ = [
    "AlertDelivery",
    "AlertError",
    "BackendChoice",
    "BackupInfo",
    "BusinessNumber",
    "ChatSummary",
    "Config",
    "ConfigError",
    "ConnectError",
    "ConnectedNumber",
    "DatabaseError",
    "DemoRunner",
    "EventBus",
    "ExportResult",
    "FailureReason",
    "Finding",
    "HealthChanged",
    "HealthReport",
    "Library",
    "METRICS_WINDOWS",
    "MaintenanceChanged",
    "MaintenanceState",
    "MediaCache",
    "MediaDeskEngine",
    "MediaDeskError",
    "MediaError",
    "MediaFilter",
    "MediaItem",
    "MediaStatus",
    "MediaStatusChanged",
    "MediaView",
    "MessageView",
    "MessagesStored",
    "Metrics",
    "PROCESSING_TARGET_S",
    "PROCESS_START",
    "PermanentMediaError",
    "PublicAddress",
    "RetentionPolicy",
    "RetentionPreview",
    "RetentionReport",
    "RetentionRule",
    "SUCCESS_TARGET",
    "StepResult",
    "StorageError",
    "StorageUsage",
    "TransientMediaError",
    "TunnelError",
    "UNAVAILABLE_TARGET",
    "UsageSlice",
    "WorkspaceInfo",
    "check_backend",
    "connect_number",
    "describe_backend",
    "error_words",
    "export_chat",
    "find_numbers",
    "get_secret",
    "keyring_available",
    "load_config",
    "make_storage",
    "media_link",
    "open_public_address",
    "resource_path",
    "save_backend",
    "save_settings",
    "secrets_path",
    "set_secret",
    "settings_path",
    "setup_logging",
    "size_words",
    "subscribe_number",
    "version",
]
