"""Settings' "Where MediaDesk runs": this computer or a shared backend, a one-line connection test, and
passwords kept out of the settings file. The backend tried is a real migrated SQLite file (the views' `cfg`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from console.settings_dialog import SettingsDialog
from engine import Config, get_secret, load_config


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    for name in ("MEDIADESK_CONFIG", "MEDIADESK_DATABASE_URL", "MEDIADESK_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)


def _dialog(qtbot, cfg: Config) -> SettingsDialog:
    d = SettingsDialog(cfg)
    qtbot.addWidget(d)
    return d


def _ok(d: SettingsDialog):
    return d.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_this_computer_is_the_default_and_keeps_the_shared_fields_off(qtbot, cfg: Config) -> None:
    d = _dialog(qtbot, cfg)
    b = d.backend
    assert b.here.isChecked() and not b.attached
    assert not b.database_url.isEnabled() and not b.test_button.isEnabled()
    assert _ok(d).isEnabled()
    assert not d.result_config().attached


def test_a_shared_backend_needs_a_database_url_and_says_so_at_the_group(qtbot, cfg: Config) -> None:
    d = _dialog(qtbot, cfg)
    b = d.backend
    b.shared.setChecked(True)
    assert b.database_url.isEnabled() and not b.redis_url.isEnabled()
    assert "Enter the shared database's URL" in b.message.text() and not _ok(d).isEnabled()
    b.database_url.setText("mysql://db/x")
    assert "postgresql://" in b.message.text() and not _ok(d).isEnabled()
    b.database_url.setText("postgresql://md@db.example/media")
    b.queue.setCurrentIndex(b.queue.findData("redis"))
    assert b.redis_url.isEnabled() and "Redis URL" in b.message.text() and not _ok(d).isEnabled()
    b.redis_url.setText("redis://cache.example:6379/0")
    assert b.message.isHidden() and _ok(d).isEnabled() and b.test_button.isEnabled()


def test_test_connection_says_in_one_line_what_works_or_what_is_wrong(qtbot, cfg: Config, tmp_path: Path) -> None:
    d = _dialog(qtbot, cfg)
    b = d.backend
    b.shared.setChecked(True)
    b.database_url.setText(f"sqlite:///{cfg.db_path}")
    with qtbot.waitSignal(b.tested, timeout=20_000) as said:
        b.test_button.click()
        assert not b.test_button.isEnabled() and b.test_button.text() == "Testing…"
    assert said.args[0] is True
    assert b.test_result.text().startswith("✔ Connected: sqlite database at revision")
    b.database_url.setText(f"sqlite:///{tmp_path}/nowhere/mediadesk.db")
    with qtbot.waitSignal(b.tested, timeout=20_000) as said:
        b.test_button.click()
    assert said.args[0] is False and "\n" not in b.test_result.text()
    assert b.test_result.text() == f"✖ there is no database at sqlite:///{tmp_path}/nowhere/mediadesk.db"
    assert b.test_button.isEnabled()


def test_saving_a_shared_backend_keeps_its_passwords_out_of_the_file(qtbot, cfg: Config) -> None:
    d = _dialog(qtbot, cfg)
    b = d.backend
    b.shared.setChecked(True)
    b.database_url.setText("postgresql://md:typed-in-url@db.example:5433/media")
    b.s3_key_id.setText("AKIA-CONSOLE")
    b.s3_secret.setText("s3-secret-key")
    b.workers.setChecked(True)
    with qtbot.waitSignal(d.accepted, timeout=10_000):
        _ok(d).click()
    new = d.result_config()
    assert new.attached and new.attached_workers
    assert new.database_url == "postgresql://md:typed-in-url@db.example:5433/media"  # what the engine connects with
    toml = (cfg.data_dir / "mediadesk.toml").read_text()
    assert "typed-in-url" not in toml and "s3-secret-key" not in toml
    assert 'database_url = "postgresql://md@db.example:5433/media"' in toml and "attached = true" in toml
    assert get_secret("database_password", data_dir=cfg.data_dir) == "typed-in-url"
    again = load_config(config_file=cfg.data_dir / "mediadesk.toml", environ={"MEDIADESK_DATA_DIR": str(cfg.data_dir)})
    assert again.database_url == new.database_url and again.s3_secret_access_key == "s3-secret-key"

    # Opened again: the URL without its password, the password only said to be kept.
    d2 = _dialog(qtbot, again)
    assert d2.backend.shared.isChecked()
    assert d2.backend.database_url.text() == "postgresql://md@db.example:5433/media"
    assert d2.backend.database_password.text() == "" and "keep" in d2.backend.database_password.placeholderText()


def test_the_settings_page_as_a_user_sees_it(qtbot, cfg: Config, tmp_path: Path) -> None:
    d = _dialog(qtbot, cfg)
    d.backend.shared.setChecked(True)
    d.backend.database_url.setText("postgresql://mediadesk@db.rossi.example:5432/mediadesk")
    d.show()
    qtbot.waitExposed(d)
    shot = tmp_path / "settings-backend.png"
    assert d.grab().save(str(shot))
    # Every field of the group is on the page, not clipped off its bottom edge.
    group = d.backend.geometry()
    assert group.bottom() < d.buttons.geometry().top()
    d.close()
