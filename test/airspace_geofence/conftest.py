"""Shared fixtures: the real zone files (read in place from ../shared/data, never copied)."""
from pathlib import Path

import pytest

GEOZONES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "geozones"


@pytest.fixture
def geozones_dir() -> Path:
    if not GEOZONES.is_dir():
        pytest.skip(f"real zone data not present at {GEOZONES} (shared/data/geozones)")
    return GEOZONES.resolve()
