"""A picture behind the person (`--background IMAGE`), painted in the current style and composited at the matte.

The picture does not move, so it is stylized once per (picture, style, output size), not per frame: the engine's
own network runs on it once (``stylize``, a callback the engine gives), and the result is reused until one of the
three changes. While a style switch eases, it is repainted at most every ``REPAINT_EVERY`` frames (the network's
pace, not the camera's), and once more when the switch settles, so the backdrop follows the switch without costing
a second network run per frame.

Composite per frame:  out = m * person_layer + (1 - m) * backdrop_layer
    person_layer   = frame + (stylized_frame - frame) * person_strength
    backdrop_layer = picture + (stylized_picture - picture) * background_strength   (cached per strength)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np

REPAINT_EVERY = 4          # frames between repaints while a style switch eases


def cover(picture: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale ``picture`` to cover width x height and crop the centre (no bars, no distortion)."""
    h, w = picture.shape[:2]
    scale = max(width / w, height / h)
    nw, nh = max(width, round(w * scale)), max(height, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    big = cv2.resize(picture, (nw, nh), interpolation=interp)
    x0, y0 = (nw - width) // 2, (nh - height) // 2
    return np.ascontiguousarray(big[y0:y0 + height, x0:x0 + width])


class Backdrop:
    """The cached painted picture; ``layer(...)`` returns the backdrop layer for a frame (or None when none is set).

    ``stylize(picture, style_vector) -> uint8 image`` is the engine's one network pass at strength 1 (same size out).
    """

    def __init__(self, stylize: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        self._stylize = stylize
        self._token: int | None = None
        self._size: tuple[int, int] | None = None
        self.picture: np.ndarray | None = None      # BGR, covered to the output size
        self.painted: np.ndarray | None = None      # its stylization
        self._layer: np.ndarray | None = None
        self._layer_key: tuple | None = None
        self._style: np.ndarray | None = None
        self._since = 0
        self.repaints = 0                             # how many network passes it took (tests, stats)
        self.ms = 0.0                                 # the last repaint's time

    @property
    def active(self) -> bool:
        return self.picture is not None

    def update(self, picture: np.ndarray | None, token: int, size: tuple[int, int], style: np.ndarray,
               easing: bool) -> None:
        """Follow the controls: a new picture (``token`` changes), a new output ``size`` (w, h), a new style."""
        if token != self._token or size != self._size:
            self._token, self._size = token, size
            self.picture = None if picture is None else cover(picture, *size)
            self.painted, self._style, self._layer_key = None, None, None
            if self.picture is not None:
                self._layer = np.empty_like(self.picture)
        if self.picture is None:
            return
        self._since += 1
        changed = self._style is None or not np.array_equal(style, self._style)
        # While easing, repaint at the network's pace; otherwise as soon as the style differs (the switch's end).
        if changed and (self.painted is None or not easing or self._since >= REPAINT_EVERY):
            t0 = time.perf_counter()
            self.painted = self._stylize(self.picture, style).copy()
            self.ms = (time.perf_counter() - t0) * 1000
            self._style = style.copy()
            self._since = 0
            self._layer_key = None
            self.repaints += 1

    def layer(self, strength: float) -> np.ndarray | None:
        """picture + (painted - picture) * strength, recomputed only when the strength or the painting changes."""
        if self.picture is None or self.painted is None:
            return None
        s = min(max(float(strength), 0.0), 1.0)
        key = (round(s, 4), self.repaints)
        if key != self._layer_key:
            cv2.addWeighted(self.painted, s, self.picture, 1.0 - s, 0.0, dst=self._layer)
            self._layer_key = key
        return self._layer
