"""Free space on the folders the engine writes to, as health findings."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.config import Config
from engine.health import Finding
from engine.sizes import size_words

MB = 1024 * 1024


def temp_folder(cfg: Config) -> Path:
    """Where downloads are streamed before they are stored: beside the files (local) or {data}/tmp (S3)."""
    return cfg.data_dir / ("uploads" if cfg.storage == "local" else "tmp")


def _existing(path: Path) -> Path:
    # A folder made on first use (uploads, tmp) is on its nearest existing parent's disk until then.
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def free_space_finding(label: str, path: Path, cfg: Config) -> Finding:
    """`ok` is False under cfg.disk_bad_mb; a warning (still ok, `level` "warn") under disk_warn_mb or
    disk_warn_percent of the disk."""
    name = f"free space in the {label}"
    try:
        usage = shutil.disk_usage(_existing(path))
    except OSError as exc:
        return Finding(name, False, None, f"cannot read the free space of {path}: {exc.strerror or exc}", "bad")
    free, total = usage.free, usage.total or 1
    percent = 100.0 * free / total
    words = f"{size_words(free)} free of {size_words(total)} ({percent:.0f}%) at {path}"
    if free < cfg.disk_bad_mb * MB:
        return Finding(name, False, free, f"{words}: under {cfg.disk_bad_mb} MB, downloads and webhooks will "
                                          "fail soon; free some space", "bad")
    if free < cfg.disk_warn_mb * MB or percent < cfg.disk_warn_percent:
        return Finding(name, True, free, f"{words}: running low (warning under {cfg.disk_warn_mb} MB or "
                                         f"{cfg.disk_warn_percent:g}%)", "warn")
    return Finding(name, True, free, words, "ok")


def disk_findings(cfg: Config) -> list[Finding]:
    """The data folder's free space and the temp folder's (the same disk, usually: both are said all the same,
    so that nobody has to know where the temp folder is)."""
    return [free_space_finding("data folder", cfg.data_dir, cfg),
            free_space_finding("temp folder", temp_folder(cfg), cfg)]
