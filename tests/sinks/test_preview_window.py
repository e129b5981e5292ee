"""`vcam run -o preview` in a real window on a real X server (Xvfb, started by the suite), driven as a user would.

The window is found by its title and read back with xwd; keys go in through XTEST (xdotool), closing is the
window manager's WM_DELETE_WINDOW. The HUD is checked pixel by pixel against the same frames recorded without it
(a second output, an MJPG file, so within its compression error), and against draw_hud's own layout. Style checks
compare screenshots with each other and with the input, never with fixed pixels: the model gets retrained.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

from vcam.capture.pattern import PatternSource
from vcam.config import Size
from vcam.errors import VcamError
from vcam.sinks.base import FrameInfo
from vcam.sinks.preview import _FONT, KEY_HELP, WINDOW, _layout, draw_hud

pytestmark = [pytest.mark.xvfb, pytest.mark.slow]

W, H = 640, 360
SCALE, LINE, MARGIN = _layout(H)
JPEG_TOL = 4.0          # mean abs error (levels) of the MJPG recording against what was shown


def _styles() -> tuple[str, ...]:
    from vcam.styles import load_manifest

    try:
        return tuple(load_manifest().styles)
    except VcamError:
        return ()


class VcamRun:
    """One `vcam run` on the X server: its output collected, its control endpoint (its runtime file), its window."""

    def __init__(self, xtools: ModuleType, xserver, tmp_path: Path, *args: str) -> None:
        self.x = xtools
        self.stats = tmp_path / "stats.json"
        self.runtime = tmp_path / "run"         # where it records its control port and secret
        self.env = xserver.env({**os.environ, "VCAM_CONFIG_DIR": str(tmp_path / "config"),
                                "VCAM_RUNTIME_DIR": str(self.runtime), "PYTHONUNBUFFERED": "1"})
        self.cmd = [*args, "--size", f"{W}x{H}", "--control-port", "0", "--stats-json", str(self.stats)]
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=tmp_path, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._pumps = [threading.Thread(target=lambda s=s: self.lines.extend(iter(s.readline, "")), daemon=True)
                       for s in (self.proc.stderr, self.proc.stdout)]
        for t in self._pumps:
            t.start()
        self.port: int | None = None
        self.token: str | None = None
        self.wid = 0

    def output(self) -> str:
        return "".join(self.lines)

    def start(self, timeout: float = 60.0) -> np.ndarray:
        """Wait for the window, the control endpoint and streamed frames; returns the first painted screenshot."""
        deadline = time.monotonic() + timeout
        try:
            self.wid = self.x.find_window(self.env, timeout=timeout, alive=self.proc)
            endpoint = None
            while endpoint is None and time.monotonic() < deadline:
                endpoint = self.x.control_endpoint(self.runtime)
                time.sleep(0.05)
            assert endpoint is not None, "vcam recorded no control endpoint"
            self.port, self.token = endpoint
            while self.x.status(self.port, self.token)["stats"]["frames"] < 10 and time.monotonic() < deadline:
                time.sleep(0.1)
            return self.x.wait_painted(self.env, self.wid)
        except (AssertionError, OSError, RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}\nvcam said:\n{self.output()}") from exc

    def ctl_status(self) -> dict:
        """What `vcam ctl status` prints (the real command, in another process)."""
        p = subprocess.run([sys.executable, "-m", "vcam", "ctl", "--port", str(self.port), "status"],
                           capture_output=True, text=True, env=self.env, timeout=30)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    def until(self, check, timeout: float = 10.0) -> dict:
        """`vcam ctl status` until ``check(status)`` holds (a key takes a frame or two to arrive)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.ctl_status()
            if check(status) or time.monotonic() > deadline:
                return status
            time.sleep(0.1)

    def screenshot(self, settle: float = 0.25) -> np.ndarray:
        time.sleep(settle)          # several frames after a change, so the window shows one made after it
        return self.x.screenshot(self.env, self.wid)

    def finish(self, timeout: float = 30.0) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"vcam did not stop within {timeout:.0f} s:\n{self.output()}") from None
        for t in self._pumps:
            t.join(timeout=5)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def vcam_run(xtools, xserver, tmp_path):
    runs: list[VcamRun] = []

    def start(*args: str) -> VcamRun:
        runs.append(VcamRun(xtools, xserver, tmp_path, *args))
        return runs[-1]

    yield start
    for r in runs:          # never leave a vcam (and its window) behind, whatever failed
        r.kill()


# -- the HUD, against the frame without it ------------------------------------------------------------------------
def _read_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    return frames


