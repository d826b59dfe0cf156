"""Fixtures for every test directory."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_mediadesk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own MEDIADESK_* settings must never leak into a test."""
    for name in list(os.environ):
        if name.startswith("MEDIADESK_"):
            monkeypatch.delenv(name)
