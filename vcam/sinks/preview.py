"""A local preview window (OpenCV HighGUI) with a small heads-up display, and the key events it receives.

The window must be created, drawn and polled from one thread (HighGUI's rule on every OS): the pipeline calls
open/send/close from its loop thread. Keys other than Esc/q go to ``on_key``; the live-control code maps them.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from vcam.config import Size
from vcam.control.keys import HELP_LINE as KEY_HELP  # one key map for preview and terminal; the sink only shows it
from vcam.errors import VcamError
from vcam.sinks.base import FrameInfo

WINDOW = "vcam preview"
KEY_ESC = 27
_QUIT_KEYS = (KEY_ESC, ord("q"), ord("Q"))

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WHITE = (255, 255, 255)
_YELLOW = (80, 220, 255)
_RED = (40, 40, 200)


def _x11_reachable(display: str, timeout: float = 1.0) -> bool:
    """Can we connect to this X display? Qt aborts the whole process when it cannot, so ask first."""
    host, _, rest = display.rpartition(":")
    try:
        number = int(rest.split(".")[0])
    except ValueError:
        return False
    if host.startswith("/"):          # macOS/XQuartz-style socket path: trust it
        return True
    if host in ("", "unix"):
        targets: list[tuple[int, object]] = [(socket.AF_UNIX, f"/tmp/.X11-unix/X{number}"),
                                             (socket.AF_UNIX, f"\0/tmp/.X11-unix/X{number}")]   # abstract
    else:                             # ssh -X forwarding and remote X: TCP port 6000+N
        targets = [(socket.AF_INET, (host, 6000 + number))]
    for family, addr in targets:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(addr)
                return True
        except OSError:
            continue
    return False


def _qt_needs_x11() -> bool:
    """opencv-python's Qt ships only the X11 (xcb) platform plugin: on a Wayland-only session it cannot start."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return False                  # the user chose a Qt platform: trust it
    plugins = Path(cv2.__file__).parent / "qt" / "plugins" / "platforms"
    return plugins.is_dir() and not any("wayland" in p.name for p in plugins.iterdir())


def display_available() -> tuple[bool, str]:
    """Whether a window can be shown here, and why not. Only Linux (X11/Wayland) can lack one."""
    if not sys.platform.startswith("linux"):
        return True, "desktop session"
    x11 = os.environ.get("DISPLAY")
    wayland = os.environ.get("WAYLAND_DISPLAY")
    if x11:
        if _x11_reachable(x11):
            return True, f"X11 ({x11})"
        return False, f"cannot connect to the X display {x11!r}"
    if wayland:
        if _qt_needs_x11():
            return False, f"Wayland ({wayland}) without XWayland ($DISPLAY unset); OpenCV's Qt window needs X11"
        return True, f"Wayland ({wayland})"
    return False, "neither $DISPLAY nor $WAYLAND_DISPLAY is set"


def _hud_lines(info: FrameInfo) -> list[tuple[str, tuple[int, int, int]]]:
    top = f"{info.fps:5.1f} fps  {info.latency_ms:4.0f} ms"
    if info.style:
        top += f"  {info.style}"
    if info.engine:
        top += f"  [{info.engine}]"
    return [(top, _WHITE)] + [(note, _YELLOW) for note in info.notes if note]


