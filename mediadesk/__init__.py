"""The `mediadesk` command: the engine's CLI with the desktop console plugged in.

The engine knows nothing of the console; this launcher, above both, hands the console's start function to
`engine.cli.main`, which calls it only for `console` and `demo`. Headless commands never import Qt.
"""

from __future__ import annotations

from pathlib import Path

from engine import Config, MediaDeskError
from engine.cli import main as engine_main


def run_console(cfg: Config, *, demo: bool, screenshot: Path | None, process_start: float, verbose: bool) -> int:
    try:
        from console.app import run_console as start  # here, not above: `mediadesk serve` must not load Qt
    except ImportError as exc:
        raise MediaDeskError(f"the desktop console is not available in this installation: {exc}") from exc
    return start(cfg, demo=demo, screenshot=screenshot, process_start=process_start, verbose=verbose)


def main(argv: list[str] | None = None) -> int:
    return engine_main(argv, console=run_console)


__all__ = ["main", "run_console"]
