"""Logging to stderr and to `{data_dir}/logs/mediadesk.log` (rotated), set up once per process."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class KnownFaultFilter(logging.Filter):
    """A record carrying an exception with a known cause (disk full, database locked, schema behind), from a
    library that logs every error with its traceback (Huey's worker reading its queue on a full disk), becomes
    one warning line: the cause is named, the traceback would only bury it."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        from engine.dbfaults import WORDS, classify, short

        reason = classify(exc)
        if reason is not None:
            record.msg = f"{record.getMessage()}: {WORDS.get(reason, reason)} ({short(exc)})"
            record.args = None
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def setup_logging(logs_dir: Path | None, *, verbose: bool = False, stderr: bool = True) -> Path | None:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for h in list(root.handlers):
        if getattr(h, "_mediadesk", False):
            root.removeHandler(h)
    fmt = logging.Formatter(FORMAT)
    known = KnownFaultFilter()
    if stderr:
        sh = logging.StreamHandler()
        sh.setFormatter(fmt)
        sh.addFilter(known)
        sh._mediadesk = True  # type: ignore[attr-defined]
        root.addHandler(sh)
    path = None
    if logs_dir is not None:
        logs_dir.mkdir(parents=True, exist_ok=True)
        path = logs_dir / "mediadesk.log"
        fh = logging.handlers.RotatingFileHandler(path, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8")
        fh.setFormatter(fmt)
        fh.addFilter(known)
        fh._mediadesk = True  # type: ignore[attr-defined]
        root.addHandler(fh)
    for noisy in ("huey", "huey.consumer", "urllib3", "botocore", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path