def _err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _palette_change(a: np.ndarray, b: np.ndarray) -> float:
    """How far the colours moved: per-channel mean and spread, in levels, summed over mean and spread."""
    fa, fb = a.reshape(-1, 3).astype(np.float32), b.reshape(-1, 3).astype(np.float32)
    return float(np.abs(fa.mean(0) - fb.mean(0)).mean() + np.abs(fa.std(0) - fb.std(0)).mean())


def _middle(img: np.ndarray) -> np.ndarray:
    """Rows no HUD line can reach (up to 4 lines at the top, the key help at the bottom)."""
    return img[MARGIN + 4 * LINE: H - 2 * LINE]


def _recorded(shot: np.ndarray, frames: list[np.ndarray]) -> tuple[int, np.ndarray]:
    """The recorded frame the screenshot shows (the window and the file got the same frames)."""
    errors = [_err(_middle(shot), _middle(f)) for f in frames]
    k = int(np.argmin(errors))
    assert errors[k] < JPEG_TOL, f"no recorded frame matches the window (best {errors[k]:.1f} levels off)"
    return k, frames[k]


def _top_lines(shot: np.ndarray, frame: np.ndarray) -> int:
    """How many HUD lines the window shows: the rows darkened to half the frame, counted from the top."""
    def off(a: np.ndarray, b: np.ndarray) -> float:    # the median: text covers a minority of any row
        return float(np.median(np.abs(a.astype(np.int16) - b.astype(np.int16))))

    half = frame // 2
    rows = 0
    while rows < H // 2 and off(shot[rows], half[rows]) < off(shot[rows], frame[rows]):
        rows += 1
    n, rest = divmod(rows - MARGIN, LINE)
    assert rest == 0 and n >= 1, f"the darkened top strip is {rows} rows; the layout makes it {MARGIN} + n x {LINE}"
    return n


def _text_width(text: str, scale: float = SCALE) -> int:
    return cv2.getTextSize(text, _FONT, scale, 1)[0][0]


def _line_rows(i: int) -> slice:
    return slice(MARGIN + LINE * i, MARGIN + LINE * (i + 1))


def _text(img: np.ndarray) -> np.ndarray:
    """HUD text pixels inside a darkened strip: the strip halves the frame (at most 127), the text is white or
    yellow, so anything brighter is lettering. Exact on the screenshot; the recording's compression only moves
    the background, which stays far below."""
    return img.max(axis=2) > 160


def _letter_err(shot: np.ndarray, expect: np.ndarray) -> float:
    """Mean difference (levels) over the pixels that are lettering in either crop: near 0 for the same text at
    the same place, 10 or more where one digit differs."""
    mask = _text(shot) | _text(expect)
    if not mask.any():
        return 0.0
    return float(np.abs(shot.astype(np.int16) - expect.astype(np.int16))[mask].mean())


LETTER_TOL = 3.0


