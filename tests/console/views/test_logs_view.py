"""LogsView tails the engine log: new lines, filters, rotation and truncation."""

from __future__ import annotations

from pathlib import Path

from console.logs_view import LogsView


def _write(path: Path, *lines: str, mode: str = "a") -> None:
    with open(path, mode, encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))


def test_appended_lines_show_up_and_filter(qtbot, tmp_path):
    log = tmp_path / "mediadesk.log"
    _write(log, "2026-05-09 07:00:00,001 INFO    engine.listener: listening on 127.0.0.1:8787", mode="w")
    view = LogsView(log)
    qtbot.addWidget(view)
    view.show()
    assert view.visible_lines() == ["2026-05-09 07:00:00,001 INFO    engine.listener: listening on 127.0.0.1:8787"]

    _write(log, "2026-05-09 07:00:01,002 WARNING engine.media: media 7 failed: the link expired",
           "Traceback (most recent call last):", "2026-05-09 07:00:02,003 INFO    engine.media: media 8 stored")
    qtbot.waitUntil(lambda: len(view.visible_lines()) == 4, timeout=5000)

    view.level_box.setCurrentText("Warnings and errors")
    assert view.visible_lines() == ["2026-05-09 07:00:01,002 WARNING engine.media: media 7 failed: the link expired",
                                    "Traceback (most recent call last):"]
    view.level_box.setCurrentText("All levels")
    view.filter_edit.setText("MEDIA 8")
    assert view.visible_lines() == ["2026-05-09 07:00:02,003 INFO    engine.media: media 8 stored"]
    view.close()


def test_rotation_and_truncation_start_over(qtbot, tmp_path):
    log = tmp_path / "mediadesk.log"
    _write(log, "2026-05-09 07:00:00,001 INFO    a: old line", mode="w")
    view = LogsView(log)
    qtbot.addWidget(view)
    view.show()
    log.rename(tmp_path / "mediadesk.log.1")  # what RotatingFileHandler does
    _write(log, "2026-05-09 07:10:00,001 INFO    a: new file")
    qtbot.waitUntil(lambda: view.visible_lines()[-1].endswith("new file"), timeout=5000)
    _write(log, "2026-05-09 07:11:00,001 ERROR   a: after truncation", mode="w")
    qtbot.waitUntil(lambda: view.visible_lines()[-1].endswith("after truncation"), timeout=5000)
    view.close()


def test_missing_file_is_not_an_error(qtbot, tmp_path):
    view = LogsView(tmp_path / "none.log")
    qtbot.addWidget(view)
    view.poll()
    assert view.visible_lines() == []
    assert "not written yet" in view._where.text()
