"""Fake frame sources for the capture tests: no hardware, controllable timing and failures."""

from __future__ import annotations

import threading
import time

import numpy as np

from vcam.capture.base import EndOfStream, SourceError
from vcam.errors import VcamError


class FakeSource:
    """Frames whose every pixel holds the read count (mod 256), so a test can tell which frame it got.

    fail_at: the read number that raises SourceError; after it, ``open_failures`` reopen attempts fail and the
    source then comes back at ``size_after_failure`` (if given). hang_at: the read number that blocks until
    ``release`` is set. frames: end of stream after this many reads. Calls overlapping each other (open/close
    during a read) are recorded in ``overlaps``: a source must only ever be touched by one thread at a time."""

    def __init__(self, size: tuple[int, int] = (32, 24), fps: float = 100.0, period_s: float = 0.0,
                 fail_at: int | None = None, open_failures: int = 0, size_after_failure: tuple[int, int] | None = None,
                 hang_at: int | None = None, frames: int | None = None, shape_fn=None, name: str = "fake") -> None:
        self.name = name
        self.nominal_fps = fps
        self.live = True
        self.size = size
        self.period_s = period_s
        self.fail_at = fail_at
        self.open_failures = open_failures
        self.size_after_failure = size_after_failure
        self.hang_at = hang_at
        self.frames = frames
        self.shape_fn = shape_fn
        self.release = threading.Event()
        self.reads = 0
        self.opens = 0
        self.closes = 0
        self.open_times: list[float] = []
        self.failed_at_time: float | None = None
        self.overlaps = 0
        self._busy = threading.Lock()
        self._failed = False

    def _enter(self) -> None:
        if not self._busy.acquire(blocking=False):
            self.overlaps += 1
            self._busy.acquire()

    def open(self) -> None:
        self._enter()
        try:
            self.opens += 1
            self.open_times.append(time.perf_counter())
            if self._failed and self.open_failures > 0:
                self.open_failures -= 1
                raise VcamError("fake camera is unplugged")
            if self._failed and self.size_after_failure is not None:
                self.size = self.size_after_failure
        finally:
            self._busy.release()

    def read(self) -> np.ndarray:
        self._enter()
        try:
            if self.period_s:
                time.sleep(self.period_s)
            n = self.reads
            self.reads += 1
            if self.frames is not None and n >= self.frames:
                raise EndOfStream(self.name)
            if n == self.fail_at:
                self._failed = True
                self.failed_at_time = time.perf_counter()
                raise SourceError("fake camera unplugged")
            if n == self.hang_at:
                self.release.wait(5.0)
            w, h = self.size
            shape = self.shape_fn(h, w) if self.shape_fn else (h, w, 3)
            return np.full(shape, n % 256, np.uint8)
        finally:
            self._busy.release()

    def close(self) -> None:
        self._enter()
        try:
            self.closes += 1
        finally:
            self._busy.release()
