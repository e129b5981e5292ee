"""A built-in animated test scene, so vcam runs (and its tests and benchmarks have real content) without a camera.

A wall with colour gradients, colour bars, a checker poster and a framed picture (all drawn once into a cached
background), and in front of it: a person-like figure that sways, tilts, looks around, blinks and talks; a
bouncing ball; a spinning square; an analog clock; a frame counter and timestamp; a scrolling ticker band.
Every frame is a pure function of (index, size, fps), so tests and benchmarks can ask for frame N twice.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from vcam.capture.pacing import Pacer
from vcam.config import Size

_SHIFT = 4                   # cv2 fixed-point bits: sub-pixel positions keep slow motion smooth, not 1-px jumpy
_ONE = 1 << _SHIFT
_AA = cv2.LINE_AA

_SKIN = (140, 170, 225)
_HAIR = (40, 50, 70)
_SHIRT = (120, 110, 40)
_LIPS = (60, 40, 150)
_BALL = (30, 140, 245)
_SQUARE = (90, 190, 60)


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x * _ONE)), int(round(y * _ONE))


def _len(v: float) -> int:
    return max(_ONE, int(round(v * _ONE)))


def _triangle(x: float) -> float:
    """0 -> 1 -> 0 over one unit of x, repeating (a bounce between two walls)."""
    f = x % 1.0
    return 2 * f if f < 0.5 else 2 - 2 * f


class PatternSource:
    """The test scene as a FrameSource. ``paced``: deliver at ``fps`` like a camera (run); unpaced: as fast
    as it is read (demo, offline)."""

    name = "pattern"

    def __init__(self, size: Size | None = None, fps: float = 30.0, paced: bool = True) -> None:
        self.size = size or Size(1280, 720)
        self.nominal_fps = float(fps) if fps > 0 else 30.0
        self.live = paced
        self._pacer = Pacer(self.nominal_fps)
        self._next_index = 0
        self._bg: np.ndarray | None = None
        self._band: np.ndarray | None = None
        self._band_period = 1

    # FrameSource -----------------------------------------------------------------------------------------
    def open(self) -> None:
        self._next_index = 0
        self._pacer.reset()
        self._build_cache()

    def read(self) -> np.ndarray:
        if self.live:
            self._pacer.wait()
        image = self.render(self._next_index)
        self._next_index += 1
        return image

    def close(self) -> None:
        pass

    # drawing ---------------------------------------------------------------------------------------------
    def render(self, index: int) -> np.ndarray:
        """Frame ``index`` of the scene (BGR uint8). A fresh array each call: the frame is handed to another
        thread and may be kept by the engine, so it cannot be a buffer the next frame overwrites."""
        if self._bg is None:
            self._build_cache()
        assert self._bg is not None
        w, h = self.size.width, self.size.height
        t = index / self.nominal_fps
        s = min(w / 1280, h / 720)
        img = self._bg.copy()
        self._draw_person(img, t, w, h)
        self._draw_ball(img, t, w, h, s)
        self._draw_square(img, t, w, h, s)
        self._draw_clock(img, t, w, h)
        self._draw_counter(img, index, t, w, h, s)
        self._draw_ticker(img, t, h, s)
        return img

    def _build_cache(self) -> None:
        w, h = self.size.width, self.size.height
        s = min(w / 1280, h / 720)
        # wall: hue sweeps across, saturation and brightness change downwards
        xs = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
        ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
        hsv = np.empty((h, w, 3), np.uint8)
        hsv[..., 0] = (95 + 45 * xs + 10 * ys).astype(np.uint8)
        hsv[..., 1] = (70 + 80 * ys).astype(np.uint8)
        hsv[..., 2] = (225 - 80 * ys + 10 * np.sin(xs * 6.0)).astype(np.uint8)
        bg = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)

        # colour bars, top left
        bars = [(235, 235, 235), (0, 230, 230), (230, 230, 0), (0, 220, 0), (220, 0, 220), (0, 0, 230), (230, 0, 0)]
        x0, x1, y0, y1 = 0.03 * w, 0.33 * w, 0.04 * h, 0.11 * h
        bw = (x1 - x0) / len(bars)
        for i, c in enumerate(bars):
            cv2.rectangle(bg, (int(x0 + i * bw), int(y0)), (int(x0 + (i + 1) * bw) - 1, int(y1)), c, -1)
        # dark box that the counter text is drawn into
        cv2.rectangle(bg, (int(x0), int(0.12 * h)), (int(x1), int(0.25 * h)), (30, 30, 30), -1)

        # framed picture on the left: a sky-to-sunset gradient with a sun and hills
        px0, px1, py0, py1 = int(0.04 * w), int(0.24 * w), int(0.36 * h), int(0.70 * h)
        if px1 - px0 > 4 and py1 - py0 > 4:
            gy = np.linspace(0.0, 1.0, py1 - py0, dtype=np.float32)[:, None, None]
            top, bottom = np.array([200, 120, 40], np.float32), np.array([60, 150, 250], np.float32)
            bg[py0:py1, px0:px1] = (top + (bottom - top) * gy).astype(np.uint8)
            cv2.circle(bg, (int(0.18 * w), int(0.5 * h)), max(1, int(0.04 * h)), (120, 230, 255), -1, _AA)
            hills = np.array([[px0, py1], [px0, int(0.6 * h)], [int(0.1 * w), int(0.55 * h)],
                              [int(0.17 * w), int(0.63 * h)], [px1, int(0.58 * h)], [px1, py1]], np.int32)
            cv2.fillPoly(bg, [hills], (50, 110, 40), _AA)
            cv2.rectangle(bg, (px0, py0), (px1, py1), (40, 70, 110), max(1, int(8 * s)))

        # checker poster, top right of centre: fine detail for the style network and for flow
        cx0, cy0 = int(0.62 * w), int(0.07 * h)
        cell = max(1, int(14 * s))
        for r in range(8):
            for c in range(10):
                color = (245, 245, 245) if (r + c) % 2 == 0 else (25, 25, 25)
                top_left = (cx0 + c * cell, cy0 + r * cell)
                cv2.rectangle(bg, top_left, (top_left[0] + cell - 1, top_left[1] + cell - 1), color, -1)

        # clock face with hour ticks (hands are drawn per frame)
        ccx, ccy, cr = 0.89 * w, 0.18 * h, 0.11 * h
        cv2.circle(bg, _pt(ccx, ccy), _len(cr), (250, 250, 250), -1, _AA, _SHIFT)
        cv2.circle(bg, _pt(ccx, ccy), _len(cr), (40, 40, 40), max(1, int(3 * s)), _AA, _SHIFT)
        for k in range(12):
            a = k * math.pi / 6
            p0 = _pt(ccx + 0.8 * cr * math.sin(a), ccy - 0.8 * cr * math.cos(a))
            p1 = _pt(ccx + 0.95 * cr * math.sin(a), ccy - 0.95 * cr * math.cos(a))
            cv2.line(bg, p0, p1, (40, 40, 40), max(1, int(3 * s)), _AA, _SHIFT)
        self._bg = bg

        # ticker band: diagonal stripes, periodic in x so a slice at any offset tiles seamlessly
        bh = max(2, int(0.06 * h))
        stripe = max(2, int(24 * s))
        period = 4 * stripe
        yy, xx = np.mgrid[0:bh, 0:w + period]
        palette = np.array([[40, 40, 200], [240, 240, 240], [200, 120, 30], [30, 200, 230]], np.uint8)
        self._band = np.ascontiguousarray(palette[((xx + yy) // stripe) % 4])
        self._band_period = period

    def _draw_person(self, img: np.ndarray, t: float, w: int, h: int) -> None:
        hr = 0.17 * h                                           # head half-height
        cx = 0.5 * w + 0.07 * w * math.sin(2 * math.pi * t / 7.0)
        cy = 0.50 * h + 0.015 * h * math.sin(2 * math.pi * t / 3.3)
        tilt = 7.0 * math.sin(2 * math.pi * t / 5.0)           # degrees
        ca, sa = math.cos(math.radians(tilt)), math.sin(math.radians(tilt))

        def at(dx: float, dy: float) -> tuple[int, int]:       # a point on the head, turned with it
            return _pt(cx + dx * ca - dy * sa, cy + dx * sa + dy * ca)

        def ell(dx: float, dy: float, ax: float, ay: float, color: tuple, thick: int = -1, a0: int = 0,
                a1: int = 360) -> None:
            cv2.ellipse(img, at(dx, dy), (_len(ax), _len(ay)), tilt, a0, a1, color, thick, _AA, _SHIFT)

        # body and neck do not tilt with the head
        cv2.ellipse(img, _pt(cx, cy + 1.0 * hr), (_len(0.3 * hr), _len(0.45 * hr)), 0, 0, 360, _SKIN, -1, _AA, _SHIFT)
        cv2.ellipse(img, _pt(cx, cy + 2.3 * hr), (_len(1.9 * hr), _len(1.2 * hr)), 0, 0, 360, _SHIRT, -1, _AA, _SHIFT)
        ell(0, -0.2 * hr, 0.78 * hr, 0.95 * hr, _HAIR)                         # hair behind the face
        ell(-0.72 * hr, 0.05 * hr, 0.12 * hr, 0.2 * hr, _SKIN)                 # ears
        ell(0.72 * hr, 0.05 * hr, 0.12 * hr, 0.2 * hr, _SKIN)
        ell(0, 0.08 * hr, 0.7 * hr, 0.92 * hr, _SKIN)                          # face
        ell(0, -0.62 * hr, 0.66 * hr, 0.3 * hr, _HAIR, -1, 180, 360)           # fringe

        # eyes: blink every 3.7 s for 0.2 s; pupils wander
        phase = (t % 3.7) / 0.2
        openness = 1.0 if phase >= 1.0 else abs(1.0 - 2.0 * phase)
        gx = 0.07 * hr * math.sin(2 * math.pi * t / 2.9)
        gy = 0.03 * hr * math.sin(2 * math.pi * t / 4.1)
        thin = max(1, int(round(0.03 * hr)))
        brow = -0.42 * hr - 0.05 * hr * max(0.0, math.sin(2 * math.pi * t / 6.0))
        for side in (-1, 1):
            ex, ey = side * 0.3 * hr, -0.12 * hr
            if openness > 0.25:
                ell(ex, ey, 0.17 * hr, 0.1 * hr * openness, (250, 250, 250))
                ell(ex + gx, ey + gy, 0.065 * hr, 0.065 * hr * min(1.0, openness * 1.3), (60, 40, 20))
            else:
                cv2.line(img, at(ex - 0.17 * hr, ey), at(ex + 0.17 * hr, ey), (40, 40, 60), thin, _AA, _SHIFT)
            cv2.line(img, at(ex - 0.18 * hr, brow), at(ex + 0.16 * hr, brow - side * 0.02 * hr), _HAIR, thin * 2,
                     _AA, _SHIFT)
        # nose
        nose = np.array([at(0, -0.05 * hr), at(-0.08 * hr, 0.25 * hr), at(0.04 * hr, 0.27 * hr)], np.int32)
        cv2.polylines(img, [nose], False, (90, 120, 180), thin, _AA, _SHIFT)
        # mouth: opens and closes in bursts, like speech
        talk = max(0.0, math.sin(2 * math.pi * t * 2.3)) * (0.5 + 0.5 * math.sin(2 * math.pi * t / 4.5) ** 2)
        ell(0, 0.52 * hr, 0.26 * hr, 0.03 * hr + 0.13 * hr * talk, _LIPS)
        if talk > 0.2:
            ell(0, 0.52 * hr, 0.2 * hr, 0.1 * hr * talk, (30, 20, 60))

    def _draw_ball(self, img: np.ndarray, t: float, w: int, h: int, s: float) -> None:
        r = 0.055 * h
        floor = 0.9 * h - r
        x = r + (w - 2 * r) * _triangle(t / 6.0)
        y = floor - 0.5 * h * abs(math.sin(math.pi * t / 1.3))
        cv2.circle(img, _pt(x, y), _len(r), _BALL, -1, _AA, _SHIFT)
        cv2.circle(img, _pt(x - 0.35 * r, y - 0.35 * r), _len(0.3 * r), (200, 230, 255), -1, _AA, _SHIFT)

    def _draw_square(self, img: np.ndarray, t: float, w: int, h: int, s: float) -> None:
        box = ((0.83 * w, 0.62 * h), (0.13 * h, 0.13 * h), 50.0 * t)
        corners = cv2.boxPoints(box) * _ONE
        pts = np.round(corners).astype(np.int32)
        cv2.fillPoly(img, [pts], _SQUARE, _AA, _SHIFT)
        cv2.polylines(img, [pts], True, (20, 60, 20), max(1, int(3 * s)), _AA, _SHIFT)

    def _draw_clock(self, img: np.ndarray, t: float, w: int, h: int) -> None:
        cx, cy, r = 0.89 * w, 0.18 * h, 0.11 * h
        center = _pt(cx, cy)
        hands = ((t / 3600.0, 0.55, (40, 40, 40), 0.06), (t / 60.0, 0.85, (30, 30, 200), 0.03))   # minutes, seconds
        for frac, length, color, thick in hands:
            a = 2 * math.pi * frac
            tip = _pt(cx + length * r * math.sin(a), cy - length * r * math.cos(a))
            cv2.line(img, center, tip, color, max(1, int(thick * r)), _AA, _SHIFT)

    def _draw_counter(self, img: np.ndarray, index: int, t: float, w: int, h: int, s: float) -> None:
        scale = max(0.3, 0.9 * s)
        thick = max(1, int(round(2 * s)))
        x = int(0.04 * w)
        minutes, seconds = divmod(t, 60.0)
        cv2.putText(img, f"frame {index:07d}", (x, int(0.175 * h)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), thick, _AA)
        cv2.putText(img, f"t {int(minutes):02d}:{seconds:06.3f}", (x, int(0.235 * h)), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, (120, 255, 120), thick, _AA)

    def _draw_ticker(self, img: np.ndarray, t: float, h: int, s: float) -> None:
        assert self._band is not None
        bh = self._band.shape[0]
        off = int(t * 150 * s) % self._band_period
        img[h - bh:h] = self._band[:, off:off + img.shape[1]]
