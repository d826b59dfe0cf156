"""Secrets always save: in the keyring where there is one, else in a private file in the data folder."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from engine import secrets
from engine.config import load_config

NULL_KEYRING = "keyring.backends.null.Keyring"


def _load_in_new_process(data_dir: Path, **env: str) -> str:
    """The access token a fresh `load_config()` sees, in a process of its own (no keyring there either)."""
    code = "from engine.config import load_config; print(load_config().access_token)"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDIADESK_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                         env={**clean, "PYTHON_KEYRING_BACKEND": NULL_KEYRING, "MEDIADESK_DATA_DIR": str(data_dir),
                              **env})
    return out.stdout.strip().splitlines()[-1]


def test_without_a_keyring_a_saved_secret_is_read_back_by_a_new_process(tmp_path: Path) -> None:
    assert not secrets.keyring_available()  # the test helpers choose the null backend
    where = secrets.set_secret("access_token", "saved-token", data_dir=tmp_path)
    assert where == str(tmp_path / "secrets.json")
    assert _load_in_new_process(tmp_path) == "saved-token"
    assert load_config({"data_dir": tmp_path}, environ={}).access_token == "saved-token"


def test_the_environment_still_wins_over_the_file(tmp_path: Path) -> None:
    secrets.set_secret("access_token", "saved-token", data_dir=tmp_path)
    assert _load_in_new_process(tmp_path, MEDIADESK_ACCESS_TOKEN="from-env") == "from-env"


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_the_file_is_readable_by_the_user_alone(tmp_path: Path) -> None:
    secrets.set_secret("app_secret", "s3cret", data_dir=tmp_path)
    path = tmp_path / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)  # loosened by a copy: reading takes it back
    assert secrets.get_secret("app_secret", data_dir=tmp_path) == "s3cret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secrets_never_reach_the_toml_config_and_can_be_deleted(tmp_path: Path) -> None:
    secrets.set_secret("verify_token", "v-1", data_dir=tmp_path)
    secrets.set_secret("access_token", "a-1", data_dir=tmp_path)
    assert not (tmp_path / "mediadesk.toml").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.json"]  # no temp file left behind
    secrets.set_secret("verify_token", None, data_dir=tmp_path)
    assert secrets.get_secret("verify_token", data_dir=tmp_path) is None
    assert secrets.get_secret("access_token", data_dir=tmp_path) == "a-1"


def test_a_damaged_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "secrets.json").write_text("[1, 2]")
    with pytest.raises(secrets.ConfigError, match="damaged"):
        secrets.get_secret("access_token", data_dir=tmp_path)
