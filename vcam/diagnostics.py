"""What `vcam devices` reports: cameras, virtual-camera devices, a display for the preview, the GPU, the CPU
runtimes, and for each missing piece the fix on this OS. Every probe is guarded: report() never raises."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import importlib.util
import os
import platform
import sys
from typing import Any

from vcam.sinks import loopback
from vcam.sinks.preview import display_available
from vcam.sinks.virtual import (
    HINT_LINUX_INSTALL,
    HINT_OBS_MACOS,
    HINT_OBS_WINDOWS,
    HINT_PERMISSION,
    HINT_WRITE_ONCE,
    LINUX_RELOAD,
    explain_open_error,
)

KEYS = ("platform", "cameras", "virtual_camera", "display", "gpu", "cpu_runtimes", "fixes")
CPU_RUNTIMES = ("onnxruntime", "openvino")


def _plain(obj: Any) -> Any:
    """A probe result as JSON-friendly data (dicts, lists, strings, numbers)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _plain(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def _guard(fn, fixes: list[str]) -> dict:
    try:
        return fn(fixes)
    except Exception as exc:    # a diagnostic must report, never crash
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _platform(_fixes: list[str]) -> dict:
    try:
        import cv2
        cv = cv2.__version__
    except Exception as exc:
        cv = f"unavailable ({exc})"
    return {"system": platform.system(), "release": platform.release(), "machine": platform.machine(),
            "python": platform.python_version(), "opencv": cv}


def _camera_fix(system: str) -> str:
    common = "Meanwhile vcam runs with --input pattern or --input VIDEO_FILE."
    if system == "Linux":
        return ("No camera found: plug in a webcam and check `ls -l /dev/video*`; your user needs the 'video' "
                "group (sudo usermod -aG video $USER, then log in again). " + common)
    if system == "Darwin":
        return ("No camera found: allow camera access for your terminal in System Settings > Privacy & Security > "
                "Camera, then restart the terminal. " + common)
    if system == "Windows":
        return ("No camera found: check Settings > Privacy & security > Camera ('Let desktop apps access your "
                "camera') and that no other app holds the camera. " + common)
    return "No camera found. " + common


def _cameras(fixes: list[str]) -> dict:
    system = platform.system()
    found: list[Any] = []
    source = None
    try:
        cam_mod = importlib.import_module("vcam.capture.camera")
    except ImportError:
        cam_mod = None
    if cam_mod is not None and hasattr(cam_mod, "list_cameras"):
        found = [_camera_entry(c) for c in cam_mod.list_cameras()]
        source = "vcam.capture.camera.list_cameras"
        if system == "Linux":
            # A v4l2loopback node (vcam's own output) is not a camera, whatever its card label says.
            virtual = {d.path for d in loopback.list_video_devices(with_caps=False) if d.loopback}
            for entry in found:
                if isinstance(entry, dict) and entry.get("path") in virtual:
                    entry["usable"] = False
                    entry["kind"] = "loopback"
        usable = [e for e in found if not isinstance(e, dict) or e.get("usable", True)]
        if not usable:
            fixes.append(_camera_fix(system))
        return {"ok": bool(usable), "devices": found, "source": source}
    elif system == "Linux":
        # Without the capture module, sysfs still names the real (non-loopback) video nodes.
        found = [{"path": d.path, "name": d.name} for d in loopback.list_video_devices(with_caps=True)
                 if not d.loopback and "capture" in d.caps]
        source = "sysfs"
    else:
        return {"ok": False, "devices": [], "source": None, "detail": "camera listing unavailable"}
    if not found:
        fixes.append(_camera_fix(system))
    return {"ok": bool(found), "devices": found, "source": source}


def _camera_entry(cam: Any) -> Any:
    entry = _plain(cam)
    if isinstance(entry, dict):
        if hasattr(cam, "describe"):
            entry["description"] = str(cam.describe())
        if hasattr(cam, "usable"):
            entry["usable"] = bool(cam.usable)
    return entry


def _virtual_linux(fixes: list[str]) -> dict:
    state = loopback.probe(with_caps=True)
    out: dict = {"backend": "v4l2loopback", "module_loaded": state.module_loaded, "module_version": state.version,
                 "exclusive_caps": any(state.exclusive_caps), "warnings": [],
                 "devices": [{"path": d.path, "name": d.name, "caps": d.caps,
                              "writable": os.access(d.path, os.W_OK)} for d in state.loopback_devices]}
    if not state.module_loaded:
        out["detail"] = "the v4l2loopback kernel module is not loaded"
        fixes.append(HINT_LINUX_INSTALL)
    elif not state.loopback_devices:
        out["detail"] = "v4l2loopback is loaded but made no device"
        fixes.append(f"Reload v4l2loopback with a device:  {LINUX_RELOAD}")
    for dev in out["devices"]:
        if not dev["writable"] and os.path.exists(dev["path"]):
            out["warnings"].append(f"{dev['path']} is not writable for you")
            fixes.append(HINT_PERMISSION)
        if dev["caps"] and "output" not in dev["caps"]:
            out["warnings"].append(f"{dev['path']} accepts no writer now (another program writes to it, or a "
                                   "0.12 device was already used once)")
    if state.write_once_risk:
        out["warnings"].append(f"v4l2loopback {state.version} with exclusive_caps=1 accepts a writer only once per "
                               "module load (fixed in 0.13)")
        fixes.append(HINT_WRITE_ONCE)
    elif state.module_loaded and state.write_once_possible:
        out["warnings"].append("v4l2loopback reports no version: if it is 0.12.x (Debian 12, Ubuntu 22.04), "
                               "exclusive_caps=1 accepts a writer only once per module load (fixed in 0.13)")
    out["ok"] = bool(state.loopback_devices) and any(d["writable"] for d in out["devices"])
    return out


def _virtual_obs(fixes: list[str]) -> dict:
    """Windows/macOS: open the OBS backend for a moment (harmless there, unlike v4l2loopback 0.12) and close it."""
    system = platform.system()
    hint = HINT_OBS_WINDOWS if system == "Windows" else HINT_OBS_MACOS
    try:
        import pyvirtualcam
        from pyvirtualcam.camera import BACKENDS
    except ImportError:
        fixes.append("pip install pyvirtualcam")
        return {"ok": False, "backend": None, "detail": "pyvirtualcam is not installed"}
    if "obs" not in BACKENDS:
        fixes.append(hint)
        return {"ok": False, "backend": "obs", "detail": "pyvirtualcam has no OBS backend here"}
    try:
        cam = pyvirtualcam.Camera(640, 480, 30, backend="obs")
    except Exception as exc:
        err = explain_open_error([str(exc)], None, system)
        fixes.append(err.hint or hint)
        return {"ok": False, "backend": "obs", "detail": err.message}
    try:
        device = cam.device
    finally:
        cam.close()
    return {"ok": True, "backend": "obs", "devices": [{"name": device}]}


def _virtual(fixes: list[str]) -> dict:
    system = platform.system()
    if system == "Linux":
        return _virtual_linux(fixes)
    if system in ("Windows", "Darwin"):
        return _virtual_obs(fixes)
    return {"ok": False, "backend": None, "detail": f"no virtual camera support on {system}"}


def _display(fixes: list[str]) -> dict:
    ok, detail = display_available()
    gui = "unknown"
    try:
        import cv2
        info = cv2.getBuildInformation()
        gui_line = next((ln for ln in info.splitlines() if ln.strip().startswith("GUI:")), "")
        if gui_line:
            gui = gui_line.split(":", 1)[1].strip() or "none"
    except Exception:
        pass
    if gui in ("NONE", "none", ""):
        ok = False
        fixes.append("OpenCV has no GUI support (opencv-python-headless?): pip uninstall opencv-python-headless && "
                     "pip install opencv-python")
    elif not ok:
        fixes.append("No display for the preview window: run inside a desktop session (or ssh -X), or use "
                     "--output FILE / --output virtual.")
    return {"ok": ok, "detail": detail, "opencv_gui": gui}


def _gpu(_fixes: list[str]) -> dict:
    try:
        mod = importlib.import_module("vcam.engines.gpu_probe")
    except ImportError:
        return {"ok": False, "detail": "GPU probe unavailable"}
    if not hasattr(mod, "probe"):
        return {"ok": False, "detail": "GPU probe unavailable"}
    result = _plain(mod.probe())
    if isinstance(result, dict):
        out = dict(result)
        out.setdefault("ok", bool(out.get("available", out.get("usable", False))))
        hint = out.get("fix") or out.get("hint")
        if hint and not out["ok"]:
            _fixes.append(str(hint))
        return out
    return {"ok": bool(result), "detail": str(result)}


def _cpu_runtimes(fixes: list[str]) -> dict:
    found: dict[str, str | None] = {}
    for name in CPU_RUNTIMES:
        if importlib.util.find_spec(name) is None:
            found[name] = None
            continue
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "installed"
    ok = any(found.values())
    if not ok:
        fixes.append("No CPU inference runtime: pip install onnxruntime  (Intel CPUs: pip install openvino)")
    return {"ok": ok, "runtimes": found}


def report() -> dict:
    """Everything `vcam devices` shows, as data (the CLI may also print it as JSON)."""
    fixes: list[str] = []
    out = {
        "platform": _guard(_platform, fixes),
        "cameras": _guard(_cameras, fixes),
        "virtual_camera": _guard(_virtual, fixes),
        "display": _guard(_display, fixes),
        "gpu": _guard(_gpu, fixes),
        "cpu_runtimes": _guard(_cpu_runtimes, fixes),
    }
    out["fixes"] = list(dict.fromkeys(fixes))     # de-duplicated, first-seen order
    return out


def _status(ok: Any, missing: str = "MISSING") -> str:
    return "ok" if ok else missing


def _fmt_item(item: Any) -> str:
    if isinstance(item, dict) and item.get("description"):
        return str(item["description"]) + ("" if item.get("usable", True) else "  (not a camera)")
    if isinstance(item, dict):
        head = item.get("path") or item.get("index") or item.get("id") or item.get("name") or ""
        rest = ", ".join(f"{k}={v}" for k, v in item.items() if v not in (None, "", []) and v != head)
        return f"{head}  {rest}".strip()
    return str(item)


def format_report(d: dict) -> str:
    """The report as text for a terminal. Tolerates missing keys (e.g. from an older report)."""
    lines: list[str] = []
    p = d.get("platform", {})
    lines.append(f"vcam devices: {p.get('system', '?')} {p.get('release', '')} ({p.get('machine', '')}), "
                 f"Python {p.get('python', '?')}, OpenCV {p.get('opencv', '?')}")

    def section(title: str, sec: dict, missing: str = "MISSING") -> None:
        lines.append("")
        lines.append(f"{title}: {_status(sec.get('ok'), missing)}")
        if sec.get("error"):
            lines.append(f"  probe failed: {sec['error']}")
        if sec.get("detail"):
            lines.append(f"  {sec['detail']}")

    cams = d.get("cameras", {})
    section("Cameras", cams)
    for dev in cams.get("devices", []) or []:
        lines.append(f"  {_fmt_item(dev)}")
    if not cams.get("devices") and not cams.get("detail") and not cams.get("error"):
        lines.append("  none found")

    vc = d.get("virtual_camera", {})
    section(f"Virtual camera ({vc.get('backend') or 'none'})", vc)
    if vc.get("backend") == "v4l2loopback" and vc.get("module_loaded"):
        ver = vc.get("module_version") or "unknown version"
        lines.append(f"  module: v4l2loopback {ver}" + (", exclusive_caps=1" if vc.get("exclusive_caps") else ""))
    for dev in vc.get("devices", []) or []:
        lines.append(f"  {_fmt_item(dev)}")
    for w in vc.get("warnings", []) or []:
        lines.append(f"  warning: {w}")

    disp = d.get("display", {})
    section("Preview display", disp)
    if disp.get("opencv_gui"):
        lines.append(f"  OpenCV GUI: {disp['opencv_gui']}")

    gpu = d.get("gpu", {})
    section("GPU", gpu, "not available (the CPU engine is used)")
    for k, v in gpu.items():
        if k in ("ok", "detail", "error", "fix", "hint", "usable", "available") or v in (None, "", [], {}):
            continue
        if isinstance(v, list):
            lines.extend(f"  {k}: {_fmt_item(item)}" for item in v)
        else:
            lines.append(f"  {k}: {v}")

    cpu = d.get("cpu_runtimes", {})
    section("CPU runtimes", cpu)
    for name, ver in (cpu.get("runtimes") or {}).items():
        lines.append(f"  {name}: {ver or 'not installed'}")

    fixes = d.get("fixes") or []
    lines.append("")
    if fixes:
        lines.append("To fix:")
        for fix in fixes:
            first, *rest = str(fix).splitlines()
            lines.append(f"  - {first}")
            lines.extend(f"    {r}" for r in rest)
    else:
        lines.append("Nothing to fix.")
    return "\n".join(lines)


if __name__ == "__main__":     # python -m vcam.diagnostics, handy before the CLI is wired
    sys.stdout.write(format_report(report()) + "\n")