def _layout(h: int) -> tuple[float, int, int]:
    """Font scale, line height and margin for a frame ``h`` pixels tall (readable from 144p to 4K)."""
    scale = max(0.35, min(1.6, h / 900.0))
    line = max(12, int(round(30 * scale)))
    return scale, line, max(4, line // 3)


def draw_hud(image: np.ndarray, info: FrameInfo, out: np.ndarray | None = None,
             key_help: str = KEY_HELP) -> np.ndarray:
    """The frame with the HUD drawn on it. ``image`` is never modified; the result goes to ``out`` when given
    (a buffer of the same shape the caller reuses every frame), else to a new array."""
    if out is None:
        out = np.empty_like(image)
    elif out.shape != image.shape or out.dtype != image.dtype:
        raise ValueError(f"out has shape {out.shape}, expected {image.shape}")
    np.copyto(out, image)
    h, w = out.shape[:2]
    scale, line, margin = _layout(h)
    thick = 1 if scale < 0.8 else 2
    lines = _hud_lines(info)

    # Darken the strips behind the text (halve in place: no temporary) so it reads on any picture.
    top_h = min(h, margin + line * len(lines))
    top = out[:top_h]
    np.right_shift(top, 1, out=top)
    for i, (text, colour) in enumerate(lines):
        cv2.putText(out, text, (margin, margin + line * (i + 1) - line // 4), _FONT, scale, colour, thick,
                    cv2.LINE_AA)
    if key_help and h >= 3 * line:
        bottom = out[h - line:]
        np.right_shift(bottom, 1, out=bottom)
        help_scale = scale * 0.8
        cv2.putText(out, key_help, (margin, h - line // 3), _FONT, help_scale, _WHITE, 1, cv2.LINE_AA)

    if info.reconnecting:
        band_h = min(h, 2 * line)
        y0 = (h - band_h) // 2
        band = out[y0:y0 + band_h]
        band[:] = _RED
        text = "RECONNECTING"
        (tw, th), _ = cv2.getTextSize(text, _FONT, scale * 1.2, thick + 1)
        cv2.putText(out, text, (max(0, (w - tw) // 2), y0 + (band_h + th) // 2), _FONT, scale * 1.2, _WHITE,
                    thick + 1, cv2.LINE_AA)
    return out


class PreviewSink:
    """Shows frames in a window. Esc, q or closing the window calls ``on_close`` (and sets ``stop_requested``)."""

    name = "preview"

    def __init__(self, on_key: Callable[[int], None] | None = None, on_close: Callable[[], None] | None = None,
                 hud: bool = True, key_help: str = KEY_HELP, window: str = WINDOW) -> None:
        self.on_key = on_key
        self.on_close = on_close
        self.hud = hud                 # the live-control code may toggle it (the 'h' key)
        self.key_help = key_help
        self.window = window
        self.stop_requested = False
        self._buffer: np.ndarray | None = None
        self._open = False
        self._shown = False

    def open(self, size: Size, fps: float) -> None:
        ok, why = display_available()
        if not ok:
            raise VcamError(f"No display for the preview window ({why}); use --output FILE or --output virtual.",
                            "Run vcam inside a desktop session, or over ssh with X forwarding (ssh -X).")
        try:
            # GUI_NORMAL: without it Qt adds a toolbar and a status bar inside the asked size and shrinks the
            # frame to fit between them (seen under Xvfb: 640x360 showed the frame at about 530x300).
            cv2.namedWindow(self.window, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
            cv2.resizeWindow(self.window, size.width, size.height)
        except cv2.error as exc:
            raise VcamError("This OpenCV build cannot open windows (no GUI support).",
                            "Install opencv-python instead of opencv-python-headless "
                            "(pip uninstall opencv-python-headless && pip install opencv-python), "
                            "or use --output FILE / --output virtual.") from exc
        # One HUD buffer for the whole run: draw_hud copies each frame into it and draws on top.
        self._buffer = np.empty((size.height, size.width, 3), np.uint8)
        self._open = True
        self._shown = False
        self.stop_requested = False

    def send(self, image: np.ndarray, info: FrameInfo) -> None:
        if not self._open or self.stop_requested:
            return          # after the user closed the window: do not re-create it
        if self._shown and self._window_closed():
            self._request_stop()    # closed since the last frame: imshow would open a new window
            return
        if self.hud:
            if self._buffer is None or self._buffer.shape != image.shape:
                self._buffer = np.empty_like(image)
            shown = draw_hud(image, info, self._buffer, self.key_help)
        else:
            shown = image
        cv2.imshow(self.window, shown)
        self._shown = True
        key = cv2.waitKey(1)
        if key >= 0:
            self._on_key(key & 0xFF)
        if not self.stop_requested and self._window_closed():
            self._request_stop()

    def _on_key(self, key: int) -> None:
        if key in _QUIT_KEYS:
            self._request_stop()
        elif self.on_key is not None:
            self.on_key(key)

    def _window_closed(self) -> bool:
        try:
            return cv2.getWindowProperty(self.window, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True     # the window is gone

    def _request_stop(self) -> None:
        if self.stop_requested:
            return
        self.stop_requested = True
        if self.on_close is not None:
            self.on_close()

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                cv2.destroyWindow(self.window)
                cv2.waitKey(1)      # let HighGUI process the destroy event
            except cv2.error:
                pass
