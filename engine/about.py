"""What MediaDesk says about itself: its version and when this process started."""

from __future__ import annotations

import os
import time
from importlib import metadata


def _process_start() -> float:
    """The time.monotonic() value at which this process was created, imports and interpreter start included.

    Linux tells it in /proc; elsewhere the best we have is now (after this module's own imports).
    """
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime, in clock ticks
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        return time.monotonic() - (uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic()


PROCESS_START = _process_start()


def version() -> str:
    try:
        return metadata.version("mediadesk")
    except metadata.PackageNotFoundError:  # a source checkout that was never pip-installed
        return "0.1.0"
