"""The `mediadesk` command: maintenance commands work, and a user's mistake is one clear line and a non-zero exit."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mediadesk_testkit import MEDIADESK_BIN, fixture_payloads, sql

from engine.cli import main
from engine.db.backup import list_backups


@pytest.fixture(autouse=True)
def _drop_cli_log_handlers() -> Iterator[None]:
    """main() sets up logging to the data dir; do not leave those handlers on the root logger."""
    yield
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_mediadesk", False):
            root.removeHandler(h)
            h.close()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("mediadesk: ")
    return lines[0]


@pytest.fixture
def dd(tmp_path: Path) -> str:
    return str(tmp_path / "data")


def test_migrate_rollback_backup_restore(capsys: pytest.CaptureFixture[str], dd: str, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "migrate", "--data-dir", dd)
    assert code == 0 and "migrated from empty" in out
    code, out, _ = run(capsys, "migrate", "--data-dir", dd)
    assert code == 0 and "already at" in out
    files = [str(f) for f in fixture_payloads()[:6]]
    code, out, _ = run(capsys, "replay", "--data-dir", dd, *files)
    assert code == 0 and "replayed 6 bodies" in out
    db = Path(dd) / "mediadesk.db"
    chats = sql(db, "select count(*) from chats")[0][0]
    assert chats >= 6
    code, out, _ = run(capsys, "rollback", "--data-dir", dd)
    assert code == 0 and "rolled back" in out and "backup" in out
    code, out, _ = run(capsys, "migrate", "--data-dir", dd)
    assert code == 0 and "migrated from" in out
    assert sql(db, "select count(*) from chats")[0][0] == chats
    code, out, _ = run(capsys, "backup", "--data-dir", dd)
    assert code == 0 and "backup written to" in out
    backup = Path(out.strip().rsplit(" ", 1)[-1])
    assert backup.is_file() and backup.parent == Path(dd) / "backups"
    with sqlite3.connect(db) as conn:
        conn.execute("delete from chats")
    conn.close()
    code, out, _ = run(capsys, "restore", "--data-dir", dd, str(backup))
    assert code == 0 and "restored" in out and "previous one saved" in out
    assert sql(db, "select count(*) from chats")[0][0] == chats
    assert any("before-restore" in p.name for p in list_backups(Path(dd) / "backups"))


def test_options_count_before_the_command_as_after_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    code, out, _ = run(capsys, "--data-dir", str(before), "migrate")
    assert code == 0 and (before / "mediadesk.db").is_file()
    code, out, _ = run(capsys, "migrate", "--data-dir", str(after))
    assert code == 0 and (after / "mediadesk.db").is_file()
    from engine.cli import build_parser

    net = ["--port", "9001", "--host", "0.0.0.0", "-v"]
    for argv in ([*net, "serve"], ["serve", *net]):
        args = build_parser().parse_args(argv)
        assert (args.port, args.host, args.verbose) == (9001, "0.0.0.0", True)
    args = build_parser().parse_args(["--screenshot", "shot.png", "demo"])
    assert args.screenshot == Path("shot.png") and args.data_dir is None and args.port is None


def test_replay_twice_counts_duplicates(capsys: pytest.CaptureFixture[str], dd: str) -> None:
    f = str(fixture_payloads()[1])
    run(capsys, "replay", "--data-dir", dd, f)
    code, out, _ = run(capsys, "replay", "--data-dir", dd, f)
    assert code == 0 and "0 new messages, 1 duplicates" in out


def test_restore_of_a_missing_file(capsys: pytest.CaptureFixture[str], dd: str, tmp_path: Path) -> None:
    run(capsys, "migrate", "--data-dir", dd)
    code, _, err = run(capsys, "restore", "--data-dir", dd, str(tmp_path / "nope.db"))
    assert code != 0
    assert "not found" in one_line_error(err)


def test_restore_of_a_damaged_backup(capsys: pytest.CaptureFixture[str], dd: str, tmp_path: Path) -> None:
    run(capsys, "migrate", "--data-dir", dd)
    bad = tmp_path / "damaged.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00garbage" * 500)
    before = (Path(dd) / "mediadesk.db").read_bytes()
    code, _, err = run(capsys, "restore", "--data-dir", dd, str(bad))
    assert code != 0
    assert str(bad) in one_line_error(err)
    assert (Path(dd) / "mediadesk.db").read_bytes() == before


@pytest.mark.parametrize(("content", "message"), [(None, "no such file"), ("{not json", "is not a JSON webhook body")])
def test_replay_mistakes(capsys: pytest.CaptureFixture[str], dd: str, tmp_path: Path, content: str | None,
                         message: str) -> None:
    f = tmp_path / "body.json"
    if content is not None:
        f.write_text(content)
    code, _, err = run(capsys, "replay", "--data-dir", dd, str(f))
    assert code != 0 and message in one_line_error(err)


def test_bad_config_is_one_line(capsys: pytest.CaptureFixture[str], dd: str, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run(capsys, "stats", "--data-dir", dd, "--config", str(tmp_path / "missing.toml"))
    assert code != 0 and "config file not found" in one_line_error(err)
    monkeypatch.setenv("MEDIADESK_RETRY_DELAYS", "soon")
    code, _, err = run(capsys, "stats", "--data-dir", dd)
    assert code != 0 and "retry delays" in one_line_error(err)


def test_rollback_without_a_database(capsys: pytest.CaptureFixture[str], dd: str) -> None:
    code, _, err = run(capsys, "rollback", "--data-dir", dd)
    assert code != 0 and "no database" in one_line_error(err)


def test_stats_json_and_text(capsys: pytest.CaptureFixture[str], dd: str) -> None:
    run(capsys, "replay", "--data-dir", dd, *[str(f) for f in fixture_payloads()])
    code, out, _ = run(capsys, "stats", "--data-dir", dd, "--json")
    assert code == 0
    stats = json.loads(out)
    assert stats["total"] >= 7
    assert stats["status_counts"]["pending"] == stats["total"]
    assert {"success_rate", "unavailable_share", "processing_p50_s", "histogram", "failure_reasons"} <= set(stats)
    code, out, _ = run(capsys, "stats", "--data-dir", dd)
    assert code == 0 and "media total" in out and "success rate" in out


def test_retry_and_flush(capsys: pytest.CaptureFixture[str], dd: str) -> None:
    run(capsys, "replay", "--data-dir", dd, *[str(f) for f in fixture_payloads()])
    db = Path(dd) / "mediadesk.db"
    total = sql(db, "select count(*) from chat_media")[0][0]
    with sqlite3.connect(db) as conn:
        conn.execute("update chat_media set processing_status = 'failed' where id in (1, 2)")
        conn.execute("update chat_media set processing_status = 'completed', path = 'x' where id = 3")
    conn.close()
    code, out, _ = run(capsys, "retry", "--data-dir", dd, "1")
    assert code == 0 and out.strip() == "1 media queued again"
    assert sql(db, "select processing_status from chat_media where id = 1")[0][0] == "pending"
    code, out, _ = run(capsys, "retry", "--data-dir", dd, "--all-failed")
    assert code == 0 and out.strip() == f"{total - 1} media queued again"  # failed + pending, not the completed one
    code, out, _ = run(capsys, "flush", "--data-dir", dd)
    assert code == 0 and "queue flushed" in out
    assert int(out.split(":")[1].split()[0]) >= total  # replay queued each, retries queued more
    assert sql(db, "select count(*) from chat_media where processing_status = 'pending'")[0][0] == total - 1
    code, out, _ = run(capsys, "flush", "--data-dir", dd)
    assert "0 tasks dropped" in out


def test_retry_needs_ids_or_all_failed(capsys: pytest.CaptureFixture[str], dd: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["retry", "--data-dir", dd])
    assert exc.value.code == 2


def test_health_exit_code(capsys: pytest.CaptureFixture[str], dd: str) -> None:
    run(capsys, "migrate", "--data-dir", dd)
    code, out, _ = run(capsys, "health", "--data-dir", dd)
    assert code == 0 and "health: OK" in out
    run(capsys, "replay", "--data-dir", dd, str(fixture_payloads()[5]))  # one image
    db = Path(dd) / "mediadesk.db"
    with sqlite3.connect(db) as conn:  # completed, but its file is gone
        conn.execute("update chat_media set processing_status = 'completed', path = 'uploads/gone.jpg'")
    conn.close()
    code, out, _ = run(capsys, "health", "--data-dir", dd)
    assert code == 1 and "health: BAD" in out and "missing" in out
    code, out, _ = run(capsys, "health", "--data-dir", dd, "--json")
    assert code == 1 and json.loads(out)["ok"] is False


def test_installed_console_script(tmp_path: Path) -> None:
    """The real executable: a user mistake exits non-zero with one line on stderr, no traceback."""
    env = {"PATH": "/usr/bin:/bin", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
           "HOME": str(tmp_path)}
    ok = subprocess.run([str(MEDIADESK_BIN), "migrate", "--data-dir", str(tmp_path / "d")], env=env,
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([str(MEDIADESK_BIN), "restore", "--data-dir", str(tmp_path / "d"), str(tmp_path / "x.db")],
                         env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr
    lines = bad.stderr.strip().splitlines()
    # the error is one line; the only other line allowed is the one-time note that there is no keyring here
    assert lines[-1].startswith("mediadesk: ") and "not found" in lines[-1]
    assert all("keyring" in line for line in lines[:-1]) and len(lines) <= 2
    version = subprocess.run([str(MEDIADESK_BIN), "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("mediadesk ")


def test_the_engine_alone_has_no_console_and_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """engine.cli never imports the console: only the `mediadesk` launcher plugs it in."""
    code, _, err = run(capsys, "console", "--data-dir", str(tmp_path / "d"))
    assert code == 2 and "desktop console is not available" in one_line_error(err)


def test_the_launcher_hands_the_console_its_start_function(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import mediadesk

    started: list[tuple[Path, dict]] = []

    def fake_console(cfg, **kwargs):  # type: ignore[no-untyped-def]
        started.append((cfg.data_dir, kwargs))
        return 0

    monkeypatch.setattr(mediadesk, "run_console", fake_console)
    assert mediadesk.main(["demo", "--data-dir", str(tmp_path / "d")]) == 0
    (data_dir, kwargs), = started
    assert data_dir == tmp_path / "d" and kwargs["demo"] is True and kwargs["screenshot"] is None
