"""PreviewSink: the HUD as a pure function, the no-display error, and key/close handling (HighGUI faked)."""

from __future__ import annotations

import numpy as np
import pytest

from vcam.config import Size
from vcam.errors import VcamError
from vcam.sinks import preview as pmod
from vcam.sinks.base import FrameInfo
from vcam.sinks.preview import PreviewSink, draw_hud


def _frame(h: int = 360, w: int = 640) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (90, 120, 150)
    return img


def test_draw_hud_draws_on_a_copy() -> None:
    img = _frame()
    before = img.copy()
    out = draw_hud(img, FrameInfo(index=1, fps=29.7, latency_ms=41.0, style="starry_night", engine="cpu"))
    np.testing.assert_array_equal(img, before)           # the input is untouched
    assert out.shape == img.shape and out.dtype == np.uint8
    changed = np.any(out != img, axis=2)
    assert changed[:8].all()                              # the status strip at the top is darkened...
    assert (out[:8].astype(int) < img[:8]).any()          # ...not brightened
    assert changed[-4:].all()                             # and so is the key-help line at the bottom
    assert not changed[out.shape[0] // 3: 2 * out.shape[0] // 3].any()   # the middle is left alone


def test_draw_hud_reuses_the_given_buffer() -> None:
    img = _frame()
    buf = np.empty_like(img)
    out = draw_hud(img, FrameInfo(index=0), out=buf)
    assert out is buf
    with pytest.raises(ValueError):
        draw_hud(img, FrameInfo(index=0), out=np.empty((10, 10, 3), np.uint8))


def test_text_depends_on_the_info() -> None:
    img = _frame()
    a = draw_hud(img, FrameInfo(index=0, fps=10.0, style="udnie"))
    b = draw_hud(img, FrameInfo(index=0, fps=30.0, style="the_scream"))
    assert np.any(a != b)
    with_notes = draw_hud(img, FrameInfo(index=0, notes=["governor: 288p", "paused"]))
    without = draw_hud(img, FrameInfo(index=0))
    assert np.any(with_notes != without, axis=2).sum() > 0


def test_reconnecting_banner() -> None:
    img = _frame()
    h = img.shape[0]
    plain = draw_hud(img, FrameInfo(index=0))
    banner = draw_hud(img, FrameInfo(index=0, reconnecting=True))
    middle = banner[h // 2 - 5: h // 2 + 5]
    assert np.any(middle != plain[h // 2 - 5: h // 2 + 5])
    # The band is red (BGR: red channel dominates) apart from the white lettering.
    mean = middle.reshape(-1, 3).mean(0)
    assert mean[2] > mean[0] + 60 and mean[2] > mean[1] + 60


@pytest.mark.parametrize("h, w", [(48, 64), (144, 176), (1080, 1920)])
def test_draw_hud_any_size(h: int, w: int) -> None:
    img = _frame(h, w)
    out = draw_hud(img, FrameInfo(index=0, fps=30.0, reconnecting=True, notes=["a note"]))
    assert out.shape == (h, w, 3) and np.any(out != img)


def test_no_display_is_a_vcam_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pmod.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(VcamError) as err:
        PreviewSink().open(Size(64, 48), 30.0)
    assert "no display for the preview window" in err.value.message.lower()
    assert "--output FILE" in err.value.message and "--output virtual" in err.value.message


def test_unreachable_x_display_is_a_vcam_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Qt would abort the process on a dead $DISPLAY: the sink must refuse first."""
    monkeypatch.setattr(pmod.sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":987")
    with pytest.raises(VcamError) as err:
        PreviewSink().open(Size(64, 48), 30.0)
    assert "':987'" in err.value.message and "--output virtual" in err.value.message


def test_wayland_only_with_an_x11_only_qt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pmod.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.setattr(pmod, "_qt_needs_x11", lambda: True)
    assert pmod.display_available()[0] is False
    monkeypatch.setattr(pmod, "_qt_needs_x11", lambda: False)
    assert pmod.display_available() == (True, "Wayland (wayland-0)")


def test_x11_reachability_parsing() -> None:
    assert pmod._x11_reachable("not-a-display") is False
    assert pmod._x11_reachable(":987") is False
    assert pmod._x11_reachable("127.0.0.1:987", timeout=0.5) is False      # nothing listens on 6987


class FakeGui:
    """Stands in for cv2's HighGUI calls: a queue of key codes and a window the user may close."""

    def __init__(self, keys: list[int]) -> None:
        self.keys = list(keys)
        self.visible = 1.0
        self.shown = 0
        self.last: np.ndarray | None = None
        self.destroyed = False

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        cv = pmod.cv2
        monkeypatch.setenv("DISPLAY", ":99")
        monkeypatch.setattr(pmod.sys, "platform", "linux")
        monkeypatch.setattr(pmod, "_x11_reachable", lambda display: True)
        monkeypatch.setattr(cv, "namedWindow", lambda *a: None)
        monkeypatch.setattr(cv, "resizeWindow", lambda *a: None)
        monkeypatch.setattr(cv, "imshow", self.imshow)
        monkeypatch.setattr(cv, "waitKey", lambda delay: self.keys.pop(0) if self.keys else -1)
        monkeypatch.setattr(cv, "getWindowProperty", lambda name, prop: self.visible)
        monkeypatch.setattr(cv, "destroyWindow", lambda name: setattr(self, "destroyed", True))

    def imshow(self, name: str, img: np.ndarray) -> None:
        self.shown += 1
        self.last = img.copy()


def test_keys_go_to_on_key_and_q_requests_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    gui = FakeGui([ord("n"), -1, ord("+"), ord("q")])
    gui.install(monkeypatch)
    keys: list[int] = []
    closes: list[bool] = []
    sink = PreviewSink(on_key=keys.append, on_close=lambda: closes.append(True))
    sink.open(Size(64, 48), 30.0)
    img = _frame(48, 64)
    for i in range(6):
        sink.send(img, FrameInfo(index=i))
    assert keys == [ord("n"), ord("+")]
    assert closes == [True] and sink.stop_requested
    assert gui.shown == 4            # nothing is shown after q: the window must not come back
    assert np.any(gui.last != img)   # the HUD was drawn
    sink.close()
    assert gui.destroyed


def test_closing_the_window_requests_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    gui = FakeGui([])
    gui.install(monkeypatch)
    closes: list[bool] = []
    sink = PreviewSink(on_close=lambda: closes.append(True), hud=False)
    sink.open(Size(64, 48), 30.0)
    img = _frame(48, 64)
    sink.send(img, FrameInfo(index=0))
    np.testing.assert_array_equal(gui.last, img)     # hud=False shows the frame as is
    gui.visible = 0.0
    sink.send(img, FrameInfo(index=1))
    sink.send(img, FrameInfo(index=2))
    assert closes == [True] and gui.shown == 1       # no imshow after the close: it would reopen the window


def test_escape_without_callback_sets_the_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    gui = FakeGui([pmod.KEY_ESC])
    gui.install(monkeypatch)
    sink = PreviewSink()
    sink.open(Size(64, 48), 30.0)
    sink.send(_frame(48, 64), FrameInfo(index=0))
    assert sink.stop_requested


_REAL_WINDOW = """
import numpy as np, cv2
from vcam.config import Size
from vcam.sinks.preview import PreviewSink
from vcam.sinks.base import FrameInfo
closes = []
s = PreviewSink(on_close=lambda: closes.append(1))
s.open(Size(160, 120), 30)
for i in range(5):
    s.send(np.full((120, 160, 3), i * 40, np.uint8), FrameInfo(index=i, fps=30, reconnecting=i == 3))
assert cv2.getWindowProperty(s.window, cv2.WND_PROP_VISIBLE) >= 1 and not s.stop_requested
cv2.destroyWindow(s.window)          # what closing it with the mouse does
for i in range(3):
    s.send(np.zeros((120, 160, 3), np.uint8), FrameInfo(index=5 + i))
assert s.stop_requested and closes == [1], (s.stop_requested, closes)
s.close()
print("REAL-WINDOW-OK")
"""


@pytest.mark.slow
@pytest.mark.xvfb
def test_real_window_under_xvfb(xserver) -> None:
    """The real HighGUI path (Qt here) on the suite's Xvfb: frames shown, the window destroyed under the sink, which
    must notice and not re-open it. test_preview_window.py drives a whole `vcam run` in a window."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", _REAL_WINDOW], capture_output=True, text=True, timeout=120,
                         env=xserver.env())
    assert res.returncode == 0 and "REAL-WINDOW-OK" in res.stdout, res.stdout + res.stderr


def test_x_tools_install_only_what_is_missing_and_say_why_not(xtools, monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite's Xvfb set-up: nothing asked of apt when the tools are there; a reason to skip with when they
    are missing and apt cannot be used (not root, no apt-get)."""
    def no_apt(*a, **k):
        raise AssertionError(f"apt was called: {a}")

    monkeypatch.setattr(xtools.subprocess, "run", no_apt)
    monkeypatch.setattr(xtools, "_bin", lambda name: f"/usr/bin/{name}")
    xtools.ensure_tools()                                           # all present: returns, no apt
    monkeypatch.setattr(xtools, "_bin", lambda name: None if name == "xdotool" else f"/usr/bin/{name}")
    monkeypatch.setattr(xtools.sys, "platform", "linux")
    monkeypatch.setattr(xtools.os, "geteuid", lambda: 1000)
    with pytest.raises(xtools.Unavailable, match="needs root to apt-get install xdotool$"):
        xtools.ensure_tools()
    monkeypatch.setattr(xtools.os, "geteuid", lambda: 0)
    monkeypatch.setattr(xtools.shutil, "which", lambda name, path=None: None)
    with pytest.raises(xtools.Unavailable, match="no apt-get to install xdotool"):
        xtools.ensure_tools()
