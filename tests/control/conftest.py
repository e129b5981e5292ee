"""Shared fixtures for the control tests: isolated config/runtime dirs and a clock the test moves by hand."""

from __future__ import annotations

import pytest

STYLES = ("starry_night", "the_scream", "udnie", "mondrian")


class FakeClock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Never touch the real user's presets or control file."""
    cfg = tmp_path / "config"
    monkeypatch.setenv("VCAM_CONFIG_DIR", str(cfg))
    monkeypatch.setenv("VCAM_RUNTIME_DIR", str(tmp_path / "runtime"))
    return cfg


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def styles() -> tuple[str, ...]:
    return STYLES
