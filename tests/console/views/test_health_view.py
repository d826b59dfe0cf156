"""HealthView runs the engine's real health check off the GUI thread and says when the verdict turns."""

from __future__ import annotations

import logging

import pytest

from console.health_view import FindingsModel, HealthView
from console.tray import TrayNotifier
from engine import Finding, HealthReport, MediaDeskEngine


@pytest.fixture
def engine(cfg):
    eng = MediaDeskEngine(cfg)
    eng.open()  # database, storage and queue, but no listener or worker threads
    yield eng
    eng.stop()


def test_run_check_now_shows_findings_and_turns_bad(qtbot, engine, add_media):
    view = HealthView(engine)
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.healthChanged, timeout=10_000) as first:
        view.run_button.click()
    ok, summary = first.args
    assert ok is True and "passed" in summary
    assert view.model.rowCount() >= 4
    assert view.run_button.isEnabled()

    add_media(engine.db, failed=11)  # over the alert line of 10 failed today
    with qtbot.waitSignal(view.healthChanged, timeout=10_000) as second:
        view.run_check()
    ok, summary = second.args
    assert ok is False and "media failed today" in summary
    assert "Needs attention" in view._verdict.text()


def test_the_last_stored_report_is_shown_at_start(qtbot, engine):
    engine.health_check()
    view = HealthView(engine)
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: view.report is not None, timeout=10_000)
    assert view.model.rowCount() >= 4


def test_findings_model(qtmodeltester):
    model = FindingsModel()
    model.set_findings([Finding("queue length", True, 3, "3 tasks waiting"),
                        Finding("media failed today", False, 12, "12 failed today (alert over 10)")])
    qtmodeltester.check(model)


def test_tray_without_a_tray_logs(qtbot, caplog):
    tray = TrayNotifier()
    with caplog.at_level(logging.WARNING, logger="console.tray"):
        tray.on_health_changed(False, "media failed today: 12 failed today")
    assert "needs attention" in caplog.text
    report = HealthReport(ok=True, checked_at="2026-05-09T07:00:00", findings=[])
    assert report.ok
