"""Auto-framing (`--frame auto`): a digital pan and zoom that keeps head and shoulders in frame, as Center Stage does,
cropped from the camera frame as captured (before it is fitted to the output size), so a zoom loses no more detail
than the camera's own resolution costs.

Three parts, each for one way framing filters are known to fail:

- where the person is (``wanted_view``): from the segmenter's 256x144 matte, the top of the head, the head's width
  (a running maximum of row coverage down 0.8 head widths) and the shoulders' (the person's typical row width, at
  least 2.2 head widths, so a close-up face without shoulders in view is not zoomed into). Several people are framed
  together: their head-and-shoulders zone sets the width.
- when to move (``AutoFramer.update``): the wanted view is low-passed (``smooth_s``) and becomes the target only when
  it leaves a dead zone around the current one (``dead_zone`` of the crop sideways, ``dead_zoom`` in zoom). Once a
  move starts the target follows the person until the view has caught up and rests, and then holds: a person sitting
  still, or the matte's frame-to-frame wobble, never moves the view.
- how to move: a critically damped spring per axis (centre x, centre y, log zoom), solved exactly per step, so it
  settles without overshoot and cannot oscillate; its speed is capped so a long move glides instead of whipping.

Nobody in view for ``nobody_s``: back out to the whole frame. Zoom is at most ``max_zoom`` (2x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vcam.errors import VcamError
from vcam.frames import fit
from vcam.person.segmenter import LazySegmenter, SegmenterUser

FRAMES = ("off", "auto")


@dataclass(frozen=True)
class FramingParams:
    max_zoom: float = 2.0
    width_per_person: float = 2.2   # crop width / head-and-shoulders width
    shoulders_per_head: float = 2.2
    head_room: float = 0.12         # the head's top sits this far below the crop's top (fraction of crop height)
    smooth_s: float = 0.3           # low-pass of the measured view
    dead_zone: float = 0.08         # a move starts when the wanted centre is this far off (fraction of the crop)
    dead_zoom: float = 0.15         # ... or the wanted zoom this far (ratio - 1)
    settle: float = 0.004           # a move ends when the view is this close to its target (fraction of the crop)
    omega: float = 3.5              # spring stiffness (rad/s): about 1.3 s to within 1 % of a step
    max_speed: float = 0.5          # frame widths (and log zoom) per second
    nobody_s: float = 1.5
    min_area: float = 0.004         # matte area (fraction) below which nobody is in view
    level: float = 0.65             # matte values that count as the person: its confident core, so the doubtful
                                    # textures of a busy room (0.3-0.6) never widen the view


FRAMING = FramingParams()


@dataclass(frozen=True)
class View:
    """A crop of the frame: centre (cx, cy) as fractions of the frame's width and height, and zoom (>= 1): the crop is
    1/zoom of the frame in each direction, so it keeps the frame's aspect."""

    cx: float = 0.5
    cy: float = 0.5
    zoom: float = 1.0

    def clamped(self, max_zoom: float = FRAMING.max_zoom) -> View:
        z = min(max(self.zoom, 1.0), max_zoom)
        half = 0.5 / z
        return View(min(max(self.cx, half), 1 - half), min(max(self.cy, half), 1 - half), z)

    def rect(self, width: int, height: int) -> tuple[float, float, float, float]:
        """(x0, y0, w, h) in pixels of a ``width`` x ``height`` frame."""
        w, h = width / self.zoom, height / self.zoom
        return self.cx * width - w / 2, self.cy * height - h / 2, w, h


FULL = View()


def wanted_view(matte: np.ndarray, aspect: float, params: FramingParams = FRAMING) -> View | None:
    """The view that frames the head and shoulders in ``matte`` (a low-resolution person matte of a frame whose
    width / height is ``aspect``), or None when nobody is in view."""
    h, w = matte.shape
    mask = matte > params.level
    rows = mask.sum(axis=1)
    if rows.sum() < params.min_area * h * w:
        return None
    on = np.flatnonzero(rows >= max(2, round(0.01 * w)))
    if on.size == 0:
        return None
    top = int(on[0])
    # Matte rows per matte column of the same physical length: the frame's aspect against the matte's.
    k = aspect * h / w
    # The head: coverage's running maximum from the top, until 0.8 head widths (in rows) have gone by (a head is
    # at least that tall for its width, hair included). Where the rows never get there (full hair meeting the
    # shoulders early, or a person cut by the frame's bottom just below the chin), the row that came closest
    # decides, the head no wider than the rows down to it allow: a hair's width more must not read as "no head".
    run = np.maximum.accumulate(rows[top:])
    idx = np.arange(run.size)
    below = np.flatnonzero(idx >= 0.8 * run * k)
    if below.size:
        head_w = float(run[below[0]]) / w
    else:
        near = int(np.argmax(idx / (0.8 * run * k)))
        head_w = min(float(run[near]), (near + 1) / (0.8 * k)) / w
    shoulders = max(float(np.percentile(rows[on], 90)) / w, params.shoulders_per_head * head_w)
    bottom = min(h, top + max(2, round(1.2 * shoulders * w * k)))
    cols = mask[top:bottom].sum(axis=0)
    cum = np.cumsum(cols)
    total = float(cum[-1])
    if total <= 0:
        return None
    x_lo = float(np.searchsorted(cum, 0.02 * total)) / w
    x_hi = float(np.searchsorted(cum, 0.98 * total) + 1) / w
    width = max(x_hi - x_lo, shoulders)
    zoom = min(max(1.0 / (params.width_per_person * width), 1.0), params.max_zoom)
    cy = top / h + (0.5 - params.head_room) / zoom
    return View((x_lo + x_hi) / 2, cy, zoom).clamped(params.max_zoom)


