"""The virtual camera output (pyvirtualcam): v4l2loopback on Linux, OBS Virtual Camera on Windows and macOS.

Frames go out in the device's native pixel format where that saves a conversion: v4l2loopback stores I420 and
OBS on Windows NV12, so we convert BGR once with OpenCV into a preallocated buffer instead of letting the
backend convert (and, on Windows, convert twice: BGR -> I420 -> NV12). The format has to be chosen before the
device is opened, and opening twice is what v4l2loopback 0.12 breaks, so it is predicted from the backend.
"""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING

import cv2
import numpy as np

from vcam.config import Size
from vcam.errors import VcamError
from vcam.sinks import loopback
from vcam.sinks.base import FrameInfo

if TYPE_CHECKING:
    import pyvirtualcam

LINUX_MODPROBE = f"sudo modprobe v4l2loopback {loopback.MODPROBE_OPTIONS}"
LINUX_RELOAD = f"sudo modprobe -r v4l2loopback && {LINUX_MODPROBE}"

HINT_LINUX_INSTALL = (
    "Create a virtual camera device with v4l2loopback:\n"
    "  sudo apt install v4l2loopback-dkms   (Fedora: sudo dnf install v4l2loopback; Arch: sudo pacman -S "
    "v4l2loopback-dkms)\n"
    f"  {LINUX_MODPROBE}\n"
    "To create it at every boot:\n"
    "  echo v4l2loopback | sudo tee /etc/modules-load.d/v4l2loopback.conf\n"
    f"  echo 'options v4l2loopback {loopback.MODPROBE_OPTIONS}' | sudo tee /etc/modprobe.d/v4l2loopback.conf\n"
    "exclusive_caps=1 makes Chrome and Zoom list the device; max_buffers=8 avoids torn frames in slow readers.\n"
    "If modprobe says 'Key was rejected by service', Secure Boot wants the DKMS signing key enrolled "
    "(Debian: sudo mokutil --import /var/lib/dkms/mok.pub; Ubuntu: sudo update-secureboot-policy --enroll-key), "
    "then a reboot to confirm it."
)

HINT_WRITE_ONCE = (
    "v4l2loopback 0.12.x with exclusive_caps=1 accepts a writer only once per module load (upstream v4l2loopback "
    "#470, fixed in 0.13): after a program has written to the device and closed it, the device stays capture-only.\n"
    "Fix it with one of:\n"
    f"  reload the module (close the programs that read it first):  {LINUX_RELOAD}\n"
    "  upgrade v4l2loopback to 0.13 or later (distribution backports, or the upstream source with DKMS)\n"
    "  load it with exclusive_caps=0 (reopening always works, but Chrome and Zoom may not list the camera)\n"
    "vcam keeps the device open for its whole run, so this happens only when another program or an earlier run "
    "used the device since the module was loaded."
)

HINT_BUSY = (
    "Another program is probably writing to this device right now (OBS's virtual camera, ffmpeg, another vcam): "
    "close it, or create a second device (devices=2 video_nr=10,11 exclusive_caps=1,1) and pick it with "
    "--virtual-device."
)

HINT_PERMISSION = (
    "Add yourself to the 'video' group and log in again:  sudo usermod -aG video $USER\n"
    "(or, for this session only:  sudo chmod a+rw /dev/video*)"
)

HINT_OBS_WINDOWS = (
    "Install OBS Studio 26.0 or later (https://obsproject.com), start it once and click 'Start Virtual Camera', "
    "then 'Stop Virtual Camera' (this registers the device), and close OBS: only one program can feed the "
    "OBS Virtual Camera at a time.\n"
    "Alternative: the Unity Video Capture driver, with --virtual-backend unitycapture."
)

