"""Logging to stderr and to `{data_dir}/logs/mediadesk.log` (rotated), set up once per process."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(logs_dir: Path | None, *, verbose: bool = False, stderr: bool = True) -> Path | None:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for h in list(root.handlers):
        if getattr(h, "_mediadesk", False):
            root.removeHandler(h)
    fmt = logging.Formatter(FORMAT)
    if stderr:
        sh = logging.StreamHandler()
        sh.setFormatter(fmt)
        sh._mediadesk = True  # type: ignore[attr-defined]
        root.addHandler(sh)
    path = None
    if logs_dir is not None:
        logs_dir.mkdir(parents=True, exist_ok=True)
        path = logs_dir / "mediadesk.log"
        fh = logging.handlers.RotatingFileHandler(path, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8")
        fh.setFormatter(fmt)
        fh._mediadesk = True  # type: ignore[attr-defined]
        root.addHandler(fh)
    for noisy in ("huey", "huey.consumer", "urllib3", "botocore", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path
