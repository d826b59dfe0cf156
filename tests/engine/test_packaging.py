"""A plain `pip install` (not editable) must carry every file MediaDesk reads at run time."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_the_launcher_migrations_icons_stylesheet_and_demo_samples(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, cwd=tmp_path, timeout=240)
    wheel = next(tmp_path.glob("mediadesk-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    samples = {p.name for p in (ROOT / "resources" / "samples").iterdir()}
    assert {f"resources/samples/{n}" for n in samples} <= names
    assert {"resources/icons/mediadesk.png", "resources/mediadesk.desktop", "resources/console.qss",
            "resources/__init__.py"} <= names
    assert {"mediadesk/__init__.py", "mediadesk/__main__.py"} <= names  # the `mediadesk` command's launcher
    revisions = {f"migrations/versions/{p.name}" for p in (ROOT / "migrations" / "versions").glob("*.py")}
    assert revisions and revisions <= names
    assert not any(n.startswith("tests/") for n in names)
