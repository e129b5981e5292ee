"""Keeping Python's cyclic garbage collector out of the frame loop's way, and seeing when it pauses anyway.

A full (generation 2) collection walks every container object the process holds, with the GIL held, so the
pipeline and the capture thread both wait for it. Almost all of those objects are made at start-up (modules, the
engine, the runtimes' bindings, the sinks) and live for the whole run: walking them again finds nothing. In a 720p
run here a full collection took 24-36 ms with both cores busy; ``gc.freeze()`` after the first frames (start-up
done, the first graph compiled) moves them out of the collector's sight, and the same call then took under 0.1 ms
(a one-off probe: a pipeline streaming the pattern, ``gc.collect(2)`` timed before and after). Full collections
come rarely, which is why one is a candidate for a single long gap in a two-hour soak.
"""

from __future__ import annotations

import gc
import time

WARM_FRAMES = 30   # one second at 30 fps: the engine has compiled its first graph and the sinks are open


def freeze_long_lived() -> int:
    """Collect once, then exclude every object alive now from later collections; returns how many were frozen.

    Objects made from here on are collected as usual. Call it once, after start-up: anything frozen that later
    becomes cyclic garbage is never freed, so it must not be called on every frame or style switch.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class GcPauses:
    """Records the collector's pauses while started (``gc.callbacks``): per generation, how many and the longest,
    and each pause of generation >= 1 or of ``min_ms`` or more with its start time (``time.perf_counter``)."""

    def __init__(self, min_ms: float = 1.0) -> None:
        self.min_ms = min_ms
        self.count = [0, 0, 0]
        self.longest_ms = [0.0, 0.0, 0.0]
        self.pauses: list[tuple[float, int, float]] = []   # (start, generation, ms)
        self._t0 = 0.0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        gen = int(info.get("generation", 0))
        ms = (time.perf_counter() - self._t0) * 1000
        self.count[gen] += 1
        self.longest_ms[gen] = max(self.longest_ms[gen], ms)
        if gen >= 1 or ms >= self.min_ms:
            self.pauses.append((self._t0, gen, ms))

    def start(self) -> GcPauses:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)
        return self

    def stop(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def summary(self) -> dict:
        return {"collections": {f"gen{g}": self.count[g] for g in range(3)},
                "longest_ms": {f"gen{g}": round(self.longest_ms[g], 2) for g in range(3)},
                "frozen_objects": gc.get_freeze_count()}
