"""Health check and metrics over real rows: what `mediadesk health`, `/healthz` and the charts report."""

from __future__ import annotations

import requests
from mediadesk_testkit import listener_url, media_row, post_webhook, sql, wait_until

from engine.events import HealthChanged
from engine.health import HealthReport, last_report
from engine.runtime import MediaDeskEngine
from engine.simulator import CloudSimulator, media_message


def settle(eng: MediaDeskEngine, n: int) -> None:
    def done() -> bool:
        rows = sql(eng.cfg.db_path, "select processing_status from chat_media")
        return len(rows) == n and all(r[0] in ("completed", "failed") for r in rows)

    wait_until(done, timeout=20, what=f"{n} media to settle")


def test_metrics_after_a_completed_and_a_failed_media(engine: MediaDeskEngine, sim: CloudSimulator) -> None:
    sim.add_media("OK-1", "image/jpeg")
    sim.add_media("OK-2", "image/jpeg")
    for wa in ("OK-1", "OK-2", "GONE-1"):
        post_webhook(listener_url(engine), media_message("image", wa, "image/jpeg"))
    settle(engine, 3)
    m = engine.metrics()
    assert m.total == 3
    assert m.status_counts == {"pending": 0, "processing": 0, "completed": 2, "failed": 1, "removed": 0}
    assert m.success_rate == 2 / 3
    assert m.unavailable_share == 1 / 3
    assert m.failure_reasons == {"gone": 1}
    assert m.processing_avg_s is not None and 0 <= m.processing_p50_s <= m.processing_p95_s < 30
    assert sum(c for _, _, c in m.histogram) == 2
    assert m.over_time and all(0 <= avg < 30 for _, avg in m.over_time)  # one average per 10 minutes today
    assert sum(c for _, c in m.throughput) == 2
    assert m.to_dict()["total"] == 3


def test_metrics_on_an_empty_database(engine: MediaDeskEngine) -> None:
    m = engine.metrics()
    assert m.total == 0 and m.success_rate is None and m.processing_p50_s is None and m.histogram == []


def test_health_check_flags_a_completed_media_whose_file_is_gone(engine: MediaDeskEngine,
                                                                 sim: CloudSimulator) -> None:
    seen: list[HealthChanged] = []
    engine.events.subscribe(lambda e: seen.append(e) if isinstance(e, HealthChanged) else None)
    sim.add_media("H-1", "image/jpeg")
    post_webhook(listener_url(engine), media_message("image", "H-1", "image/jpeg"))
    settle(engine, 1)
    good = engine.health_check()
    assert good.ok, good.format()
    assert {f.name for f in good.findings} >= {"media pending over 10 minutes", "media failed today",
                                               "completed media whose file is gone", "queue length", "workers alive"}
    (engine.cfg.data_dir / media_row(engine.cfg.db_path, 1)["path"]).unlink()
    bad = engine.health_check()
    assert not bad.ok
    gone = next(f for f in bad.findings if f.name == "completed media whose file is gone")
    assert not gone.ok and gone.value == 1
    assert [e.ok for e in seen] == [True, False]
    # stored, and what /healthz shows
    stored = last_report(engine.db)
    assert stored is not None and stored.ok is False
    assert HealthReport.from_dict(bad.to_dict()) == bad
    info = requests.get(f"{listener_url(engine)}/healthz", timeout=5).json()
    assert info["health"]["ok"] is False
    assert info["workers_alive"] == 2 and info["database"] == "ok"


def test_health_flags_many_failures_today_and_stuck_pending(engine: MediaDeskEngine) -> None:
    import sqlite3

    for i in range(11):
        post_webhook(listener_url(engine), media_message("image", f"NOPE-{i}", "image/jpeg"))
    settle(engine, 11)
    report = engine.health_check()
    failed = next(f for f in report.findings if f.name == "media failed today")
    assert not failed.ok and failed.value == 11 and not report.ok
    with sqlite3.connect(engine.cfg.db_path) as conn:
        conn.execute("update chat_media set processing_status = 'pending', created_at = '2020-01-01 00:00:00'")
    conn.close()
    stuck = next(f for f in engine.health_check().findings if f.name == "media pending over 10 minutes")
    assert not stuck.ok and stuck.value == 11


def test_workers_not_running_is_bad(sim_config, start_engine) -> None:  # type: ignore[no-untyped-def]
    eng = start_engine(sim_config, workers=False)
    report = eng.health_check()
    workers = next(f for f in report.findings if f.name == "workers alive")
    assert workers.value == 0
    assert eng.workers_alive() == 0
