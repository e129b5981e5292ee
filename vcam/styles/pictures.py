"""A picture becomes a style: decode it (vcam.styles.images), encode it (vcam.styles.encoder), register its code
(vcam.styles.codes) and, live, cross-fade to it. What `--style-image`, `vcam ctl style-image` and
`vcam styles add` share; it never runs on the frame thread."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

import numpy as np

from vcam.styles.codes import StyleCodes
from vcam.styles.images import decode_image

PICTURE_PREFIX = "picture-"


def picture_name(data: bytes) -> str:
    """The same picture gets the same name (sending it twice does not grow the list)."""
    return PICTURE_PREFIX + hashlib.sha256(data).hexdigest()[:10]


class PictureStyles:
    """Encodes pictures into ``codes``; ``encoder`` is built on first use (a run without pictures never loads it).

    One picture at a time: a second request waits for the first (the encoder is not thread-safe, and two at once
    would only take cores from the stream)."""

    def __init__(self, codes: StyleCodes, make_encoder: Callable[[], Callable[[np.ndarray], np.ndarray]]) -> None:
        self.codes = codes
        self._make = make_encoder
        self._encoder: Callable[[np.ndarray], np.ndarray] | None = None
        self._lock = threading.Lock()

    def encode(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        with self._lock:
            if self._encoder is None:
                self._encoder = self._make()
            t0 = time.perf_counter()
            code = self._encoder(rgb)
            return code, (time.perf_counter() - t0) * 1000

    def add(self, data: bytes, name: str | None = None, what: str = "The picture") -> dict:
        """Decode and encode ``data``; register it under ``name`` (default: from its hash). Errors are VcamErrors
        and change nothing."""
        t0 = time.perf_counter()
        rgb = decode_image(data, what)
        code, ms = self.encode(rgb)
        name = name or picture_name(data)
        self.codes.add(name, code)
        return {"style": name, "size": [int(rgb.shape[1]), int(rgb.shape[0])], "encode_ms": round(ms, 2),
                "total_ms": round((time.perf_counter() - t0) * 1000, 2)}
