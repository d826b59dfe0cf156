"""Finding files under `resources/`: in a source checkout, an installed package or a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path


def resource_path(*parts: str) -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        return Path(bundle).joinpath("resources", *parts)
    import resources  # the package beside `engine`, wherever pip put it

    return Path(resources.__file__).resolve().parent.joinpath(*parts)
