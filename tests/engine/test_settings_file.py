"""What the Settings dialog saves in {data_dir}/mediadesk.toml (engine.settings_file) is read back at the next start."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_config
from engine.errors import ConfigError
from engine.settings_file import save_settings, settings_path, write_settings_toml


def test_saved_settings_are_read_below_env_and_cli(tmp_path: Path) -> None:
    (tmp_path / "mediadesk.toml").write_text('port = 9100\nworkers = 6\ngraph_version = "v22.0"\n')
    cfg = load_config({"data_dir": tmp_path}, environ={"MEDIADESK_WORKERS": "3"}, use_keyring=False)
    assert (cfg.port, cfg.workers, cfg.graph_version) == (9100, 3, "v22.0")
    assert cfg.config_file == tmp_path / "mediadesk.toml"
    cli = load_config({"data_dir": tmp_path, "port": 9200}, environ={}, use_keyring=False)
    assert cli.port == 9200


def test_an_explicit_config_file_wins_over_the_saved_one(tmp_path: Path) -> None:
    (tmp_path / "mediadesk.toml").write_text("port = 9100\n")
    other = tmp_path / "other.toml"
    other.write_text("port = 9300\n")
    cfg = load_config({"data_dir": tmp_path, "config_file": other}, environ={}, use_keyring=False)
    assert cfg.port == 9300


def test_a_broken_saved_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "mediadesk.toml").write_text("port = = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config({"data_dir": tmp_path}, environ={}, use_keyring=False)


def test_saved_settings_keep_other_keys_and_are_read_back(tmp_path: Path) -> None:
    (tmp_path / "mediadesk.toml").write_text('# mine\nhealth_every_min = 30\nport = 9100\n')
    cfg = load_config({"data_dir": tmp_path}, environ={}, use_keyring=False)
    path = save_settings(cfg.with_changes(port=9443, workers=7, retry_delays="5, 20.5", s3_bucket=None,
                                          graph_version='v22.0 "quoted"\n'))
    assert path == settings_path(cfg) == tmp_path / "mediadesk.toml"
    again = load_config({"data_dir": tmp_path}, environ={}, use_keyring=False)
    assert (again.port, again.workers, again.retry_delays) == (9443, 7, (5.0, 20.5))
    assert again.graph_version == 'v22.0 "quoted"\n' and again.health_every_min == 30
    assert "s3_bucket" not in path.read_text()  # None removes a key rather than writing an empty one


def test_a_broken_file_is_not_overwritten_when_saving(tmp_path: Path) -> None:
    path = tmp_path / "mediadesk.toml"
    path.write_text("port = = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        write_settings_toml(path, {"port": 9100})
    assert path.read_text() == "port = = 1\n"