def _spring(x: float, v: float, target: float, omega: float, dt: float) -> tuple[float, float]:
    """One exact step of a critically damped spring: no overshoot from rest, whatever dt."""
    e = x - target
    decay = math.exp(-omega * dt)
    c = v + omega * e
    return target + (e + c * dt) * decay, (v - omega * c * dt) * decay


class AutoFramer(SegmenterUser):
    """Wanted views in, the view to show out (``update``); ``__call__`` runs it on a camera frame: segment, update,
    crop into the output buffer. The segmenter opens on first use (or early, on ``load``, from a control request's
    thread); a failed load is remembered and raised again with its reason, and the frame thread then shows the whole
    frame."""

    def __init__(self, model: Path | None, sha256: str | None = None, fps: float = 30.0,
                 params: FramingParams = FRAMING, threads: int = 1) -> None:
        self.model = model
        self._slot = LazySegmenter(
            model, sha256, threads, missing="Auto-framing needs the person segmenter, and no style model is installed.",
            hint="Auto-framing needs it (plain styles still run without it). Train and export it with "
                 "`vcam train --person`, or run without --frame auto.")
        self.params = params
        self.dt = 1.0 / max(fps, 1.0)
        self.reset()

    def reset(self) -> None:
        self.view = FULL
        self._vel = [0.0, 0.0, 0.0]
        self._target = FULL
        self._smooth: View | None = None
        self._moving = False
        self._nobody = 0.0

    # -- the view -------------------------------------------------------------------------------------------
    @property
    def at_rest(self) -> bool:
        """Showing the whole frame and not moving: framing off costs nothing from here on."""
        return self.view == FULL and not self._moving

    def update(self, wanted: View | None, on: bool = True) -> View:
        """Advance one frame: ``wanted`` is this frame's measurement (None: nobody); ``on`` False eases back out."""
        p, dt = self.params, self.dt
        if not on:
            wanted, self._nobody = FULL, p.nobody_s
        elif wanted is None:
            self._nobody += dt
            wanted = FULL if self._nobody >= p.nobody_s else None
        else:
            self._nobody = 0.0
        if wanted is not None:
            a = dt / (p.smooth_s + dt)
            s = self._smooth or wanted
            self._smooth = s = View(s.cx + a * (wanted.cx - s.cx), s.cy + a * (wanted.cy - s.cy),
                                    math.exp(math.log(s.zoom) + a * (math.log(wanted.zoom) - math.log(s.zoom))))
            if not on or self._nobody >= p.nobody_s:
                s = wanted            # backing out: no need to wait for the low-pass
            t = self._target
            crop = 1.0 / t.zoom
            if self._moving or abs(s.cx - t.cx) > p.dead_zone * crop or abs(s.cy - t.cy) > p.dead_zone * crop \
                    or abs(math.log(s.zoom / t.zoom)) > math.log1p(p.dead_zoom):
                self._target = s.clamped(p.max_zoom)
                self._moving = True
        t = self._target
        x = [self.view.cx, self.view.cy, math.log(self.view.zoom)]
        goal = [t.cx, t.cy, math.log(t.zoom)]
        for i in range(3):
            x[i], v = _spring(x[i], self._vel[i], goal[i], p.omega, dt)
            self._vel[i] = max(-p.max_speed, min(p.max_speed, v))
        view = View(x[0], x[1], math.exp(x[2])).clamped(p.max_zoom)
        crop = 1.0 / view.zoom
        err = max(abs(view.cx - t.cx), abs(view.cy - t.cy)) / crop
        if self._moving and err < p.settle and abs(math.log(view.zoom / t.zoom)) < p.settle \
                and max(abs(v) for v in self._vel) < p.settle:
            view, self._vel, self._moving = t, [0.0, 0.0, 0.0], False   # arrived: hold exactly still
        self.view = view
        return view

    # -- a frame --------------------------------------------------------------------------------------------
    def __call__(self, frame: np.ndarray, on: bool, width: int, height: int, out: np.ndarray) -> np.ndarray:
        """The camera frame (BGR uint8, as captured) -> the framed picture at ``width`` x ``height`` in ``out``."""
        wanted = None
        if on:
            seg = self.segmenter
            if seg is None:
                try:
                    seg = self.load()
                except VcamError:
                    return fit(frame, width, height, out=out)
            wanted = wanted_view(seg(frame), frame.shape[1] / frame.shape[0], self.params)
        view = self.update(wanted, on)
        return render(frame, view, width, height, out)


def render(frame: np.ndarray, view: View, width: int, height: int, out: np.ndarray) -> np.ndarray:
    """The crop ``view`` of ``frame`` resampled to ``width`` x ``height`` into ``out``: sub-pixel placement, so a slow
    pan glides instead of stepping a pixel at a time. The whole frame is the plain resize."""
    if view == FULL:
        return fit(frame, width, height, out=out)
    fh, fw = frame.shape[:2]
    x0, y0, w, h = view.rect(fw, fh)
    sx, sy = w / width, h / height
    # dst -> src, pixel centres: src = x0 + (x + 0.5) * s - 0.5
    m = np.array([[sx, 0.0, x0 + 0.5 * sx - 0.5], [0.0, sy, y0 + 0.5 * sy - 0.5]], np.float64)
    cv2.warpAffine(frame, m, (width, height), dst=out, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                   borderMode=cv2.BORDER_REPLICATE)
    return out
