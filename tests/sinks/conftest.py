"""A real X server for the preview-window tests: Xvfb, installed with apt when missing (root), one per session."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_xtools() -> ModuleType:
    # The helpers live in the script that regenerates docs/preview.png, so the test and the screenshot share them.
    spec = importlib.util.spec_from_file_location("preview_screenshot", REPO / "benchmarks" / "preview_screenshot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def xtools() -> ModuleType:
    """benchmarks/preview_screenshot.py: Xvfb, window lookup, xwd screenshots, xdotool keys, closing."""
    return _load_xtools()


@pytest.fixture(scope="session")
def xserver(xtools: ModuleType) -> Iterator[object]:
    """A running private Xvfb (``.env()`` gives the environment for programs to show windows on it)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the preview-window tests run on Linux (Xvfb)")
    try:
        xtools.ensure_tools()
        server = xtools.XServer()
        server.start()
    except xtools.Unavailable as exc:
        pytest.skip(f"no X server for the preview window: {exc}")
    try:
        yield server
    finally:
        server.stop()
