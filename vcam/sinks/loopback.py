"""Linux v4l2loopback state, read from sysfs (and one read-only QUERYCAP): which devices exist, the module version
and options. The virtual sink uses it to explain open failures; `vcam devices` prints it. Never raises."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

SYS_MODULE = Path("/sys/module/v4l2loopback")
SYS_V4L = Path("/sys/class/video4linux")

# VIDIOC_QUERYCAP = _IOR('V', 0, struct v4l2_capability), the struct being 104 bytes.
_VIDIOC_QUERYCAP = 0x80685600
_CAP_FMT = "16s32s32sIII12x"
_CAP_VIDEO_CAPTURE = 0x00000001
_CAP_VIDEO_OUTPUT = 0x00000002
_CAP_DEVICE_CAPS = 0x80000000

LOOPBACK_DRIVER = "v4l2 loopback"    # QUERYCAP's driver field for v4l2loopback nodes
MODPROBE_OPTIONS = "devices=1 video_nr=10 card_label=vcam exclusive_caps=1 max_buffers=8"


@dataclass
class VideoDevice:
    path: str                 # /dev/videoN
    name: str                 # the card label from sysfs
    loopback: bool            # created by v4l2loopback (a virtual device), not a real camera
    caps: list[str] = field(default_factory=list)   # "capture" / "output" as the device offers them now; [] if unknown
    driver: str = ""          # QUERYCAP's driver name ("v4l2 loopback"), "" if not queried
    driver_version: str = ""  # QUERYCAP's version as "a.b.c" (v4l2loopback reports its own release there)


@dataclass
class LoopbackState:
    module_loaded: bool
    version: str | None                  # e.g. "0.12.7"; None when not loaded or not reported
    exclusive_caps: list[bool]           # per device, as the module parameter says; [] if unreadable
    devices: list[VideoDevice]           # every /dev/video* node sysfs knows, loopback or not

    @property
    def loopback_devices(self) -> list[VideoDevice]:
        return [d for d in self.devices if d.loopback]

    @property
    def write_once_risk(self) -> bool:
        """0.12.x with exclusive_caps=1 accepts one writer per module load (upstream v4l2loopback #470)."""
        return version_is_write_once(self.version) and any(self.exclusive_caps)

    @property
    def write_once_possible(self) -> bool:
        """As above, or exclusive_caps=1 with a version nobody reports (0.12.x builds often report none)."""
        return any(self.exclusive_caps) and (self.version is None or version_is_write_once(self.version))


def version_is_write_once(version: str | None) -> bool:
    """True for the 0.12.x (and older) releases that have the exclusive_caps write-once bug fixed in 0.13."""
    if not version:
        return False
    try:
        parts = [int(p) for p in version.strip().split(".")[:2]]
    except ValueError:
        return False
    return tuple(parts) < (0, 13)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def query_caps(dev_path: str) -> list[str]:
    """What the node offers right now ("capture", "output"); [] when it cannot be opened or queried."""
    return query(dev_path)[0]


def query(dev_path: str) -> tuple[list[str], str, str]:
    """(caps, driver name, driver version "a.b.c") from VIDIOC_QUERYCAP; ([], "", "") when that fails.

    A read-only, non-blocking open plus QUERYCAP: it neither sets a format nor writes, so it does not consume
    the one writer that v4l2loopback 0.12 with exclusive_caps=1 allows.
    """
    try:
        fd = os.open(dev_path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return [], "", ""
    try:
        raw = fcntl.ioctl(fd, _VIDIOC_QUERYCAP, bytes(struct.calcsize(_CAP_FMT)))
        drv, _card, _bus, ver, caps, device_caps = struct.unpack(_CAP_FMT, raw)
    except OSError:
        return [], "", ""
    finally:
        os.close(fd)
    driver = drv.split(b"\0", 1)[0].decode("ascii", "replace")
    version = f"{(ver >> 16) & 0xFF}.{(ver >> 8) & 0xFF}.{ver & 0xFF}"
    if caps & _CAP_DEVICE_CAPS:
        caps = device_caps    # the node's own caps, not the whole driver's
    out = []
    if caps & _CAP_VIDEO_CAPTURE:
        out.append("capture")
    if caps & _CAP_VIDEO_OUTPUT:
        out.append("output")
    return out, driver, version


def list_video_devices(with_caps: bool = True) -> list[VideoDevice]:
    if not SYS_V4L.is_dir():
        return []
    devices = []
    for entry in sorted(SYS_V4L.glob("video*"), key=lambda p: (len(p.name), p.name)):
        name = _read(entry / "name") or ""
        # v4l2loopback registers its nodes without a parent bus: they live under /sys/devices/virtual.
        real = os.path.realpath(entry)
        loopback = "/devices/virtual/" in real or name.startswith("Dummy video device")
        dev_path = f"/dev/{entry.name}"
        caps, driver, drv_version = query(dev_path) if with_caps and os.path.exists(dev_path) else ([], "", "")
        loopback = loopback or driver == LOOPBACK_DRIVER
        devices.append(VideoDevice(dev_path, name, loopback, caps, driver, drv_version))
    return devices


def _tool_output(name: str, args: list[str]) -> str:
    exe = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")   # sbin is often not on a user's PATH
    if exe is None:
        return ""
    try:
        out = subprocess.run([exe, *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _installed_version() -> str | None:
    """The installed module's version when sysfs does not say (DKMS builds of 0.12.x publish none there)."""
    text = _tool_output("modinfo", ["-F", "version", "v4l2loopback"])
    if text:
        return text.splitlines()[0]
    # "v4l2loopback/0.12.7, 6.1.0-13-amd64, x86_64: installed" (older dkms: "v4l2loopback, 0.12.7, ...")
    m = re.search(r"v4l2loopback[/,]\s*([0-9][0-9.]*)", _tool_output("dkms", ["status", "v4l2loopback"]))
    return m.group(1) if m else None


def probe(with_caps: bool = True) -> LoopbackState:
    loaded = SYS_MODULE.is_dir()
    devices = list_video_devices(with_caps)
    version = _read(SYS_MODULE / "version") if loaded else None
    if loaded and not version:
        # 0.12.x built without DKMS_VERSION publishes no version in sysfs: ask modinfo/dkms, then QUERYCAP
        # (old releases put their own version there; newer ones leave the kernel's, major >= 3).
        reported = [d.driver_version for d in devices if d.driver == LOOPBACK_DRIVER and d.driver_version]
        plausible = [v for v in reported if int(v.split(".")[0]) < 3]
        version = _installed_version() or (plausible[0] if plausible else None)
    excl_text = _read(SYS_MODULE / "parameters" / "exclusive_caps") if loaded else None
    # Bool array parameters read back as "Y,N,N,..." (one per possible device).
    exclusive = [v.strip().upper() in ("Y", "1") for v in excl_text.split(",")] if excl_text else []
    return LoopbackState(loaded, version, exclusive, devices)
