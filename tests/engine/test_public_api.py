"""The engine's public surface is small, typed and pinned: the console imports only this."""

from __future__ import annotations

import subprocess
import sys

import engine
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

PUBLIC_API = [
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


def test_all_is_pinned() -> None:
    assert sorted(engine.__all__) == PUBLIC_API, "changing the public API is a decision: update this list with it"


def test_every_public_name_exists() -> None:
    for name in engine.__all__:
        assert getattr(engine, name) is not None, name


def test_exception_tree() -> None:
    for exc in (ConfigError, DatabaseError, StorageError, MediaError, AlertError, ConnectError, TunnelError):
        assert issubclass(exc, MediaDeskError)
    assert issubclass(PermanentMediaError, MediaError) and issubclass(TransientMediaError, MediaError)
    assert PermanentMediaError("x", reason="gone").reason == "gone"
    assert TransientMediaError("x").reason == "transient"
    assert ConnectError("x", reason="token").reason == "token"
    assert TunnelError("x", reason="authtoken").reason == "authtoken"


def test_engine_never_imports_qt_or_the_console() -> None:
    code = ("import sys, engine, engine.runtime, engine.cli, engine.simulator, engine.demo; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'console')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_event_bus_survives_a_failing_subscriber() -> None:
    bus = engine.EventBus()
    got: list[object] = []

    def broken(_: object) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    unsubscribe = bus.subscribe(got.append)
    event = engine.MediaStatusChanged(1, "completed")
    bus.emit(event)
    assert got == [event]
    unsubscribe()
    bus.emit(event)
    assert got == [event]
