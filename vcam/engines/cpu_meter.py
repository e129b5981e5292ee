"""How much CPU the whole vcam process uses per wall second, over the last couple of seconds: what a live run takes
from the call app beside it. The governor keeps it under ``RunConfig.cpu_share`` of the cores.

Process CPU time (every thread: the runtime's workers, capture, sinks) is what the call app loses, so that is what is
measured, not the network's time alone.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one: a container's share, not the
    host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class CpuMeter:
    """Process CPU seconds per wall second and inferences per second over a sliding window of ticks (one per frame).

    The clocks are injectable so the governor's decisions can be tested without a loaded machine."""

    def __init__(self, window_s: float = 2.0, wall: Callable[[], float] = time.perf_counter,
                 cpu: Callable[[], float] = time.process_time) -> None:
        self.window_s = window_s
        self._wall, self._cpu = wall, cpu
        self._ticks: deque[tuple[float, float, int]] = deque()   # wall, CPU, inferences so far
        self._inferred = 0

    def reset(self) -> None:
        """Forget the window (the work per frame just changed, e.g. a new internal size)."""
        self._ticks.clear()

    def tick(self, inferred: bool) -> None:
        now = self._wall()
        self._inferred += bool(inferred)
        self._ticks.append((now, self._cpu(), self._inferred))
        while len(self._ticks) > 2 and now - self._ticks[1][0] >= self.window_s:
            self._ticks.popleft()

    def _span(self) -> float:
        return self._ticks[-1][0] - self._ticks[0][0] if len(self._ticks) > 1 else 0.0

    @property
    def ready(self) -> bool:
        """Whether the window covers enough time (half of it) to judge by."""
        return self._span() >= 0.5 * self.window_s

    @property
    def rate(self) -> float | None:
        """CPU seconds per wall second over the window (2.0 = two cores busy); None until ``ready``."""
        if not self.ready:
            return None
        return (self._ticks[-1][1] - self._ticks[0][1]) / self._span()

    @property
    def infer_rate(self) -> float | None:
        """Network inferences per wall second over the window (reused and warped frames do not count)."""
        if not self.ready:
            return None
        return (self._ticks[-1][2] - self._ticks[0][2]) / self._span()
