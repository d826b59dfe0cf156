"""What the console's Settings dialog saves in {data_dir}/mediadesk.toml is read back at the next start."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_config
from engine.errors import ConfigError


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
