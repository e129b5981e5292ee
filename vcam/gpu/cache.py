"""The per-user cache folder for built GPU artefacts (TensorRT engines, timing caches, NVRTC cubins)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def cache_root() -> Path:
    """$VCAM_CACHE_DIR, else the platform's user cache folder + vcam."""
    env = os.environ.get("VCAM_CACHE_DIR")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "vcam" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "vcam"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vcam"


def cache_dir(*parts: str) -> Path:
    d = cache_root().joinpath(*parts)
    d.mkdir(parents=True, exist_ok=True)
    return d
