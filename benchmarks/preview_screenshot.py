"""The preview window under a real X server, and the screenshot of it in docs/preview.png.

    python benchmarks/preview_screenshot.py --out docs/preview.png [--style starry_night] [--size 640x360]

Starts Xvfb (installed with apt when missing and run as root, as tests/e2e does for its tools), runs
`vcam run -i pattern -o preview` inside it, waits for the window and a few styled frames, and saves the window
(the stylized frame with its HUD) as a PNG. Re-run it after the model changes.

The tests use the same pieces (tests/sinks/conftest.py, test_preview_window.py): ``ensure_tools``, ``XServer`` (a
private Xvfb on a free display), and the window helpers (find, geometry, screenshot by xwd, keys by xdotool, close
by WM_DELETE_WINDOW).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WINDOW_TITLE = "vcam preview"      # vcam.sinks.preview.WINDOW

# What is needed, by the Debian package that provides it. ImageMagick is not: xwd's format is read below.
TOOLS = {"Xvfb": "xvfb", "xdotool": "xdotool", "xwd": "x11-apps"}


class Unavailable(Exception):
    """The X tools cannot be had here (not Linux, not root, no apt, no package): tests skip with this reason."""


def _bin(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")


def ensure_tools(tools: dict[str, str] = TOOLS, timeout: float = 600) -> None:
    """Install what is missing with apt-get (root only); raise Unavailable when that cannot be done.

    Installed once per machine: later runs find the tools and ask apt nothing.
    """
    missing = sorted({pkg for tool, pkg in tools.items() if _bin(tool) is None})
    if not missing:
        return
    if not sys.platform.startswith("linux"):
        raise Unavailable(f"Xvfb and xdotool are Linux tools (missing: {' '.join(missing)})")
    if os.geteuid() != 0:
        raise Unavailable(f"needs root to apt-get install {' '.join(missing)}")
    if shutil.which("apt-get") is None:
        raise Unavailable(f"no apt-get to install {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Lock timeout: another test run (or the e2e setup) may be installing at the same moment.
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300", *missing]

    def attempt(cmd: list[str]) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise Unavailable(f"`{' '.join(cmd)}` took over {timeout:.0f} s") from exc

    proc = attempt(install)
    if proc.returncode != 0:
        # A fresh machine may not have fetched apt's lists yet: fetch them once, then try again.
        update = attempt(["apt-get", "update", "-q", "-o", "DPkg::Lock::Timeout=300"])
        if update.returncode != 0:
            raise Unavailable(f"`apt-get update` failed: {update.stderr[-600:]}")
        proc = attempt(install)
        if proc.returncode != 0:
            raise Unavailable(f"`{' '.join(install)}` failed: {proc.stderr[-600:]}")
    still = sorted(t for t in tools if _bin(t) is None)
    if still:
        raise Unavailable(f"still missing after apt-get install: {' '.join(still)}")


class XServer:
    """A private Xvfb on a display it picks itself (-displayfd), so it never takes a user's display."""

    def __init__(self, width: int = 1024, height: int = 768) -> None:
        self.width, self.height = width, height
        self.display: str | None = None
        self._proc: subprocess.Popen | None = None
        self._fd = -1
        self._log = tempfile.TemporaryFile()

    def start(self, timeout: float = 20.0) -> str:
        read_fd, write_fd = os.pipe()
        # The read end stays open while the server runs: Xvfb writes the number again when it is ready to serve,
        # and a closed pipe there is a fatal error for it.
        self._fd = read_fd
        try:
            self._proc = subprocess.Popen(
                [_bin("Xvfb") or "Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{self.width}x{self.height}x24",
                 "-nolisten", "tcp", "-noreset"],
                pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        finally:
            os.close(write_fd)
        deadline = time.monotonic() + timeout
        ready, _, _ = select.select([read_fd], [], [], timeout)
        number = os.read(read_fd, 64).decode().split()[0] if ready else ""
        if number.isdigit():
            self.display = f":{number}"
            while time.monotonic() < deadline and self._proc.poll() is None:
                if subprocess.run([_bin("xdotool") or "xdotool", "getdisplaygeometry"], env=self.env(),
                                  capture_output=True, timeout=10).returncode == 0:
                    return self.display
                time.sleep(0.1)
        self.stop()
        raise Unavailable(f"Xvfb did not start within {timeout:.0f} s: {self.log()[-600:]}")

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment whose programs open their windows on this server, through Qt's X11 (xcb) platform."""
        env = dict(os.environ if base is None else base)
        env.pop("WAYLAND_DISPLAY", None)
        env.update(DISPLAY=self.display or "", QT_QPA_PLATFORM="xcb")
        return env

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> XServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the window --------------------------------------------------------------------------------------------------
def _x(env: dict[str, str], *args: str, timeout: float = 10.0, check: bool = True) -> str:
    proc = subprocess.run([_bin(args[0]) or args[0], *args[1:]], capture_output=True, text=True, env=env,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(args)}` failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    return proc.stdout


def find_window(env: dict[str, str], title: str = WINDOW_TITLE, timeout: float = 30.0,
                alive: subprocess.Popen | None = None) -> int:
    """The id of the visible top-level window called exactly ``title``; waits for it to be mapped."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = _x(env, "xdotool", "search", "--onlyvisible", "--name", f"^{title}$", check=False)
        ids = [int(w) for w in out.split()]
        if ids:
            return ids[-1]
        if alive is not None and alive.poll() is not None:
            raise RuntimeError(f"the program exited ({alive.returncode}) before its window {title!r} appeared")
        time.sleep(0.2)
    raise TimeoutError(f"no visible window {title!r} within {timeout:.0f} s")


def window_name(env: dict[str, str], wid: int) -> str:
    return _x(env, "xdotool", "getwindowname", str(wid)).rstrip("\n")


def window_geometry(env: dict[str, str], wid: int) -> tuple[int, int, int, int]:
    """(x, y, width, height) of the window on the screen."""
    fields = dict(line.split("=", 1) for line in _x(env, "xdotool", "getwindowgeometry", "--shell", str(wid)).split())
    return int(fields["X"]), int(fields["Y"]), int(fields["WIDTH"]), int(fields["HEIGHT"])


def window_visible(env: dict[str, str], wid: int) -> bool:
    out = _x(env, "xdotool", "search", "--onlyvisible", "--name", f"^{WINDOW_TITLE}$", check=False)
    return str(wid) in out.split()


def read_xwd(data: bytes) -> np.ndarray:
    """An xwd dump (ZPixmap, TrueColor at 24 or 32 bits per pixel, as Xvfb gives) as a BGR uint8 array."""
    if len(data) < 100:
        raise ValueError("not an xwd file: too short")
    h = np.frombuffer(data[:100], ">u4")
    header_size, version, fmt, _depth, width, height = (int(v) for v in h[:6])
    byte_order, bpp, stride = int(h[7]), int(h[11]), int(h[12])
    masks = [int(v) for v in h[14:17]]
    ncolors = int(h[19])
    if version != 7 or fmt != 2 or bpp not in (24, 32):
        raise ValueError(f"unsupported xwd: version {version}, format {fmt}, {bpp} bits per pixel")
    start = header_size + 12 * ncolors
    rows = np.frombuffer(data, np.uint8, count=height * stride, offset=start).reshape(height, stride)
    nbytes = bpp // 8
    octets = rows[:, :width * nbytes].reshape(height, width, nbytes).astype(np.uint32)
    if byte_order != 0:                         # MSBFirst: the first byte is the most significant
        octets = octets[..., ::-1]
    px = sum(octets[..., i] << (8 * i) for i in range(nbytes))
    out = np.empty((height, width, 3), np.uint8)
    for channel, mask in zip((2, 1, 0), masks, strict=True):       # red, green, blue masks -> BGR
        shift = (mask & -mask).bit_length() - 1
        out[..., channel] = (px & mask) >> shift
    return out


def screenshot(env: dict[str, str], wid: int) -> np.ndarray:
    """The window's pixels as the X server has them (BGR), read with xwd."""
    proc = subprocess.run([_bin("xwd") or "xwd", "-silent", "-id", str(wid)], capture_output=True, env=env, timeout=20)
    if proc.returncode != 0:
        raise RuntimeError(f"xwd failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-300:]}")
    return read_xwd(proc.stdout)


def wait_painted(env: dict[str, str], wid: int, timeout: float = 20.0) -> np.ndarray:
    """The first screenshot with a picture in it. Qt (opencv-python's) on an X server with no window manager
    sometimes misses the window's MapNotify and never paints it (seen in 3-5 of 10 starts here, also with twm in
    1 of 10); unmapping and mapping it again, as a window manager would, makes it paint. The picture is checked
    after that, so a window that vcam never draws still fails."""
    deadline = time.monotonic() + timeout
    remap_at = time.monotonic() + 1.0
    while True:
        image = screenshot(env, wid)
        if image.max() > 0:
            return image
        if time.monotonic() > deadline:
            raise TimeoutError(f"the window stayed black for {timeout:.0f} s")
        if time.monotonic() > remap_at:
            _x(env, "xdotool", "windowunmap", "--sync", str(wid))
            _x(env, "xdotool", "windowmap", "--sync", str(wid))
            remap_at = time.monotonic() + 3.0
        time.sleep(0.1)


def send_keys(env: dict[str, str], wid: int, *keys: str) -> None:
    """Type keys into the window as a user would: focus it, then XTEST key events (xdotool's key names)."""
    _x(env, "xdotool", "windowfocus", "--sync", str(wid))
    _x(env, "xdotool", "key", "--delay", "50", *keys)


class _XClientMessageEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]


class _XEvent(ctypes.Union):
    _fields_ = [("xclient", _XClientMessageEvent), ("pad", ctypes.c_long * 24)]


def close_window(display: str, wid: int) -> None:
    """What a window manager's close button does: send the window WM_DELETE_WINDOW (ICCCM). xdotool 3.2016 (Debian
    12) has no such command, and destroying the window instead would be an X error, not a user's close."""
    name = ctypes.util.find_library("X11")
    if name is None:
        raise RuntimeError("libX11 not found")
    x11 = ctypes.CDLL(name)
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                               ctypes.POINTER(_XEvent)]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = x11.XOpenDisplay(display.encode())
    if not dpy:
        raise RuntimeError(f"cannot open the X display {display}")
    try:
        event = _XEvent()
        msg = event.xclient
        msg.type = 33                                   # ClientMessage
        msg.window = wid
        msg.message_type = x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
        msg.format = 32
        msg.data[0] = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
        msg.data[1] = 0                                 # CurrentTime
        if not x11.XSendEvent(dpy, wid, 0, 0, ctypes.byref(event)):
            raise RuntimeError("XSendEvent failed")
        x11.XFlush(dpy)
    finally:
        x11.XCloseDisplay(dpy)


# -- vcam ----------------------------------------------------------------------------------------------------------
def vcam_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "vcam", *args]


def control_endpoint(runtime_dir: Path) -> tuple[int, str | None] | None:
    """The port and secret a running vcam recorded in its runtime folder ($VCAM_RUNTIME_DIR; written atomically),
    or None before it has."""
    from vcam.control.paths import CONTROL_FILE

    try:
        info = json.loads((runtime_dir / CONTROL_FILE).read_text(encoding="utf-8"))
        return int(info["port"]), info.get("token")
    except (OSError, ValueError, KeyError, TypeError):
        return None


def status(port: int, token: str | None = None) -> dict:
    """GET /status of the running vcam (what `vcam ctl status` prints)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(f"http://127.0.0.1:{port}/status")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with opener.open(req, timeout=3) as resp:
        return json.loads(resp.read())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "preview.png")
    p.add_argument("--style", default="starry_night")
    p.add_argument("--size", default="640x360")
    p.add_argument("--engine", default="cpu")
    p.add_argument("--settle", type=float, default=2.0, help="seconds of styled frames before the screenshot")
    args = p.parse_args(argv)
    import cv2

    try:
        ensure_tools()
    except Unavailable as exc:
        print(f"cannot run the preview under Xvfb: {exc}", file=sys.stderr)
        return 2
    with XServer() as xs, tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile("w+") as log:
        env = xs.env({**os.environ, "VCAM_RUNTIME_DIR": str(Path(tmp) / "run"), "PYTHONUNBUFFERED": "1"})
        proc = subprocess.Popen(vcam_command("run", "-i", "pattern", "-o", "preview", "--style", args.style,
                                             "--size", args.size, "--engine", args.engine, "--control-port", "0"),
                                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            wid = find_window(env, alive=proc)
            wait_painted(env, wid)
            time.sleep(args.settle)     # past the engine's start-up and the style's fade-in
            image = screenshot(env, wid)
            close_window(xs.display or "", wid)
            proc.wait(timeout=30)
        except (RuntimeError, TimeoutError, subprocess.TimeoutExpired) as exc:
            print(f"no screenshot: {exc}", file=sys.stderr)
            image = None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if image is None or proc.returncode != 0:
            log.seek(0)
            print(f"vcam exited with {proc.returncode}:\n{log.read()[-3000:]}", file=sys.stderr)
            return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), image, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        print(f"cannot write {args.out}", file=sys.stderr)
        return 1
    print(f"{args.out}: {image.shape[1]}x{image.shape[0]} window, style {args.style}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
