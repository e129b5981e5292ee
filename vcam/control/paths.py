"""Where vcam keeps per-user files: presets (config dir) and the running instance's control port (runtime dir).

- config dir: $VCAM_CONFIG_DIR, else %APPDATA%\\vcam (Windows), ~/Library/Application Support/vcam (macOS),
  $XDG_CONFIG_HOME/vcam or ~/.config/vcam (elsewhere).
- runtime dir: $VCAM_RUNTIME_DIR, else $VCAM_CONFIG_DIR, else $XDG_RUNTIME_DIR/vcam (Linux), else the config dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

CONTROL_FILE = "control.json"


def config_dir() -> Path:
    env = os.environ.get("VCAM_CONFIG_DIR")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = os.environ.get("APPDATA")
        return (Path(base) if base else Path.home() / "AppData" / "Roaming") / "vcam"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "vcam"
    xdg = os.environ.get("XDG_CONFIG_HOME")
    # The XDG spec says to ignore relative paths.
    return (Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config") / "vcam"


def runtime_dir() -> Path:
    for var in ("VCAM_RUNTIME_DIR", "VCAM_CONFIG_DIR"):
        env = os.environ.get(var)
        if env:
            return Path(env)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if sys.platform.startswith("linux") and xdg and os.path.isabs(xdg):
        return Path(xdg) / "vcam"
    return config_dir()


def control_file() -> Path:
    return runtime_dir() / CONTROL_FILE


def write_control_file(port: int, host: str = "127.0.0.1") -> Path:
    """Record the endpoint of this process so `vcam ctl` finds it (the last started vcam wins)."""
    path = control_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"host": host, "port": int(port), "pid": os.getpid()}) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def remove_control_file(port: int) -> None:
    """Remove the file only if it still names this process and port (another vcam may have replaced it)."""
    path = control_file()
    info = read_control_file()
    if info and info.get("pid") == os.getpid() and info.get("port") == port:
        with contextlib.suppress(OSError):
            path.unlink()


def read_control_file() -> dict | None:
    """The recorded endpoint, or None when there is none or it is unreadable (stale files are the client's call)."""
    try:
        data = json.loads(control_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("port"), int) or not 0 < data["port"] < 65536:
        return None
    return data