def check_hud(shot: np.ndarray, frame: np.ndarray, style: str, engine: str, notes: list[str]) -> dict:
    """Assert the HUD in ``shot`` is draw_hud's over ``frame``: the style and engine, the known notes (in order;
    the governor's note, whose text varies, may follow), the key hints, strips darkened to half the frame, and the
    frame itself between them. Returns the measures, for messages."""
    n = _top_lines(shot, frame)
    assert n >= 1 + len(notes), f"{n} HUD lines, expected at least {1 + len(notes)} ({notes})"
    filler = ["-"] * (n - 1 - len(notes))
    # The fps and latency digits are not known; their count decides where the style starts. Digits are equally
    # wide in this font, so one candidate per digit count fits exactly.
    suffix = f"  {style}  [{engine}]"
    best: tuple[float, np.ndarray, int] | None = None
    for fps in (5.0, 50.0, 500.0):
        for lat in (5.0, 50.0, 500.0, 5000.0):
            expect = draw_hud(frame, FrameInfo(index=0, fps=fps, latency_ms=lat, style=style, engine=engine,
                                               notes=[*notes, *filler]))
            x0 = MARGIN + _text_width(f"{fps:5.1f} fps  {lat:4.0f} ms")
            x1 = x0 + _text_width(suffix) + 2
            err = _letter_err(shot[_line_rows(0), x0:x1], expect[_line_rows(0), x0:x1])
            if best is None or err < best[0]:
                best = (err, expect, x0)
    assert best is not None
    err, expect, x0 = best
    out = {"style": err}
    assert err < LETTER_TOL, f"the top line does not show {suffix.strip()!r} where draw_hud puts it ({err:.1f} off)"
    # The fps and latency come first: lettering between the margin and the style.
    assert _text(shot[_line_rows(0), MARGIN:x0]).sum() > 40, "no fps/latency text at the start of the top line"
    for i, note in enumerate(notes, start=1):
        # The whole line, and its last word alone (a value such as 0.60 differs from 0.50 in one digit).
        xs = MARGIN + _text_width(note.rsplit(" ", 1)[0] + " ") - 1
        xe = MARGIN + _text_width(note) + 2
        out[note] = max(_letter_err(shot[_line_rows(i), :xe], expect[_line_rows(i), :xe]),
                        _letter_err(shot[_line_rows(i), xs:xe], expect[_line_rows(i), xs:xe]))
        assert out[note] < LETTER_TOL, f"HUD line {i + 1} is not {note!r} ({out[note]:.1f} off)"
    bottom = slice(H - LINE, H)
    out["keys"] = _letter_err(shot[bottom], expect[bottom])
    assert out["keys"] < LETTER_TOL, f"the key-hint line is not {KEY_HELP!r} ({out['keys']:.1f} off)"
    # Behind the lettering both strips are the frame at half brightness, the full width of the window.
    for rows in (slice(0, MARGIN + LINE * n), bottom):
        plain = ~_text(shot[rows]) & ~_text(expect[rows])
        half = float(np.median(np.abs(shot[rows].astype(np.int16) - frame[rows] // 2)[plain]))
        full = float(np.median(np.abs(shot[rows].astype(np.int16) - frame[rows])[plain]))
        out[f"strip {rows.start}"] = (half, full)
        assert half <= 4 and half < full / 4, f"rows {rows.start}-{rows.stop} are not the frame darkened to half " \
                                              f"({half} levels from it, {full} from the frame)"
    # Between the strips the frame is shown as it is, at 1:1.
    rows = slice(MARGIN + LINE * n, H - LINE)
    out["frame"] = _err(shot[rows], frame[rows])
    assert out["frame"] < JPEG_TOL, f"the frame between the HUD strips differs ({out['frame']:.1f} levels)"
    return out


def _nearest_input(shot: np.ndarray, k: int, search: int) -> float:
    """The smallest difference between the window's middle rows and the pattern frames around output frame k
    (the source drops frames, so its index runs ahead of the output's)."""
    src = PatternSource(Size(W, H), 30.0, paced=False)
    return min(_err(_middle(shot), _middle(src.render(i))) for i in range(max(0, k - 5), k + search))


# -- the tests ---------------------------------------------------------------------------------------------------
def test_keys_drive_the_window_and_q_quits(vcam_run, tmp_path) -> None:
    """The window, its HUD against the same frames without it, the style, strength and pause keys seen in
    `vcam ctl status` and in the next screenshot, and q ending the run with its stats."""
    styles = _styles()
    if len(styles) < 2:
        pytest.skip("needs an installed model with two styles or more (models/)")
    first, second = styles[0], styles[1]
    recording = tmp_path / "shown.avi"
    run = vcam_run(sys.executable, "-m", "vcam", "run", "-i", "pattern", "-o", "preview", "-o", str(recording),
                   "--style", first, "--strength", "0.5", "--transition", "0", "--engine", "cpu")
    run.start()
    assert run.x.window_name(run.env, run.wid) == WINDOW
    assert run.x.window_geometry(run.env, run.wid)[2:] == (W, H)
    engine = run.ctl_status()["stats"]["engine"]
    # Two screenshots of the same style about as far apart as the next key takes: how much the scene alone moves.
    shots = {"first": run.screenshot(), "first again": run.screenshot(0.8)}

    run.x.send_keys(run.env, run.wid, "2")
    st = run.until(lambda s: s["state"]["style"] == second)
    assert st["state"]["style"] == second and st["state"]["blend"] == {second: 1.0}, st["state"]
    shots["second"] = run.screenshot()

    run.x.send_keys(run.env, run.wid, "bracketright")
    st = run.until(lambda s: s["state"]["strength"] > 0.55)
    assert st["state"]["strength"] == pytest.approx(0.6) and st["state"]["style"] == second, st["state"]
    shots["stronger"] = run.screenshot()

    run.x.send_keys(run.env, run.wid, "space")
    st = run.until(lambda s: s["state"]["paused"])
    assert st["state"]["paused"] is True, st["state"]
    shots["paused"] = run.screenshot()
    dropped = st["stats"]["dropped_frames"]        # how far the source's frame index can run ahead of the output's

    run.x.send_keys(run.env, run.wid, "q")
    rc = run.finish()
    err = run.output()
    assert rc == 0 and "Traceback" not in err, err
    stats = json.loads(run.stats.read_text())
    assert stats["frames"] > 30 and stats["fps"] > 0, stats

    frames = _read_frames(recording)
    assert len(frames) == stats["frames"], "the window and the file must have been sent the same frames"
    matched = {name: _recorded(shot, frames) for name, shot in shots.items()}
    k = {name: m[0] for name, m in matched.items()}
    assert k["first"] < k["first again"] < k["second"] < k["stronger"] < k["paused"], k

    # Every HUD, pixel by pixel: the style (then "paused"), the strength note, the key hints, the frame between.
    check_hud(shots["first"], matched["first"][1], first, engine, ["strength 0.50"])
    check_hud(shots["second"], matched["second"][1], second, engine, ["strength 0.50"])
    check_hud(shots["stronger"], matched["stronger"][1], second, engine, ["strength 0.60"])
    check_hud(shots["paused"], matched["paused"][1], "paused", engine, ["strength 0.60"])
    with pytest.raises(AssertionError, match="top line"):      # the check tells the styles apart
        check_hud(shots["second"], matched["second"][1], first, engine, ["strength 0.50"])

    # The window shows the stylized frame; paused, it shows the camera image itself, exactly.
    assert _nearest_input(shots["paused"], k["paused"], dropped + 30) < 0.5
    styled = _nearest_input(shots["first"], k["first"], dropped + 30)
    assert styled > 8, f"the styled window is only {styled:.1f} levels from the input"
    # "2" changes the palette more than the scene moves it in one style between two screenshots. The palette, not
    # the pixels: the pattern's moving shapes change pixels by as much as a switch when a loaded machine spaces the
    # screenshots out (measured: 11-15 levels over 40-80 frames, a switch 26-28), its colours hardly (1.2 against 25).
    moved = _palette_change(_middle(shots["first"]), _middle(shots["first again"]))
    switched = _palette_change(_middle(shots["first again"]), _middle(shots["second"]))
    assert switched > 3 * moved, f"style switch moved the palette by {switched:.1f}, the scene moved it {moved:.1f}"


_FAKE_VIRTUAL = """
import atexit, json, sys
sys.path.insert(0, {here!r})
import pyvirtualcam
from test_sink_virtual import FakeCamera   # the loopback sink's fake, recording what it is sent

pyvirtualcam.Camera = FakeCamera

def report():
    cams = FakeCamera.instances
    with open({report!r}, "w") as f:
        json.dump([{{"frames": len(c.sent), "shape": list(c.sent[-1].shape) if c.sent else None,
                    "closed": c.closed, "size": [c.width, c.height]}} for c in cams], f)

atexit.register(report)
from vcam.cli import main
sys.argv = ["vcam", *sys.argv[1:]]
main()
"""


def test_closing_the_window_with_a_virtual_camera_too(vcam_run, tmp_path) -> None:
    """`-o preview -o virtual` (pyvirtualcam faked): both get every frame; the window's close button ends the run
    cleanly, the device is closed and the stats written."""
    report = tmp_path / "virtual.json"
    script = _FAKE_VIRTUAL.format(here=str(Path(__file__).parent), report=str(report))
    run = vcam_run(sys.executable, "-c", script, "run", "-i", "pattern", "-o", "preview", "-o", "virtual",
                   "--style", "none")
    first = run.start()
    assert run.x.window_name(run.env, run.wid) == WINDOW
    assert run.x.window_geometry(run.env, run.wid)[2:] == (W, H) and first.shape == (H, W, 3)
    # With no style the window is the input plus the HUD: the pattern, 1:1, between the strips.
    st = run.ctl_status()["stats"]
    assert _nearest_input(run.screenshot(0.1), st["frames"], st["dropped_frames"] + 30) < 0.5

    run.x.close_window(run.env["DISPLAY"], run.wid)
    rc = run.finish()
    assert rc == 0 and "Traceback" not in run.output(), run.output()
    assert not run.x.window_visible(run.env, run.wid), "the window is still there after closing it"
    stats = json.loads(run.stats.read_text())
    cams = json.loads(report.read_text())
    assert len(cams) == 1, cams
    cam = cams[0]
    assert cam["closed"] and cam["size"] == [W, H], cam
    assert cam["shape"] == [H * 3 // 2, W], cam       # I420, as v4l2loopback gets it
    assert cam["frames"] == stats["frames"] > 10, (cam, stats)
