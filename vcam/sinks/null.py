"""A sink that only counts frames: for benchmarks and tests that measure the pipeline without any output."""

from __future__ import annotations

import numpy as np

from vcam.config import Size
from vcam.sinks.base import FrameInfo


class NullSink:
    name = "null"

    def __init__(self) -> None:
        self.frames = 0
        self.size: Size | None = None
        self.fps = 0.0
        self.last_info: FrameInfo | None = None

    def open(self, size: Size, fps: float) -> None:
        self.size, self.fps, self.frames = size, fps, 0

    def send(self, image: np.ndarray, info: FrameInfo) -> None:
        self.frames += 1
        self.last_info = info

    def close(self) -> None:
        pass
