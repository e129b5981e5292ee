"""Fixed-rate pacing: makes a file or the test pattern deliver frames like a camera does."""

from __future__ import annotations

import time


class Pacer:
    """Sleeps until the next tick of a fixed rate.

    A caller that falls more than one period behind is re-anchored to now instead of being let burst
    through the missed ticks: a camera does not deliver a backlog either, it just skips."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps if fps > 0 else 0.0
        self._next: float | None = None

    def reset(self) -> None:
        self._next = None

    def wait(self) -> None:
        if self.period <= 0.0:
            return
        now = time.perf_counter()
        if self._next is None:
            self._next = now
        delay = self._next - now
        if delay > 0:
            time.sleep(delay)
        elif delay < -self.period:
            self._next = now
        self._next += self.period
