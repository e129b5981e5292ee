"""Webcams through OpenCV, with errors that say what to do: which cameras exist, who holds a busy one, how to get
permission. On Linux the camera is a /dev/videoN node (an index N means /dev/videoN); elsewhere an index."""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vcam.capture.base import SourceError
from vcam.config import Size
from vcam.errors import VcamError

SYSFS_V4L = Path("/sys/class/video4linux")


def _platform() -> str:
    return sys.platform


def _is_linux() -> bool:
    return _platform().startswith("linux")


def capture_backends() -> list[int]:
    """OpenCV capture APIs to try, best first, for this OS."""
    plat = _platform()
    if plat.startswith("linux"):
        return [cv2.CAP_V4L2]
    if plat == "win32":
        return [cv2.CAP_DSHOW, cv2.CAP_MSMF]    # DirectShow honours MJPG and opens fast; MSMF as a fallback
    if plat == "darwin":
        return [cv2.CAP_AVFOUNDATION]
    return [cv2.CAP_ANY]


@dataclass(frozen=True)
class CameraInfo:
    index: int                 # what --input takes (on Linux the N of /dev/videoN)
    path: str | None = None    # Linux device node
    name: str = ""
    driver: str = ""
    kind: str = "camera"       # "camera"; "metadata" (a USB webcam's second node, no picture); "loopback" (virtual)

    @property
    def usable(self) -> bool:
        return self.kind == "camera"

    def describe(self) -> str:
        where = self.path or f"index {self.index}"
        driver = f" [{self.driver}]" if self.driver else ""
        note = {"metadata": " - metadata node, no picture",
                "loopback": " - a virtual camera (v4l2loopback), e.g. vcam's own output"}.get(self.kind, "")
        return f"{where}: {self.name or 'camera'}{driver}{note}"


def list_cameras(sysfs: Path = SYSFS_V4L, dev: Path = Path("/dev"), max_index: int = 8) -> list[CameraInfo]:
    """The video devices present. Linux reads sysfs, so a device another app is streaming from is never opened;
    other systems can only find cameras by opening indices 0..max_index-1."""
    if _is_linux():
        return _linux_cameras(sysfs, dev)
    return _probe_indices(max_index)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _linux_cameras(sysfs: Path, dev: Path) -> list[CameraInfo]:
    found: list[CameraInfo] = []
    if sysfs.is_dir():
        for entry in sysfs.iterdir():
            m = re.fullmatch(r"video(\d+)", entry.name)
            if not m:
                continue
            name = _read_text(entry / "name")
            node = _read_text(entry / "index")
            driver_link = entry / "device" / "driver"
            driver = Path(os.path.realpath(driver_link)).name if driver_link.exists() else ""
            modalias = _read_text(entry / "device" / "modalias")
            if "v4l2loopback" in driver or "v4l2loopback" in modalias or "loopback" in name.lower():
                kind = "loopback"
            elif driver == "uvcvideo" and node.isdigit() and int(node) > 0:
                kind = "metadata"    # UVC gives every webcam a second node that carries only metadata
            else:
                kind = "camera"
            found.append(CameraInfo(int(m.group(1)), str(dev / entry.name), name, driver, kind))
    else:                            # no sysfs (some containers): device nodes are all we can see
        for node_path in dev.glob("video*"):
            m = re.fullmatch(r"video(\d+)", node_path.name)
            if m:
                found.append(CameraInfo(int(m.group(1)), str(node_path), "video device"))
    return sorted(found, key=lambda c: c.index)


def _probe_indices(max_index: int) -> list[CameraInfo]:
    found: list[CameraInfo] = []
    misses = 0
    api = capture_backends()[0]
    for i in range(max_index):
        cap = cv2.VideoCapture(i, api)
        opened = cap.isOpened()
        cap.release()
        if opened:
            found.append(CameraInfo(i, None, f"camera {i}"))
            misses = 0
        else:
            misses += 1
            if misses >= 2:          # indices are handed out densely; each failed probe can cost a second
                break
    return found


def cameras_hint() -> str:
    cams = list_cameras()
    if not cams:
        return "No cameras were found. Is one connected (and switched on)? `vcam devices` shows what vcam sees."
    lines = "\n".join(f"  {c.describe()}" for c in cams)
    return f"Video devices found:\n{lines}\nPick a camera with --input N (or --input /dev/videoN on Linux)."


def _busy_hint(path: str | None) -> str:
    plat = _platform()
    if path is not None:
        return (f"Another application probably holds it. See which: `fuser -v {path}` (or `lsof {path}`); "
                "close it and try again, or pick another camera with --input.")
    if plat == "darwin":
        return ("Close other apps that use the camera, and allow camera access for your terminal in "
                "System Settings > Privacy & Security > Camera.")
    return "Close other apps that use the camera (Teams, Zoom, Skype, browser tabs, the Camera app) and try again."


