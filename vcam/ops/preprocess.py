"""Camera frame -> network input: one downscale, then uint8 BGR HWC -> float32 RGB NCHW in [0, 1].

Also keeps what the post-processing and the scene tests need from the same downscaled frame: the low-resolution
gray guide (float32 [0, 1]) and a tiny gray thumbnail (uint8). Every buffer is allocated once per size.

Downscaling: OpenCV's INTER_AREA is fast only for an exact 2x (0.3 ms 720p -> 360p here) and slow otherwise (1.2 ms
for 4x, 3.5 ms for 720p -> 216p), so the frame is halved with INTER_AREA while it stays at least twice the target,
and the last step (a factor below 2) is INTER_LINEAR, which aliases little at such factors. Whole step at 720p ->
320x180, blob + guide + thumbnail included: 0.67 ms (numpy resize/transpose/astype: 1.8 ms; cv2.dnn.blobFromImage,
which allocates and resizes with aliasing: 0.37 ms). benchmarks/bench_ops.py measures them.
"""

from __future__ import annotations

import cv2
import numpy as np

from vcam.config import Size
from vcam.ops.params import INPUT_SCALE, SCENE

_SCALE = np.float32(INPUT_SCALE)


def _halving_chain(width: int, height: int, target: Size) -> list[tuple[int, int]]:
    """Sizes of the exact 2x INTER_AREA steps from (width, height) towards target (both dims even each time)."""
    chain: list[tuple[int, int]] = []
    w, h = width, height
    while w % 2 == 0 and h % 2 == 0 and w >= 2 * target.width and h >= 2 * target.height:
        w, h = w // 2, h // 2
        chain.append((w, h))
    return chain


class Preprocessor:
    """BGR uint8 frames of one size -> network input.

    ``internal`` is the size the frame is downscaled to (and the guide's size); ``padded`` (default: the same) is
    what the network runs at: ``internal`` rounded up to multiples of 4, the extra rows/columns mirrored from the
    edge. Callers crop the network output back to ``internal``.
    """

    def __init__(self, frame_size: Size, internal: Size, padded: Size | None = None, guide: bool = True) -> None:
        self.frame_size = frame_size
        self.internal = internal
        self.padded = padded or internal
        w, h = internal.width, internal.height
        pw, ph = self.padded.width, self.padded.height
        if pw < w or ph < h:
            raise ValueError(f"padded size {self.padded} is smaller than {internal}")
        self._chain = [np.empty((ch, cw, 3), np.uint8) for cw, ch in _halving_chain(frame_size.width,
                                                                                    frame_size.height, internal)]
        if self._chain and self._chain[-1].shape[:2] == (h, w):
            self.small = self._chain.pop()
        else:
            self.small = np.empty((h, w, 3), np.uint8)
        self._small_pad = self.small if (pw, ph) == (w, h) else np.empty((ph, pw, 3), np.uint8)
        self.blob = np.empty((1, 3, ph, pw), np.float32)          # the network input
        self._hwc = np.empty((ph, pw, 3), np.float32)
        # cv2.split writes BGR planes; listing the blob's planes in reverse swaps to RGB for free.
        self._planes = [self.blob[0, 2], self.blob[0, 1], self.blob[0, 0]]
        self.gray_small = np.empty((h, w), np.uint8)
        self.guide = np.empty((h, w), np.float32)                # low-res gray guide in [0, 1]
        self._want_guide = guide        # only the guided filter reads it (not the "bilinear" upsampling)
        self.thumb = np.empty((SCENE.thumb_height, SCENE.thumb_width), np.uint8)

    def downscale(self, frame: np.ndarray) -> np.ndarray:
        src = frame
        for buf in self._chain:
            src = cv2.resize(src, (buf.shape[1], buf.shape[0]), dst=buf, interpolation=cv2.INTER_AREA)
        w, h = self.internal.width, self.internal.height
        if src.shape[:2] == (h, w):
            if src is not self.small:
                np.copyto(self.small, src)
        else:
            # Still >= 2x here only when odd sizes stopped the halving: then only INTER_AREA avoids aliasing.
            big = src.shape[0] >= 2 * h or src.shape[1] >= 2 * w
            cv2.resize(src, (w, h), dst=self.small, interpolation=cv2.INTER_AREA if big else cv2.INTER_LINEAR)
        return self.small

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Fill and return ``blob`` (1,3,h,w) float32 RGB; ``guide`` and ``thumb`` are updated too."""
        if frame.shape != (self.frame_size.height, self.frame_size.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"expected a {self.frame_size} BGR uint8 frame, got {frame.shape} {frame.dtype}")
        small = self.downscale(frame)
        if self._small_pad is not small:
            h, w = small.shape[:2]
            ph, pw = self._small_pad.shape[:2]
            cv2.copyMakeBorder(small, 0, ph - h, 0, pw - w, cv2.BORDER_REFLECT_101, dst=self._small_pad)
        np.multiply(self._small_pad, _SCALE, out=self._hwc)
        cv2.split(self._hwc, self._planes)
        cv2.cvtColor(small, cv2.COLOR_BGR2GRAY, dst=self.gray_small)
        if self._want_guide:
            np.multiply(self.gray_small, _SCALE, out=self.guide)
        cv2.resize(self.gray_small, (SCENE.thumb_width, SCENE.thumb_height), dst=self.thumb,
                   interpolation=cv2.INTER_AREA)
        return self.blob


def to_blob(frame: np.ndarray, internal: Size | None = None) -> np.ndarray:
    """One-off convenience (tests, export parity): a fresh (1,3,h,w) float32 RGB blob of ``frame`` (at its own
    size when ``internal`` is None)."""
    h, w = frame.shape[:2]
    return Preprocessor(Size(w, h), internal or Size(w, h))(frame).copy()
