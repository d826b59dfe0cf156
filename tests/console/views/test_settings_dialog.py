"""SettingsDialog: a message at each invalid field, the right Config from valid ones, saving, Test connection."""

from __future__ import annotations

import boto3
import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import null
from PySide6.QtWidgets import QDialogButtonBox

from console.settings_checks import validate_bucket
from console.settings_dialog import STORED_PLACEHOLDER, SettingsDialog
from engine import Config, Library, load_config, secrets_path


def _memory_keyring_class() -> type[KeyringBackend]:
    # Defined only when a test asks for it: keyring auto-selects every KeyringBackend subclass it knows,
    # and a module-level one would become the keyring of any later test that initialises keyring.
    class MemoryKeyring(KeyringBackend):
        priority = 1

        def __init__(self) -> None:
            super().__init__()
            self.values: dict[tuple[str, str], str] = {}

        def get_password(self, service, username):
            return self.values.get((service, username))

        def set_password(self, service, username, password):
            self.values[(service, username)] = password

        def delete_password(self, service, username):
            self.values.pop((service, username), None)

    return MemoryKeyring


@pytest.fixture
def memory_keyring():
    before = keyring.get_keyring()  # initialise keyring's choice before a new backend class exists
    ring = _memory_keyring_class()()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(before)


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    for name in ("MEDIADESK_ACCESS_TOKEN", "MEDIADESK_APP_SECRET", "MEDIADESK_VERIFY_TOKEN", "MEDIADESK_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def _dialog(qtbot, cfg: Config, engine=None) -> SettingsDialog:
    d = SettingsDialog(cfg, engine=engine)
    qtbot.addWidget(d)
    return d


def _ok(d: SettingsDialog):
    return d.buttons.button(QDialogButtonBox.StandardButton.Ok)


@pytest.mark.parametrize("field, value, message", [
    ("port", "0", "The port must be from 1 to 65535."),
    ("port", "70000", "The port must be from 1 to 65535."),
    ("port", "http", "The port must be a whole number from 1 to 65535."),
    ("workers", "65", "Workers must be from 1 to 64."),
    ("workers", "0", "Workers must be from 1 to 64."),
    ("retry_delays", "10, -5", "separated by commas"),
    ("retry_delays", "10,,30", "separated by commas"),
    ("retry_delays", "ten", "separated by commas"),
    ("graph_version", "21", "like v21.0"),
    ("host", "", "Enter the host"),
    ("phone_number_id", "12a", "digits only"),
])
def test_each_invalid_value_shows_its_message_and_disables_ok(qtbot, cfg, field, value, message):
    d = _dialog(qtbot, cfg)
    d.fields[field].editor.setEnabled(True)
    assert _ok(d).isEnabled()
    d.fields[field].editor.setText(value)
    assert not d.fields[field].message.isHidden()
    assert message in d.fields[field].message.text()
    assert not _ok(d).isEnabled()
    d.fields[field].editor.setText({"port": "8787", "workers": "4", "retry_delays": "10,30,60",
                                    "graph_version": "v21.0", "host": "127.0.0.1", "phone_number_id": ""}[field])
    assert d.fields[field].message.isHidden()
    assert _ok(d).isEnabled()


@pytest.mark.parametrize("bucket, message", [
    ("", "needs a bucket"),
    ("ab", "3 to 63"),
    ("Rossi_Media", "lowercase"),
    ("my..bucket", "two dots"),
    ("192.168.1.10", "IP address"),
    ("xn--bakery", "reserved"),
])
def test_s3_bucket_rules(qtbot, cfg, bucket, message):
    d = _dialog(qtbot, cfg)
    d.storage_box.setCurrentIndex(d.storage_box.findData("s3"))
    d.fields["s3_bucket"].editor.setText(bucket)
    assert message in d.fields["s3_bucket"].message.text()
    assert not _ok(d).isEnabled()
    assert not d.test_button.isEnabled()
    d.storage_box.setCurrentIndex(d.storage_box.findData("local"))  # the bucket does not matter for disk
    assert d.fields["s3_bucket"].message.isHidden() and _ok(d).isEnabled()
    assert validate_bucket("rossi-media.2026") is None


def test_valid_values_make_the_right_config_and_are_saved(qtbot, cfg, memory_keyring, db):
    class Engine:  # the dialog only needs the engine's library (its reads and the workspace row)
        library = Library(db)

    engine = Engine()
    d = _dialog(qtbot, cfg, engine)
    qtbot.waitUntil(lambda: d._keyring is not None, timeout=5000)
    values = {"workspace_name": "Rossi Bakery", "phone_number_id": "106540352242922", "waba_id": "102290129340398",
              "graph_version": "v22.0", "access_token": "EAAG-token", "app_secret": "s3cret", "host": "0.0.0.0",
              "port": "9443", "verify_token": "bakery-hook", "retry_delays": "5, 20.5, 90", "workers": "8"}
    for name, value in values.items():
        d.fields[name].editor.setText(value)
    d.storage_box.setCurrentIndex(d.storage_box.findData("s3"))
    d.fields["s3_bucket"].editor.setText("rossi-media")
    d.fields["s3_region"].editor.setText("eu-west-1")
    assert d._url.text() == "http://0.0.0.0:9443/webhook"
    d.copy_button.click()
    from PySide6.QtGui import QGuiApplication
    assert QGuiApplication.clipboard().text() == "http://0.0.0.0:9443/webhook"

    with qtbot.waitSignal(d.accepted, timeout=10_000):
        _ok(d).click()
    new = d.result_config()
    assert (new.graph_version, new.host, new.port, new.workers) == ("v22.0", "0.0.0.0", 9443, 8)
    assert new.retry_delays == (5.0, 20.5, 90.0)
    assert (new.storage, new.s3_bucket, new.s3_region, new.s3_endpoint_url) == ("s3", "rossi-media", "eu-west-1", None)
    assert (new.access_token, new.app_secret, new.verify_token) == ("EAAG-token", "s3cret", "bakery-hook")

    toml = (cfg.data_dir / "mediadesk.toml").read_text()
    assert "EAAG" not in toml and "s3cret" not in toml and "bakery-hook" not in toml
    again = load_config(config_file=cfg.data_dir / "mediadesk.toml", environ={}, use_keyring=True)
    assert (again.port, again.workers, again.retry_delays, again.s3_bucket) == (9443, 8, (5.0, 20.5, 90.0),
                                                                                "rossi-media")
    assert (again.access_token, again.app_secret, again.verify_token) == ("EAAG-token", "s3cret", "bakery-hook")
    ws = Library(db).workspace()
    assert (ws.name, ws.phone_number_id, ws.waba_id) == ("Rossi Bakery", "106540352242922", "102290129340398")

    # Opened again: the secrets are not shown, only said to be stored; the workspace row fills its fields.
    d2 = _dialog(qtbot, again, engine)
    qtbot.waitUntil(lambda: d2.fields["workspace_name"].editor.text() == "Rossi Bakery", timeout=5000)
    qtbot.waitUntil(lambda: d2.fields["access_token"].editor.placeholderText() == STORED_PLACEHOLDER, timeout=5000)
    assert d2.fields["access_token"].editor.text() == ""


def test_without_a_keyring_secrets_are_saved_to_the_private_file_and_read_after_a_restart(qtbot, cfg):
    before = keyring.get_keyring()
    keyring.set_keyring(null.Keyring())  # a server or CI machine: no keyring at all
    try:
        d = _dialog(qtbot, cfg)
        qtbot.waitUntil(lambda: "No OS keyring here" in d._secrets_note.text(), timeout=5000)
        note = d._secrets_note.text()
        assert str(secrets_path(cfg.data_dir)) in note and "only you can read" in note
        assert d.fields["access_token"].editor.isEnabled() and d.fields["app_secret"].editor.isEnabled()
        d.fields["access_token"].editor.setText("EAAG-typed-here")
        d.fields["app_secret"].editor.setText("typed-secret")
        with qtbot.waitSignal(d.accepted, timeout=10_000):
            d.accept()
        assert secrets_path(cfg.data_dir).stat().st_mode & 0o077 == 0
        # the next start: a new config load, no environment, reads them back
        again = load_config({"data_dir": cfg.data_dir}, environ={})
        assert (again.access_token, again.app_secret) == ("EAAG-typed-here", "typed-secret")
        d2 = _dialog(qtbot, again)
        qtbot.waitUntil(lambda: d2.fields["access_token"].editor.placeholderText() == "•••• stored", timeout=5000)
    finally:
        keyring.set_keyring(before)


@pytest.fixture
def s3_server(s3_endpoint: str) -> str:
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket="rossi-media")
    return s3_endpoint


@pytest.mark.parametrize("bucket, outcome", [("rossi-media", "✔ S3 bucket rossi-media is reachable and writable"),
                                             ("no-such-bucket", "✖ S3 bucket no-such-bucket is not usable")])
def test_test_connection_against_moto(qtbot, cfg, s3_server, bucket, outcome):
    d = _dialog(qtbot, cfg)
    d.storage_box.setCurrentIndex(d.storage_box.findData("s3"))
    d.fields["s3_bucket"].editor.setText(bucket)
    d.fields["s3_region"].editor.setText("us-east-1")
    d.fields["s3_endpoint_url"].editor.setText(s3_server)
    d.test_button.click()
    assert not d.test_button.isEnabled()
    qtbot.waitUntil(lambda: d.test_result.text().startswith(("✔", "✖")), timeout=30_000)
    assert d.test_result.text().startswith(outcome)
    assert d.test_button.isEnabled()
