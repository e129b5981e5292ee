"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

_SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The clips, photos and style images that live beside the repo (never copied into it)."""
    if not _SHARED_DATA.is_dir():
        pytest.skip("../shared/data not found (clips and photos live beside the repo)")
    return _SHARED_DATA.resolve()
