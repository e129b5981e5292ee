"""Edge-aware upsampling of the network output with the fast guided filter (He & Sun 2015), fused with the strength
blend and the conversion to uint8.

Low resolution (the network's size h x w), guide I = gray of the downscaled frame in [0, 1], p = network output (RGB):
    mean_I = box(I), var_I = box(I*I) - mean_I^2
    per channel: cov = box(I*p) - mean_I * box(p);  A = cov / (var_I + eps);  b = box(p) - A * mean_I
    A, b = box(A), box(b);  A' = s * A;  b' = 255 * s * b          (strength s folded into the coefficients)
Full resolution (H x W), g = gray of the camera frame (uint8 levels), f = the frame:
    out = saturate_u8(round(up(A') * g + up(b') + (1 - s) * f))      up = bilinear (OpenCV INTER_LINEAR)
``s = 0`` returns the frame unchanged; ``s = 1`` skips the blend term.

Speed: the low-resolution part is small (~0.9 ms at 320x180, mostly the six box filters). At full resolution the
work is memory-bound, so it runs in horizontal bands of ~64 output rows whose float32 intermediates stay in cache:
each band resizes its slice of A' and b' (with Q rows of margin, which gives bit-identical results to a whole-frame
resize when the height ratio H/h = P/Q has a small Q, such as 4 or 10/3: the governor picks such internal sizes),
multiplies by the band's gray, adds (and blends) straight into the uint8 output. Bands can be split over two
threads (OpenCV releases the GIL). Measured with

    .venv/bin/python benchmarks/bench_ops.py --json out/ops.json

(median [min] ms over 80 interleaved runs, strength 1, 2-core EPYC, mostly idle):
                                          1280x720        1920x1080
    numpy naive (float32, then convert)   98   [35]       160  [73]
    cv2 whole frame (fused, float32)      7.1  [5.3]      16.7 [12.0]
    vcam bands, 1 thread                  6.3  [5.0]      14.6 [10.2]
    vcam bands, 2 threads                 7.7  [4.3]      15.5 [8.3]
    of which low-res coefficients         1.4  [1.2]      3.4  [2.8]
    full-res pass only: float interleaved 5.7 / 13.7, per-plane 6.3 / 18.0, int16 fixed point 6.9 / 17.1.
int16 fixed point is never faster (OpenCV converts internally) and per-plane loses at 1080p; bands win over one
whole-frame pass; two threads help only on an idle machine (the engine uses the thread count it measured for the
network). In the end-to-end benchmark the post stage took 4.0 ms at 720p and 6.7 ms at 1080p (p50).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import cv2
import numpy as np

from vcam.config import Size
from vcam.ops.params import GUIDED, GuidedParams

_BAND_OUT_ROWS = 64     # output rows per band: ~2 MB of float32 intermediates at 1280 wide, cache-resident
UPSAMPLE_MODES = ("guided", "bilinear")


def plan_bands(low_h: int, full_h: int, target_rows: int = _BAND_OUT_ROWS) -> list[tuple[int, int, int, int]]:
    """Row bands (i0, i1, lo, hi) of the low-res image: interior rows [i0, i1) and resize source rows [lo, hi).

    Exact only when full_h / low_h = P/Q with a small Q: bands then start on multiples of Q, so each band's resize
    maps output rows to the same source coordinates as one whole-frame resize. Otherwise one band (the whole frame).
    """
    r = Fraction(full_h, low_h)
    p, q = r.numerator, r.denominator
    if q > 4 or low_h < 2 * q:
        return [(0, low_h, 0, low_h)]
    units = max(1, round(target_rows / p))          # Q-row units per band
    step = units * q
    bands = []
    for i0 in range(0, low_h, step):
        i1 = min(low_h, i0 + step)
        bands.append((i0, i1, max(0, i0 - q), min(low_h, i1 + q)))
    return bands


class _BandWorker:
    """Scratch buffers of one thread for one band at a time."""

    def __init__(self, rows: int, width: int, max_band_out: int) -> None:
        self.a = np.empty((rows, width, 3), np.float32)
        self.b = np.empty((rows, width, 3), np.float32)
        self.g = np.empty((max_band_out, width), np.uint8)
        self.g3 = np.empty((max_band_out, width, 3), np.uint8)
        self.b8 = np.empty((rows, width, 3), np.uint8)


class GuidedUpsampler:
    """Fast guided filter from ``low`` (network size) to ``full`` (output size) with preallocated buffers.

    ``threads`` = 2 splits the full-resolution bands over two threads; 1 keeps everything on the caller's thread.
    ``band_rows`` <= 0 processes the whole frame at once (the reference for the banded path).

    ``mode`` = "bilinear" skips the filter: A' = 0 and b' = 255 s p, so the output is the network's picture
    upsampled bilinearly and blended. For a network that runs near the output size (the current model: 960x540
    for 720p) the filter's box means would blur the brush strokes it paints (benchmarks/quality.py measured it);
    the camera's edges are already in its picture. The CUDA path runs it through the guided filter's full-resolution
    kernel with A' = 0; here the picture is rounded to uint8 at low resolution and resized as uint8 (within one level
    of that).
    """

    def __init__(self, low: Size, full: Size, params: GuidedParams = GUIDED, threads: int = 1,
                 band_rows: int = _BAND_OUT_ROWS, mode: str = "guided") -> None:
        if mode not in UPSAMPLE_MODES:
            raise ValueError(f"unknown upsampling mode {mode!r}; expected one of {UPSAMPLE_MODES}")
        self.mode = mode
        self.low, self.full, self.params = low, full, params
        h, w = low.height, low.width
        H, W = full.height, full.width
        self._k = 2 * params.radius + 1
        f = lambda c=3: np.empty((h, w, c) if c > 1 else (h, w), np.float32)  # noqa: E731
        self._p, self._ip, self._mp, self._mip = f(), f(), f(), f()
        self._A, self._b = f(), f()
        self.coef_a, self.coef_b = f(), f()          # A' and b' (BGR interleaved), what the full-res pass reads
        # "bilinear" reads the picture as uint8 instead: OpenCV's fixed-point uint8 resize took half the time of the
        # float one plus its conversion (1.6 vs 3.3 ms at 960x540 -> 1280x720, one thread: a one-off timing, not in
        # bench_ops; the pipeline's post stage went from 2.6 to 2.1 ms in bench_pipeline's live 720p row), within one
        # level.
        self.b8 = np.empty((h, w, 3), np.uint8)
        self._planes8 = [np.empty((h, w), np.uint8) for _ in range(3)]
        self._mi, self._ii, self._mii, self._inv = f(1), f(1), f(1), f(1)
        self._i3, self._mi3, self._inv3 = f(), f(), f()
        self.bands = plan_bands(h, H, band_rows) if band_rows > 0 else [(0, h, 0, h)]
        self._ratio = Fraction(H, h)
        max_out = max(b - a for a, b in (self._out_rows(i0, i1) for i0, i1, _, _ in self.bands))
        max_res = max(b - a for a, b in (self._out_rows(lo, hi) for _, _, lo, hi in self.bands))
        self._band_shape = (max_res, W, max_out)
        self._workers = [_BandWorker(*self._band_shape)]
        self._pool: ThreadPoolExecutor | None = None
        self._split = len(self.bands) // 2
        self.set_threads(threads)
        self._strength = 1.0
        self._frame: np.ndarray | None = None
        self._out: np.ndarray | None = None

    def _out_rows(self, i0: int, i1: int) -> tuple[int, int]:
        if len(self.bands) == 1:
            return 0, self.full.height
        return int(i0 * self._ratio), int(i1 * self._ratio)

    @property
    def threads(self) -> int:
        return 2 if self._pool is not None else 1

    def set_threads(self, threads: int) -> None:
        """1: bands run on the caller's thread; 2: half of them on a helper thread (needs >= 2 bands)."""
        if threads >= 2 and self._split > 0:
            if len(self._workers) < 2:
                self._workers.append(_BandWorker(*self._band_shape))
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="vcam-guided")
        else:
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # -- low resolution --------------------------------------------------------------------------------------
    def _box(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(src, -1, (self._k, self._k), dst=dst, normalize=True, borderType=cv2.BORDER_REFLECT_101)

    def coefficients(self, stylized: np.ndarray, guide: np.ndarray, strength: float) -> None:
        """A' and b' from the network output (3,h,w) or (1,3,h,w) RGB in [0,1] and the low-res gray guide."""
        p3 = stylized[0] if stylized.ndim == 4 else stylized
        h, w = self.low.height, self.low.width
        if p3.shape[0] != 3 or p3.shape[1] < h or p3.shape[2] < w or (self.mode == "guided" and guide.shape != (h, w)):
            raise ValueError(f"guided filter expects (3,{h},{w}) output and ({h},{w}) guide, "
                             f"got {stylized.shape} and {guide.shape}")
        s = float(strength)
        if self.mode == "bilinear":   # the strength blend happens at full resolution
            for plane, c in zip(self._planes8, (2, 1, 0), strict=True):
                cv2.convertScaleAbs(p3[c, :h, :w], dst=plane, alpha=255.0)
            cv2.merge(self._planes8, dst=self.b8)
            return
        # Planar RGB (possibly a crop of a padded network output) -> interleaved BGR.
        cv2.merge([p3[2, :h, :w], p3[1, :h, :w], p3[0, :h, :w]], dst=self._p)
        eps = self.params.eps
        self._box(guide, self._mi)
        np.multiply(guide, guide, out=self._ii)
        self._box(self._ii, self._mii)
        np.multiply(self._mi, self._mi, out=self._ii)
        np.subtract(self._mii, self._ii, out=self._inv)            # var_I
        self._inv += eps
        np.reciprocal(self._inv, out=self._inv)
        cv2.cvtColor(guide, cv2.COLOR_GRAY2BGR, dst=self._i3)
        cv2.cvtColor(self._mi, cv2.COLOR_GRAY2BGR, dst=self._mi3)
        cv2.cvtColor(self._inv, cv2.COLOR_GRAY2BGR, dst=self._inv3)
        self._box(self._p, self._mp)
        np.multiply(self._i3, self._p, out=self._ip)
        self._box(self._ip, self._mip)
        A, b = self._A, self._b
        np.multiply(self._mi3, self._mp, out=A)
        np.subtract(self._mip, A, out=A)                           # cov_Ip
        np.multiply(A, self._inv3, out=A)
        np.multiply(A, self._mi3, out=b)
        np.subtract(self._mp, b, out=b)
        self._box(A, self.coef_a)
        self._box(b, self.coef_b)
        if s != 1.0:
            self.coef_a *= np.float32(s)
        self.coef_b *= np.float32(255.0 * s)

    # -- full resolution -------------------------------------------------------------------------------------
    def _run_bands(self, worker: _BandWorker, bands: list[tuple[int, int, int, int]]) -> None:
        W = self.full.width
        frame, out, s = self._frame, self._out, self._strength
        for i0, i1, lo, hi in bands:
            r0, r1 = self._out_rows(i0, i1)
            s0, s1 = self._out_rows(lo, hi)
            n = s1 - s0
            if self.mode == "bilinear":   # A' = 0: the picture itself, blended
                b8 = worker.b8[:n]
                cv2.resize(self.b8[lo:hi], (W, n), dst=b8, interpolation=cv2.INTER_LINEAR)
                bb = b8[r0 - s0:r1 - s0]
                if s >= 1.0:
                    np.copyto(out[r0:r1], bb)
                else:
                    cv2.addWeighted(bb, s, frame[r0:r1], 1.0 - s, 0.0, dst=out[r0:r1])
                continue
            a, b = worker.a[:n], worker.b[:n]
            cv2.resize(self.coef_b[lo:hi], (W, n), dst=b, interpolation=cv2.INTER_LINEAR)
            m = r1 - r0
            cv2.resize(self.coef_a[lo:hi], (W, n), dst=a, interpolation=cv2.INTER_LINEAR)
            g, g3 = worker.g[:m], worker.g3[:m]
            cv2.cvtColor(frame[r0:r1], cv2.COLOR_BGR2GRAY, dst=g)
            cv2.cvtColor(g, cv2.COLOR_GRAY2BGR, dst=g3)
            aa, bb = a[r0 - s0:r1 - s0], b[r0 - s0:r1 - s0]
            cv2.multiply(aa, g3, dst=aa, dtype=cv2.CV_32F)
            if s >= 1.0:
                cv2.add(aa, bb, dst=out[r0:r1], dtype=cv2.CV_8U)
            else:
                cv2.add(aa, bb, dst=aa)
                cv2.addWeighted(aa, 1.0, frame[r0:r1], 1.0 - s, 0.0, dst=out[r0:r1], dtype=cv2.CV_8U)

    def apply(self, frame: np.ndarray, strength: float, out: np.ndarray) -> np.ndarray:
        """Write the filtered, blended frame into ``out`` (H,W,3 uint8) using the last coefficients."""
        self._frame, self._out, self._strength = frame, out, float(strength)
        try:
            if self._pool is not None:
                fut = self._pool.submit(self._run_bands, self._workers[1], self.bands[self._split:])
                self._run_bands(self._workers[0], self.bands[:self._split])
                fut.result()
            else:
                self._run_bands(self._workers[0], self.bands)
        finally:
            self._frame = self._out = None
        return out

    def __call__(self, stylized: np.ndarray, guide: np.ndarray, frame: np.ndarray, strength: float,
                 out: np.ndarray | None = None) -> np.ndarray:
        H, W = self.full.height, self.full.width
        if frame.shape != (H, W, 3) or frame.dtype != np.uint8:
            raise ValueError(f"expected a {self.full} BGR uint8 frame, got {frame.shape} {frame.dtype}")
        if out is None:
            out = np.empty((H, W, 3), np.uint8)
        s = min(max(float(strength), 0.0), 1.0)
        if s <= 0.0:
            np.copyto(out, frame)
            return out
        self.coefficients(stylized, guide, s)
        return self.apply(frame, s, out)


def guided_reference(stylized: np.ndarray, guide: np.ndarray, gray_full: np.ndarray, frame: np.ndarray,
                     strength: float, params: GuidedParams = GUIDED, mode: str = "guided") -> np.ndarray:
    """The same math in float64, written plainly (tests compare GuidedUpsampler and the CUDA kernel with it)."""
    r, eps, s = params.radius, params.eps, float(strength)
    p = np.asarray(stylized, np.float64).reshape(3, *stylized.shape[-2:])[::-1]   # RGB -> BGR
    h, w = guide.shape
    p = p[:, :h, :w]
    if mode == "bilinear":
        H, W = gray_full.shape
        out = np.stack([_bilinear(255.0 * s * p[c], H, W) for c in range(3)], axis=-1)
        out += (1.0 - s) * frame.astype(np.float64)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    I = np.asarray(guide, np.float64)  # noqa: E741

    def box(x: np.ndarray) -> np.ndarray:
        pad = np.pad(x, r, mode="reflect")                 # numpy "reflect" == OpenCV BORDER_REFLECT_101
        acc = np.zeros_like(x)
        for dy in range(2 * r + 1):
            for dx in range(2 * r + 1):
                acc += pad[dy:dy + h, dx:dx + w]
        return acc / (2 * r + 1) ** 2

    mI = box(I)
    var = box(I * I) - mI * mI
    H, W = gray_full.shape
    out = np.empty((H, W, 3), np.float64)
    for c in range(3):
        mp = box(p[c])
        A = (box(I * p[c]) - mI * mp) / (var + eps)
        b = mp - A * mI
        A, b = box(A), box(b)
        out[:, :, c] = _bilinear(s * A, H, W) * gray_full + _bilinear(255.0 * s * b, H, W)
    out += (1.0 - s) * frame.astype(np.float64)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _bilinear(x: np.ndarray, H: int, W: int) -> np.ndarray:
    """Bilinear resize with half-pixel centres and clamped edges (OpenCV INTER_LINEAR), in float64."""
    h, w = x.shape

    def axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        i0 = np.floor(pos).astype(int)
        t = pos - i0
        # OpenCV clamps the sample position at the borders (weight moves to the edge pixel).
        t = np.where(i0 < 0, 0.0, t)
        i0 = np.clip(i0, 0, n_in - 1)
        i1 = np.clip(i0 + 1, 0, n_in - 1)
        t = np.where(i0 >= n_in - 1, 0.0, t)
        return i0, i1, t

    y0, y1, ty = axis(H, h)
    x0, x1, tx = axis(W, w)
    rows = x[y0] * (1 - ty)[:, None] + x[y1] * ty[:, None]
    return rows[:, x0] * (1 - tx)[None, :] + rows[:, x1] * tx[None, :]
