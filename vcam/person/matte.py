"""A steady person matte: temporal smoothing that follows motion, then edges refined at the output size.

Smoothing (at the segmenter's 256x144): an exponential moving average whose rate is set per pixel,

    state += rate * (matte - state)
    rate   = still + (1 - still) * max(moving(|gray - gray_prev|), jump(|matte - state|))

``moving`` ramps from 0 to 1 between ``motion_lo`` and ``motion_hi`` gray levels of frame change (blurred a little
against camera noise, then dilated so the whole soft band of a moving edge is covered); ``jump`` ramps between
``matte_lo`` and ``matte_hi`` of matte change (a person of the background's colour moves without changing the
gray much, but the network's answer changes a lot). Where the frame is still only ``still`` of each new matte gets
in, so the segmenter's frame-to-frame jitter on a still edge is averaged away (no shimmer); where something moved
the rate is 1 and the matte follows in the same frame (no lag, no ghost trailing behind a hand). A scene cut (a
large change of the whole thumbnail), a size change or a gap in the updates starts again from the new matte.

Refinement (He & Sun's fast guided filter, single channel): coefficients A, b of the local linear model
matte ~ A * gray + b from the smoothed matte and the low-res gray, box-averaged, upsampled bilinearly to the output
size and applied to the frame's own gray there. Edges then sit where the camera image has them (hair, shoulders,
fingers) instead of on the 5x coarser segmenter grid, at the cost of a few full-resolution passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vcam.ops.params import SCENE

_INV255 = np.float32(1.0 / 255.0)


@dataclass(frozen=True)
class MatteParams:
    # Chosen on the training sequences only (people/frames paris, foreman, signer_studio; never the held-out clips
    # that benchmarks/person.py scores): against the first setting (0.15, 3-12 levels, 0.3-0.6) the shown matte's
    # flicker along flow fell 9-23%, its distance from the teacher's per-frame matte rose 2-4% on the fastest third
    # of the frames (the teacher's own jitter is part of that distance).
    still: float = 0.08          # EMA rate where nothing moved: ~12 frames of averaging
    motion_lo: float = 5.0       # gray levels of change below which a pixel is still (camera noise)
    motion_hi: float = 30.0      # and above which it follows at once
    matte_lo: float = 0.45       # matte change below which it is treated as jitter
    matte_hi: float = 0.75
    spread: int = 5              # dilation (low-res px) that carries motion over a moving edge's soft band
    scene_cut: float = SCENE.scene_cut_diff   # mean thumbnail change (levels) that resets the smoothing
    radius: int = 2              # guided filter box radius at the matte's resolution (5x5: ~25 px at 720p)
    eps: float = 1e-3            # its regulariser ([0,1]^2 units): smaller snaps harder to the guide's edges


MATTE = MatteParams()


class MatteTracker:
    """Per-frame: ``update(matte, guide, thumb)`` at low resolution, then ``refine(frame)`` at the output size.

    ``matte``: (h, w) float32 in [0,1]; ``guide``: the same frame's gray at (h, w) in [0,1] (float32); ``thumb``:
    an optional tiny gray thumbnail for scene cuts (else the guide's mean change is used). Buffers are allocated
    when a size first appears and reused after that.
    """

    def __init__(self, params: MatteParams = MATTE) -> None:
        self.params = params
        self._low: tuple[int, int] | None = None
        self._full: tuple[int, int] | None = None
        self._fresh = True
        self._motion_kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (params.spread, params.spread))

    # -- buffers ------------------------------------------------------------------------------------------------
    def _alloc_low(self, h: int, w: int) -> None:
        f = lambda: np.zeros((h, w), np.float32)  # noqa: E731
        self.state = f()
        self._prev = f()
        self._rate, self._tmp, self._d = f(), f(), f()
        self._mi, self._mp, self._mii, self._mip, self._a, self._b = f(), f(), f(), f(), f(), f()
        self.coef_a, self.coef_b = f(), f()
        self._thumb: np.ndarray | None = None
        self._low = (h, w)
        self._fresh = True

    def _alloc_full(self, h: int, w: int) -> None:
        self.out = np.zeros((h, w), np.float32)
        self._up_a = np.empty((h, w), np.float32)
        self._gray = np.empty((h, w), np.uint8)
        self._full = (h, w)

    def reset(self) -> None:
        """Forget the history: the next update starts from its matte."""
        self._fresh = True

    # -- temporal smoothing ---------------------------------------------------------------------------------------
    def _scene_cut(self, guide: np.ndarray, thumb: np.ndarray | None) -> bool:
        if thumb is None:   # mean gray change of the whole low-res frame, in levels
            return not self._fresh and \
                float(cv2.norm(guide, self._prev, cv2.NORM_L1)) * 255.0 / guide.size > self.params.scene_cut
        had = self._thumb is not None and self._thumb.shape == thumb.shape
        cut = had and not self._fresh and \
            float(cv2.norm(thumb, self._thumb, cv2.NORM_L1)) / thumb.size > self.params.scene_cut
        if had:
            np.copyto(self._thumb, thumb)
        else:
            self._thumb = thumb.copy()    # once per size
        return cut

    def update(self, matte: np.ndarray, guide: np.ndarray, thumb: np.ndarray | None = None) -> np.ndarray:
        """Smooth one new low-res matte; returns the smoothed state (a reused buffer)."""
        if matte.shape != guide.shape or matte.ndim != 2:
            raise ValueError(f"matte {matte.shape} and guide {guide.shape} must be the same 2-D size")
        if self._low != matte.shape:
            self._alloc_low(*matte.shape)
        p = self.params
        if self._scene_cut(guide, thumb) or self._fresh:
            np.copyto(self.state, matte)
            np.copyto(self._prev, guide)
            self._fresh = False
            return self.state
        rate, tmp, d = self._rate, self._tmp, self._d
        # Frame change in gray levels, a 3x3 mean against single-pixel noise, spread over the edge's band.
        cv2.absdiff(guide, self._prev, dst=d)
        cv2.blur(d, (3, 3), dst=tmp)
        cv2.dilate(tmp, self._motion_kernel, dst=d)
        span = p.motion_hi - p.motion_lo   # the guide is in [0,1]: levels are 255x
        cv2.addWeighted(d, 255.0 / span, d, 0.0, -p.motion_lo / span, dst=rate)
        # Matte change, as a second vote.
        cv2.absdiff(matte, self.state, dst=d)
        cv2.addWeighted(d, 1.0 / (p.matte_hi - p.matte_lo), d, 0.0, -p.matte_lo / (p.matte_hi - p.matte_lo), dst=tmp)
        cv2.max(rate, tmp, dst=rate)
        np.clip(rate, 0.0, 1.0, out=rate)
        cv2.addWeighted(rate, 1.0 - p.still, rate, 0.0, p.still, dst=rate)
        # state += rate * (matte - state)
        cv2.subtract(matte, self.state, dst=tmp)
        cv2.multiply(tmp, rate, dst=tmp)
        cv2.add(self.state, tmp, dst=self.state)
        np.copyto(self._prev, guide)
        return self.state

    # -- edge refinement ------------------------------------------------------------------------------------------
    def _box(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        k = 2 * self.params.radius + 1
        return cv2.boxFilter(src, -1, (k, k), dst=dst, normalize=True, borderType=cv2.BORDER_REFLECT_101)

    def coefficients(self, guide: np.ndarray) -> None:
        """A and b of the guided filter of the smoothed matte with ``guide`` (low-res gray in [0,1]); A is kept
        pre-divided by 255 so the full-resolution pass multiplies the uint8 gray directly."""
        mi, mp, mii, mip, a, b = self._mi, self._mp, self._mii, self._mip, self._a, self._b
        self._box(guide, mi)
        self._box(self.state, mp)
        cv2.multiply(guide, guide, dst=a)
        self._box(a, mii)
        cv2.multiply(guide, self.state, dst=a)
        self._box(a, mip)
        cv2.multiply(mi, mi, dst=a)
        cv2.subtract(mii, a, dst=mii)                 # var_I
        cv2.add(mii, self.params.eps, dst=mii)
        cv2.multiply(mi, mp, dst=a)
        cv2.subtract(mip, a, dst=mip)                 # cov_Ip
        cv2.divide(mip, mii, dst=a)                   # A
        cv2.multiply(a, mi, dst=b)
        cv2.subtract(mp, b, dst=b)                    # b = mean_p - A mean_I
        self._box(a, self.coef_a)
        self._box(b, self.coef_b)
        self.coef_a *= _INV255

    def refine(self, frame: np.ndarray, guide: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The smoothed matte at ``frame``'s size, its edges snapped to the frame's (float32 in [0,1]); written
        into ``out`` or a buffer reused by the next call."""
        if self._low is None:
            raise RuntimeError("refine() before update()")
        h, w = frame.shape[:2]
        if self._full != (h, w):
            self._alloc_full(h, w)
        dst = self.out if out is None else out
        self.coefficients(guide)
        cv2.resize(self.coef_a, (w, h), dst=self._up_a, interpolation=cv2.INTER_LINEAR)
        cv2.resize(self.coef_b, (w, h), dst=dst, interpolation=cv2.INTER_LINEAR)
        if frame.ndim == 3:
            cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY, dst=self._gray)
            gray = self._gray
        else:
            gray = frame
        cv2.multiply(self._up_a, gray, dst=self._up_a, dtype=cv2.CV_32F)
        cv2.add(self._up_a, dst, dst=dst)
        # The linear model overshoots near strong edges: keep a probability.
        cv2.threshold(dst, 1.0, 1.0, cv2.THRESH_TRUNC, dst=dst)
        cv2.threshold(dst, 0.0, 0.0, cv2.THRESH_TOZERO, dst=dst)
        return dst
