"""Where vcam keeps per-user files: presets and styles (config dir), the running instance's control port and secret
(runtime dir).

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


def write_control_file(port: int, host: str = "127.0.0.1", token: str | None = None) -> Path:
    """Record the endpoint of this process and its secret so `vcam ctl` finds them (the last started vcam wins).

    Readable by the user alone: created 0600 in a 0700 folder on Linux and macOS (the per-user %APPDATA% folder on
    Windows), written to a temporary name first so nobody ever reads it half written or with looser rights."""
    path = control_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        with contextlib.suppress(OSError):   # a folder we did not create (e.g. $VCAM_CONFIG_DIR) keeps its mode
            if path.parent.stat().st_uid == os.getuid():
                os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    data = {"host": host, "port": int(port), "pid": os.getpid()}
    if token is not None:
        data["token"] = token
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(data) + "\n")
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