class CameraSource:
    """A webcam. Asks for MJPG (USB 2 cameras deliver 720p30 only compressed), the requested size and fps, and a
    one-frame driver queue so what we read is the newest frame. The camera may grant something else: see
    ``size`` and ``nominal_fps`` after open()."""

    live = True

    def __init__(self, device: int | str, size: Size | None = None, fps: float | None = None,
                 first_frame_timeout_s: float = 3.0) -> None:
        self.device = device
        self.requested_size = size
        self.requested_fps = fps
        self.name = f"camera {device}" if isinstance(device, int) else str(device)
        self.nominal_fps = float(fps or 0.0)
        self.size: Size | None = None
        self.backend = ""
        self._first_frame_timeout_s = first_frame_timeout_s
        self._cap: cv2.VideoCapture | None = None
        self._first: np.ndarray | None = None

    def _target(self) -> tuple[int | str, str | None]:
        """What to hand to cv2.VideoCapture, and the device node (Linux only) for checks and messages."""
        if _is_linux():
            path = f"/dev/video{self.device}" if isinstance(self.device, int) else str(self.device)
            # OpenCV 5 refuses to open a V4L2 camera by name ("can't be used to capture by name"): hand it the
            # index of the node (symlinks such as /dev/v4l/by-id/... resolved first).
            m = re.fullmatch(r"/dev/video(\d+)", os.path.realpath(path))
            return (int(m.group(1)) if m else path), path
        if isinstance(self.device, int):
            return self.device, None
        m = re.fullmatch(r"/dev/video(\d+)", str(self.device))
        if m:
            raise VcamError(f"Device paths like {self.device} exist only on Linux.",
                            f"Use the camera's index instead: --input {m.group(1)}.")
        raise VcamError(f"Unknown camera {self.device!r}.", "Give the camera's index, e.g. --input 0.")

    def open(self) -> None:
        self.close()
        target, path = self._target()
        if path is not None:
            self._check_node(path)
        cap = None
        for api in capture_backends():
            candidate = cv2.VideoCapture(target, api)
            if candidate.isOpened():
                cap = candidate
                break
            candidate.release()
        if cap is None:
            raise self._open_failed(path)
        self._configure(cap)
        first = self._first_frame(cap)
        if first is None:
            cap.release()
            raise VcamError(f"{self.name} opened but sent no picture within {self._first_frame_timeout_s:.0f} s.",
                            _busy_hint(path))
        self.backend = cap.getBackendName()
        self.size = Size(first.shape[1], first.shape[0])
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.nominal_fps = float(fps) if 0 < fps <= 1000 else float(self.requested_fps or 30.0)
        self._cap, self._first = cap, first

    def _check_node(self, path: str) -> None:
        if not os.path.exists(path):
            raise VcamError(f"No camera at {path}.", cameras_hint())
        if not os.access(path, os.R_OK | os.W_OK):
            raise VcamError(f"Permission denied opening {path}.",
                            "Cameras belong to the 'video' group: `sudo usermod -aG video $USER`, then log out and "
                            f"back in (check with `ls -l {path}` and `groups`).")

    def _open_failed(self, path: str | None) -> VcamError:
        if path is None:
            return VcamError(f"Could not open {self.name}.", f"{_busy_hint(None)}\n{cameras_hint()}")
        info = next((c for c in list_cameras() if c.path == path), None)
        if info is not None and not info.usable:
            return VcamError(f"{path} is not a camera ({info.describe()}).", cameras_hint())
        return VcamError(f"Could not open {path}: it is busy or not a capture device.",
                         f"{_busy_hint(path)}\n{cameras_hint()}")

    def _configure(self, cap: cv2.VideoCapture) -> None:
        # FOURCC first: which sizes and rates a camera offers depends on the format
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        if self.requested_size is not None:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.requested_size.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.requested_size.height)
        if self.requested_fps:
            cap.set(cv2.CAP_PROP_FPS, self.requested_fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)

    def _first_frame(self, cap: cv2.VideoCapture) -> np.ndarray | None:
        # cameras need a moment after streaming starts; one that never delivers is held by another process
        deadline = time.perf_counter() + self._first_frame_timeout_s
        while True:
            ok, image = cap.read()
            if ok and image is not None and image.size:
                return image
            if time.perf_counter() >= deadline:
                return None
            time.sleep(0.05)

    def read(self) -> np.ndarray:
        if self._first is not None:
            image, self._first = self._first, None
            return image
        if self._cap is None:
            raise SourceError(f"{self.name} is not open")
        ok, image = self._cap.read()
        if not ok or image is None:
            raise SourceError(f"{self.name}: no frame (unplugged, or taken by another app?)")
        return image

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._cap, self._first = None, None
