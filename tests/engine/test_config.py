"""Configuration: CLI > environment > TOML file > defaults, and clear errors for settings that cannot work."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from engine.config import DEFAULT_RETRY_DELAYS, Config, load_config
from engine.errors import ConfigError


def toml(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "mediadesk.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults(tmp_path: Path) -> None:
    cfg = load_config({}, environ={}, use_keyring=False)
    assert cfg.data_dir == Path(platformdirs.user_data_dir("MediaDesk", False))
    assert cfg.port == 8787 and cfg.host == "127.0.0.1"
    assert cfg.graph_url == "https://graph.facebook.com"
    assert cfg.retry_delays == DEFAULT_RETRY_DELAYS == (10.0, 30.0, 60.0)
    assert cfg.storage == "local"
    assert cfg.max_body_bytes == 1024 * 1024
    assert cfg.workers == 4
    assert cfg.db_path == cfg.data_dir / "mediadesk.db"
    assert cfg.queue_path == cfg.data_dir / "queue.db"
    assert cfg.backups_dir == cfg.data_dir / "backups"
    assert cfg.sqlalchemy_url == f"sqlite:///{cfg.data_dir / 'mediadesk.db'}"


def test_precedence_cli_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    f = toml(tmp_path, 'port = 1111\nhost = "10.0.0.1"\nworkers = 3\ngraph_version = "v19.0"\n')
    env = {"MEDIADESK_PORT": "2222", "MEDIADESK_HOST": "10.0.0.2"}
    cli = {"port": 3333}
    cfg = load_config(cli, environ=env, config_file=f, use_keyring=False)
    assert cfg.port == 3333  # CLI
    assert cfg.host == "10.0.0.2"  # environment
    assert cfg.workers == 3  # file
    assert cfg.graph_version == "v19.0"  # file
    assert cfg.graph_url == "https://graph.facebook.com"  # default
    assert cfg.config_file == f
    assert load_config({}, environ=env, config_file=f, use_keyring=False).port == 2222
    assert load_config({}, environ={}, config_file=f, use_keyring=False).port == 1111
    assert load_config({}, environ={}, use_keyring=False).port == 8787


def test_cli_none_values_do_not_override(tmp_path: Path) -> None:
    cfg = load_config({"port": None, "data_dir": None}, environ={"MEDIADESK_PORT": "2222"}, use_keyring=False)
    assert cfg.port == 2222


def test_data_dir_from_env_and_cli(tmp_path: Path) -> None:
    env = {"MEDIADESK_DATA_DIR": str(tmp_path / "env")}
    assert load_config({}, environ=env, use_keyring=False).data_dir == tmp_path / "env"
    cfg = load_config({"data_dir": tmp_path / "cli"}, environ=env, use_keyring=False)
    assert cfg.data_dir == tmp_path / "cli"
    assert cfg.db_path == tmp_path / "cli" / "mediadesk.db"


def test_config_file_from_the_cli_mapping_and_env(tmp_path: Path) -> None:
    f = toml(tmp_path, "[mediadesk]\nport = 4444\n")
    assert load_config({"config_file": f}, environ={}, use_keyring=False).port == 4444
    assert load_config({}, environ={"MEDIADESK_CONFIG": str(f)}, use_keyring=False).port == 4444


def test_every_spec_environment_variable_is_read(tmp_path: Path) -> None:
    env = {
        "MEDIADESK_DATA_DIR": str(tmp_path), "MEDIADESK_DATABASE_URL": "sqlite:////tmp/x.db",
        "MEDIADESK_GRAPH_URL": "http://127.0.0.1:1/", "MEDIADESK_GRAPH_VERSION": "v20.0",
        "MEDIADESK_ACCESS_TOKEN": "tok", "MEDIADESK_APP_SECRET": "sec", "MEDIADESK_VERIFY_TOKEN": "ver",
        "MEDIADESK_HOST": "0.0.0.0", "MEDIADESK_PORT": "9000", "MEDIADESK_STORAGE": "s3",
        "MEDIADESK_S3_BUCKET": "b", "MEDIADESK_S3_ENDPOINT_URL": "http://127.0.0.1:2",
        "MEDIADESK_REDIS_URL": "redis://127.0.0.1:6379/0", "MEDIADESK_RETRY_DELAYS": "1,2,3",
    }
    cfg = load_config({}, environ=env, use_keyring=False)
    assert cfg.data_dir == tmp_path
    assert cfg.database_url == "sqlite:////tmp/x.db" and cfg.sqlalchemy_url == "sqlite:////tmp/x.db"
    assert cfg.graph_url == "http://127.0.0.1:1"  # trailing slash dropped
    assert (cfg.graph_version, cfg.access_token, cfg.app_secret, cfg.verify_token) == ("v20.0", "tok", "sec", "ver")
    assert (cfg.host, cfg.port) == ("0.0.0.0", 9000)
    assert (cfg.storage, cfg.s3_bucket, cfg.s3_endpoint_url) == ("s3", "b", "http://127.0.0.1:2")
    assert cfg.redis_url == "redis://127.0.0.1:6379/0"
    assert cfg.retry_delays == (1.0, 2.0, 3.0)


def test_empty_environment_values_are_ignored() -> None:
    assert load_config({}, environ={"MEDIADESK_PORT": ""}, use_keyring=False).port == 8787


@pytest.mark.parametrize(("raw", "want"), [
    ("10,30,60", (10.0, 30.0, 60.0)),
    (" 1 , 2.5,3 ", (1.0, 2.5, 3.0)),
    ("0.2,0.2,0.2", (0.2, 0.2, 0.2)),
    ("5", (5.0,)),
    ("1,,2,", (1.0, 2.0)),
    ("", DEFAULT_RETRY_DELAYS),  # empty means unset
])
def test_retry_delays_parsing(raw: str, want: tuple[float, ...]) -> None:
    assert load_config({}, environ={"MEDIADESK_RETRY_DELAYS": raw}, use_keyring=False).retry_delays == want


def test_retry_delays_from_toml_list(tmp_path: Path) -> None:
    f = toml(tmp_path, "retry_delays = [1, 2, 4]\n")
    assert load_config({}, environ={}, config_file=f, use_keyring=False).retry_delays == (1.0, 2.0, 4.0)


@pytest.mark.parametrize(("env", "message"), [
    ({"MEDIADESK_RETRY_DELAYS": "ten,thirty"}, "retry delays must be seconds"),
    ({"MEDIADESK_RETRY_DELAYS": "10,-5"}, "retry delays cannot be negative"),
    ({"MEDIADESK_PORT": "eighty"}, "invalid number"),
    ({"MEDIADESK_PORT": "70000"}, "port must be between 0 and 65535"),
    ({"MEDIADESK_WORKERS": "0"}, "workers must be at least 1"),
    ({"MEDIADESK_STORAGE": "dropbox"}, "storage must be 'local' or 's3'"),
    ({"MEDIADESK_STORAGE": "s3"}, "S3 storage needs a bucket"),
    ({"MEDIADESK_MAX_BODY_BYTES": "lots"}, "invalid number"),
])
def test_settings_that_cannot_work_are_clear_config_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load_config({}, environ=env, use_keyring=False)
    assert "\n" not in str(err.value)


def test_storage_aws_means_s3() -> None:
    cfg = load_config({}, environ={"MEDIADESK_STORAGE": "AWS", "MEDIADESK_S3_BUCKET": "b"}, use_keyring=False)
    assert cfg.storage == "s3"


@pytest.mark.parametrize(("text", "message"), [
    ("port = [", "is not valid TOML"),
    ("colour = 'blue'\n", "unknown setting"),
    ("app_secret = 'oops'\n", "holds secrets"),
    ("access_token = 'oops'\n", "keyring or environment"),
])
def test_bad_config_files_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    f = toml(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as err:
        load_config({}, environ={}, config_file=f, use_keyring=False)
    assert str(f) in str(err.value)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config({}, environ={}, config_file=tmp_path / "nope.toml", use_keyring=False)


def test_secrets_come_from_the_environment_when_no_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """No keyring on this machine (a server): secrets come from the environment, the rest is None."""
    from engine import secrets

    assert not secrets.keyring_available()
    cfg = load_config({}, environ={"MEDIADESK_APP_SECRET": "from-env"})
    assert cfg.app_secret == "from-env"
    assert cfg.access_token is None
    with pytest.raises(ConfigError, match="no OS keyring"):
        secrets.set_secret("access_token", "x")


def test_config_is_frozen_and_with_changes_validates(tmp_path: Path) -> None:
    cfg = load_config({"data_dir": tmp_path}, environ={}, use_keyring=False)
    with pytest.raises(AttributeError):
        cfg.port = 1  # type: ignore[misc]
    assert cfg.with_changes(port="1234").port == 1234
    with pytest.raises(ConfigError):
        cfg.with_changes(workers=0)
    assert isinstance(cfg, Config)
    assert cfg.webhook_url == "http://127.0.0.1:8787/webhook"


def test_the_graph_api_version_is_metas_newest_by_default_and_still_configurable() -> None:
    from engine.simulator import DEFAULT_GRAPH_VERSION

    assert load_config({}, environ={}, use_keyring=False).graph_version == "v26.0" == DEFAULT_GRAPH_VERSION
    assert load_config({}, environ={"MEDIADESK_GRAPH_VERSION": "v25.0"}, use_keyring=False).graph_version == "v25.0"
