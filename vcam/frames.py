"""The Frame record that flows from capture to sinks, and the pixel-format helpers every stage shares."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vcam.errors import VcamError


@dataclass
class Frame:
    """One captured image: BGR uint8 HxWx3, stamped at grab time (time.perf_counter())."""

    image: np.ndarray
    index: int
    t_grab: float
    reconnecting: bool = False   # the source is down: this is the last good frame, re-sent


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Any 8-bit image a source may deliver (gray, gray+1, BGR, BGRA) -> contiguous BGR uint8."""
    if image.dtype != np.uint8:
        if image.dtype == np.uint16:
            image = (image >> 8).astype(np.uint8)
        else:
            raise VcamError(f"Unsupported frame dtype {image.dtype}; vcam expects 8-bit images.")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3:
        c = image.shape[2]
        if c == 3:
            return np.ascontiguousarray(image)
        if c == 1:
            return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
        if c == 4:
            return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    raise VcamError(f"Unsupported frame shape {image.shape}; expected HxW, HxWx1, HxWx3 or HxWx4.")


def fit(image: np.ndarray, width: int, height: int, out: np.ndarray | None = None) -> np.ndarray:
    """Resize to exactly width x height (into ``out`` when given, so the hot path reuses one buffer)."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        if out is None:
            return image
        np.copyto(out, image)
        return out
    interp = cv2.INTER_AREA if w > width else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), dst=out, interpolation=interp)


def mark_reconnecting(image: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Copy ``image`` into ``out`` with a visible "reconnecting" band: people in a call see only pixels, so a
    re-sent last frame must say why it does not move."""
    np.copyto(out, image)
    h, w = out.shape[:2]
    band = max(18, h // 12)
    y0 = h - band
    out[y0:] //= 3
    scale = band / 40
    cv2.putText(out, "camera reconnecting...", (max(4, w // 40), h - band // 3), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (80, 200, 255), max(1, round(scale * 2)), cv2.LINE_AA)
    return out