HINT_OBS_MACOS = (
    "Install OBS Studio 30.0 or later (https://obsproject.com; macOS 13 or later), start it once and click "
    "'Start Virtual Camera': macOS asks to allow the OBS camera system extension in System Settings > Privacy & "
    "Security (on macOS 15: General > Login Items & Extensions > Camera Extensions). Allow it, restart if asked, "
    "then stop OBS's Virtual Camera and quit OBS so that vcam can feed it.\n"
    "On macOS 12 and older, OBS 26.1 or later installs a DAL plug-in the same way (Start Virtual Camera once)."
)

HINT_OBS_IN_USE = (
    "The OBS Virtual Camera is already being fed: stop the Virtual Camera in OBS (or the other program using it) "
    "and run vcam again."
)


def even_size(size: Size) -> tuple[Size, str | None]:
    """The size a virtual camera accepts (I420/NV12 need even sides), and a warning if it had to change."""
    if size.is_even:
        return size, None
    fixed = size.even()
    return fixed, f"Virtual cameras need an even frame size: sending {fixed} instead of {size}."


class YuvConverter:
    """BGR -> I420 or NV12 into one buffer allocated at construction and reused for every frame."""

    def __init__(self, fmt: str, size: Size) -> None:
        if fmt not in ("I420", "NV12"):
            raise ValueError(f"unsupported YUV format {fmt!r}")
        if not size.is_even:
            raise ValueError(f"{fmt} needs an even size, got {size}")
        w, h = size.width, size.height
        self.fmt = fmt
        self.size = size
        self.buffer = np.empty((h * 3 // 2, w), np.uint8)
        if fmt == "NV12":
            # OpenCV has no BGR->NV12: convert to I420 in a scratch buffer, then interleave U and V.
            self._i420 = np.empty_like(self.buffer)
            flat = self._i420.reshape(-1)
            q = w * h // 4
            self._u = flat[w * h: w * h + q].reshape(h // 2, w // 2)
            self._v = flat[w * h + q:].reshape(h // 2, w // 2)
            self._y_dst = self.buffer[:h]
            self._uv_dst = self.buffer.reshape(-1)[w * h:].reshape(h // 2, w // 2, 2)

    def convert(self, bgr: np.ndarray) -> np.ndarray:
        h, w = self.size.height, self.size.width
        if bgr.shape != (h, w, 3) or bgr.dtype != np.uint8:
            raise ValueError(f"expected a {w}x{h} BGR uint8 frame, got {bgr.shape} {bgr.dtype}")
        if self.fmt == "I420":
            cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420, dst=self.buffer)
            return self.buffer
        cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420, dst=self._i420)
        np.copyto(self._y_dst, self._i420[:h])
        self._uv_dst[..., 0] = self._u
        self._uv_dst[..., 1] = self._v
        return self.buffer


def _preferred_fmt(backend: str, system: str) -> str:
    """The pixel format to hand the backend: its native one where OpenCV converts to it, else BGR."""
    if backend == "v4l2loopback":
        return "I420"
    if backend == "obs" and system == "Windows":
        return "NV12"
    return "BGR"     # macOS OBS wants UYVY and Unity Capture RGBA: the backend converts BGR in one pass


def _backend_order(available: list[str], system: str) -> list[str]:
    # OBS first on Windows: it is what most users have; Unity Capture is the fallback pyvirtualcam also tries.
    preferred = {"Windows": ["obs", "unitycapture"], "Darwin": ["obs"], "Linux": ["v4l2loopback"]}.get(system, [])
    return [b for b in preferred if b in available] + [b for b in available if b not in preferred]


def _strip_backend_prefix(text: str) -> str:
    # pyvirtualcam prefixes each backend's failure with "'name' backend: ".
    return text.split("backend: ", 1)[1] if text.startswith("'") and "backend: " in text else text


def explain_open_error(errors: list[str], device: str | None = None, system: str | None = None,
                       state: loopback.LoopbackState | None = None) -> VcamError:
    """Turn pyvirtualcam's failure text(s) into a VcamError whose hint is the fix for this OS and this case."""
    system = system or platform.system()
    text = "\n".join(errors)
    first = _strip_backend_prefix(errors[0]) if errors else "unknown error"
    where = device or "a virtual camera"

    if system == "Linux":
        if state is None:
            state = loopback.probe()
        if "missing permissions" in text:
            return VcamError(f"Cannot open {where}: permission denied.", HINT_PERMISSION)
        if "does not exist" in text:
            found = ", ".join(d.path for d in state.loopback_devices)
            hint = (f"Loopback devices present: {found}. Pick one with --virtual-device." if found
                    else HINT_LINUX_INSTALL)
            return VcamError(f"Virtual camera device {where} does not exist.", hint)
        if "is not a V4L2 device" in text or ("is not a video output device" in text and device
                                              and not _is_loopback(device, state)):
            found = ", ".join(d.path for d in state.loopback_devices)
            hint = (f"{device} is a real camera, not a v4l2loopback device. "
                    + (f"Loopback devices: {found}." if found else HINT_LINUX_INSTALL))
            return VcamError(f"{device} is not a virtual camera device.", hint)
        if "is not a video output device" in text or (
                "No v4l2 loopback device found" in text and state.loopback_devices):
            # The loopback nodes exist but none accepts a writer: write-once (0.12) or another writer is active.
            what = device or ", ".join(d.path for d in state.loopback_devices)
            ver = f" {state.version}" if state.version else ""
            msg = f"The v4l2loopback{ver} device {what} does not accept a writer now."
            if state.write_once_possible:
                return VcamError(msg, HINT_WRITE_ONCE + "\n" + HINT_BUSY)
            return VcamError(msg, HINT_BUSY)
        if "is already in use" in text or "could not be configured" in text:
            return VcamError(f"Virtual camera {where} is busy: {first}", HINT_BUSY)
        if "No v4l2 loopback device found" in text:
            return VcamError("No virtual camera device found (v4l2loopback is not loaded or made no device).",
                             HINT_LINUX_INSTALL)
        return VcamError(f"Cannot open the virtual camera: {first}", HINT_LINUX_INSTALL)

    if system == "Windows":
        if "could not be started" in text:
            return VcamError("The OBS Virtual Camera could not be started.", HINT_OBS_IN_USE)
        if "supports only the" in text:
            return VcamError(f"Unknown virtual camera device {device!r}: {first}",
                             "Leave --virtual-device unset to use 'OBS Virtual Camera'.")
        return VcamError(f"No virtual camera available: {first}", HINT_OBS_WINDOWS)

    if system == "Darwin":
        if "Multiple cameras" in text:
            return VcamError("The OBS Virtual Camera is already used by this process.",
                             "Only one virtual camera output per process works on macOS: remove the second "
                             "'virtual' output.")
        if "could not be started" in text or "Couldn't start stream" in text:
            return VcamError("The OBS Virtual Camera could not be started.", HINT_OBS_IN_USE)
        if "supports only the" in text:
            return VcamError(f"Unknown virtual camera device {device!r}: {first}",
                             "Leave --virtual-device unset to use 'OBS Virtual Camera'.")
        return VcamError(f"No virtual camera available: {first}", HINT_OBS_MACOS)

    return VcamError(f"Cannot open a virtual camera on {system}: {first}",
                     "pyvirtualcam supports Linux (v4l2loopback), Windows and macOS (OBS Virtual Camera).")


def _is_loopback(device: str, state: loopback.LoopbackState) -> bool:
    for d in state.devices:
        if d.path == device:
            return d.loopback
    return True    # unknown to sysfs: do not claim it is a real camera


class VirtualCameraSink:
    """Sends frames to a virtual camera that other apps (Zoom, Chrome, OBS) read as a webcam.

    The device is opened once and kept open for the whole run, across camera reconnects: v4l2loopback 0.12
    with exclusive_caps=1 refuses a second writer until the module is reloaded.
    """

    name = "virtual"

    def __init__(self, device: str | None = None, backend: str | None = None, pace: bool = True) -> None:
        self._want_device = device
        self._want_backend = backend
        self.pace = pace             # False for benchmarks: do not sleep to hold the frame rate
        self._cam: pyvirtualcam.Camera | None = None
        self._opened: tuple[Size, float] | None = None
        self._converter: YuvConverter | None = None
        self.fmt: str | None = None          # what we send: I420, NV12 or BGR
        self.native_fmt: str | None = None   # what the backend says it stores
        self.backend: str | None = None
        self.frames = 0

    @property
    def device(self) -> str | None:
        """The device in use once open (e.g. /dev/video10, 'OBS Virtual Camera'), else the one asked for."""
        if self._cam is not None:
            try:
                return self._cam.device
            except Exception:   # a closed backend; fall back to what was asked
                return self._want_device
        return self._want_device

    def open(self, size: Size, fps: float) -> None:
        if self._cam is not None:
            if self._opened == (size, fps):
                return          # already open: never reopen needlessly (see the class docstring)
            self.close()
        if not size.is_even:
            fixed, _ = even_size(size)
            raise VcamError(f"Virtual cameras need an even frame size, got {size}.", f"Use {fixed}.")
        try:
            import pyvirtualcam
            from pyvirtualcam.camera import BACKENDS
        except ImportError as exc:
            raise VcamError("pyvirtualcam is not installed.", "pip install pyvirtualcam") from exc

        system = platform.system()
        available = list(BACKENDS)
        if self._want_backend:
            if self._want_backend not in available:
                raise VcamError(f"Unknown virtual camera backend {self._want_backend!r} on {system}.",
                                f"Available here: {', '.join(available) or 'none'}.")
            order = [self._want_backend]
        else:
            order = _backend_order(available, system)
        if not order:
            raise explain_open_error([], self._want_device, system)

        errors: list[str] = []
        for name in order:
            fmt = _preferred_fmt(name, system)
            cam = self._try_open(pyvirtualcam, name, fmt, size, fps, errors)
            if cam is None and fmt != "BGR" and "Unsupported image format" in errors[-1]:
                fmt = "BGR"     # an older backend without YUV input: it converts BGR itself
                cam = self._try_open(pyvirtualcam, name, fmt, size, fps, errors)
            if cam is not None:
                break
        else:
            raise explain_open_error(errors, self._want_device, system)

        self._cam = cam
        self._opened = (size, fps)
        self.backend = name
        self.fmt = fmt
        native = cam.native_fmt
        self.native_fmt = native.name if native is not None else None
        self._converter = YuvConverter(fmt, size) if fmt in ("I420", "NV12") else None
        self.frames = 0

    def _try_open(self, pvc, backend: str, fmt: str, size: Size, fps: float, errors: list[str]):
        """One backend, one format; a failure is appended to ``errors`` as pyvirtualcam words it."""
        try:
            return pvc.Camera(size.width, size.height, fps, fmt=pvc.PixelFormat[fmt],
                              device=self._want_device, backend=backend)
        except (RuntimeError, ValueError, OSError) as exc:
            text = str(exc)
            errors.append(text if text.startswith("'") else f"'{backend}' backend: {text}")
            return None

    def send(self, image: np.ndarray, info: FrameInfo) -> None:
        cam = self._cam
        if cam is None:
            raise VcamError("The virtual camera is not open.")
        frame = self._converter.convert(image) if self._converter is not None else image
        try:
            cam.send(frame)
        except RuntimeError as exc:
            raise VcamError(f"Sending to the virtual camera {self.device} failed: {exc}",
                            "Check that the virtual camera still exists (vcam devices).") from exc
        self.frames += 1
        if self.pace:
            cam.sleep_until_next_frame()

    def close(self) -> None:
        cam, self._cam = self._cam, None
        self._opened = None
        if cam is not None:
            cam.close()
