"""One health check with everything around it: the SPEC section 5 checks, the newest backup's age, alert
delivery, and the alert itself when the failing findings changed. The engine's periodic task, the
console's "check now" and `mediadesk health` all come through here, so that each may be the one to alert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from engine.alerts import DELIVERY_FINDING, alert_on_change, delivery_finding
from engine.backup_schedule import backup_age_finding
from engine.config import Config
from engine.db.session import Database
from engine.health import Finding, HealthReport, run_health_check, save_report
from engine.storage import Storage


def check_health(cfg: Config, db: Database, storage_for: Callable[[str], Storage], *,
                 queue_length: int | None = None, workers_alive: int | None = None,
                 workers_expected: bool = True, extra_findings: Iterable[Finding] = (),
                 schema_ok: bool = True) -> HealthReport:
    """Run and store the health check, then alert if this process is the one to tell of a change.

    `extra_findings` and `schema_ok` come from the engine's guard (free space, writes, schema revision).
    """
    delivery = delivery_finding(cfg, db) if schema_ok else None
    extra = [*extra_findings]
    if schema_ok:
        extra += [backup_age_finding(cfg, db), *([delivery] if delivery else [])]
    report = run_health_check(db, storage_for, queue_length=queue_length, workers_alive=workers_alive,
                              workers_expected=workers_expected, extra_findings=extra, schema_ok=schema_ok)
    if not alert_on_change(cfg, db, report):
        return report
    after = delivery_finding(cfg, db)
    if after is None or after == delivery:
        return report
    # The alert just sent (or failed) changes what "alert delivery" says: the stored report says it too.
    findings = [after if f.name == DELIVERY_FINDING else f for f in report.findings]
    report = replace(report, findings=findings, ok=all(f.ok for f in findings))
    save_report(db, report)
    return report
