"""On-demand capture: hold the webcam only while some application reads the virtual camera.

Wraps a feed factory. While nobody reads, the webcam is released (its light goes off, no CPU spent on capture)
and the feed re-sends the last frame about once a second, so the virtual camera stays valid for the next
reader (with exclusive_caps=1 a reader can only open a device that has been written to).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from vcam.capture.base import FrameFeed
from vcam.frames import Frame


class OnDemandFeed:
    def __init__(self, make_feed: Callable[[], FrameFeed], wanted: Callable[[], bool],
                 idle_interval_s: float = 1.0) -> None:
        self._make = make_feed
        self._wanted = wanted
        self.idle_interval_s = idle_interval_s
        self._inner: FrameFeed | None = None
        self._last: Frame | None = None
        self._stopped = threading.Event()
        self.source_name = "on-demand"
        self.idle = False
        self._dropped_before = 0

    @property
    def dropped(self) -> int:
        return self._dropped_before + (self._inner.dropped if self._inner else 0)

    @property
    def measured_fps(self) -> float:
        return self._inner.measured_fps if self._inner else 0.0

    def start(self) -> None:
        self._ensure_inner()

    def _ensure_inner(self) -> FrameFeed:
        if self._inner is None:
            inner = self._make()
            inner.start()
            self._inner = inner
            self.source_name = inner.source_name
        return self._inner

    def _release(self) -> None:
        if self._inner is not None:
            self._dropped_before += self._inner.dropped
            self._inner.stop()
            self._inner = None

    def next_frame(self, timeout: float) -> Frame | None:
        if self._wanted() or self._last is None:
            self.idle = False
            frame = self._ensure_inner().next_frame(timeout)
            if frame is not None:
                self._last = frame
            return frame
        self.idle = True
        self._release()
        if self._stopped.wait(self.idle_interval_s):
            return None
        return replace(self._last, t_grab=time.perf_counter())

    def stop(self) -> None:
        self._stopped.set()
        self._release()
