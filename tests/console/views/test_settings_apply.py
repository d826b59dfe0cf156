"""Settings > OK from the main window: saved, then applied to the running engine off the GUI thread."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
import requests
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox

from console.bridge import EngineBridge
from console.main_window import MainWindow
from console.settings_dialog import SettingsDialog
from engine import Config, MediaDeskEngine, load_config


@pytest.fixture
def engine(cfg: Config) -> Iterator[MediaDeskEngine]:
    eng = MediaDeskEngine(cfg.with_changes(port=0, workers=2, health_every_min=0, app_secret="apply-secret"))
    eng.start()
    yield eng
    eng.stop()


@pytest.fixture
def window(qtbot, engine: MediaDeskEngine) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    win = MainWindow(engine, EngineBridge(), engine.cfg)
    qtbot.addWidget(win)
    yield win
    win.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def when_dialog_opens(fill: Callable[[SettingsDialog], None]) -> None:
    """`MainWindow.open_settings` runs the dialog modally: edit it from inside its event loop, then press OK."""

    def attempt() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, SettingsDialog):
            QTimer.singleShot(10, attempt)
            return
        fill(dialog)
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()

    QTimer.singleShot(0, attempt)


def set_fields(**values: str) -> Callable[[SettingsDialog], None]:
    def fill(dialog: SettingsDialog) -> None:
        for name, value in values.items():
            dialog.fields[name].editor.setText(value)
    return fill


def test_saving_settings_applies_workers_and_port_to_the_running_engine(qtbot, window, engine, cfg):  # type: ignore[no-untyped-def]
    old_address = engine.listener.address
    port = free_port()
    when_dialog_opens(set_fields(workers="3", port=str(port), retry_delays="1, 2"))
    with qtbot.waitSignal(window.settings_applied, timeout=30_000) as applied:
        window.open_settings()

    assert "2 -> 3 download workers" in applied.args[0]
    assert f"listener moved to 127.0.0.1:{port}" in applied.args[0]
    assert engine.workers_alive() == 3 and engine.cfg.workers == 3
    assert engine.cfg.retry_delays == (1.0, 2.0)
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()["workers_alive"] == 3
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{old_address}/healthz", timeout=5)
    assert window.status.listener.text() == f"Listening on http://127.0.0.1:{port}/webhook"
    assert window.status.currentMessage().startswith("Settings saved and applied: ")
    assert "next start" not in window.status.currentMessage()
    assert window.settings_action.isEnabled()
    # Saved too, for the next start.
    saved = load_config(config_file=cfg.data_dir / "mediadesk.toml", environ={}, use_keyring=False)
    assert (saved.workers, saved.port) == (3, port)
    qtbot.waitUntil(lambda: window.status.last is not None and window.status.last.workers_alive == 3, timeout=10_000)


def test_a_port_in_use_is_explained_and_the_listener_stays(qtbot, window, engine):  # type: ignore[no-untyped-def]
    address = engine.listener.address
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        when_dialog_opens(set_fields(port=str(port)))
        with qtbot.waitSignal(window.settings_failed, timeout=30_000) as failed:
            window.open_settings()

    assert f"cannot listen on 127.0.0.1:{port}" in failed.args[0]
    box = window.findChild(QMessageBox, "settingsError")
    assert box is not None and box.isVisible()
    assert "could not use them" in box.text() and f"still received on {address}/webhook" in box.text()
    assert requests.get(f"{address}/healthz", timeout=5).status_code == 200
    assert window.status.listener.text() == f"Listening on {address}/webhook"
    assert window.settings_action.isEnabled()
    box.close()
