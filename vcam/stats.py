"""Per-stage timing and grab-to-send latency: a rolling window for the HUD, full percentiles for the summary."""

from __future__ import annotations

import json
import math
import time
from collections import deque
from pathlib import Path

import numpy as np

STAGES = ("capture_age", "prep", "pre", "infer", "post", "send")


class _Ring:
    """The latest ``size`` samples in one preallocated array: a call of hours keeps a flat footprint."""

    def __init__(self, size: int) -> None:
        self.data = np.full(size, np.nan, np.float32)   # full, not zeros: every page committed now, not mid-call
        self.n = 0

    def add(self, v: float) -> None:
        self.data[self.n % self.data.size] = v
        self.n += 1

    def values(self) -> np.ndarray:
        return self.data[: min(self.n, self.data.size)]


class PipelineStats:
    """``keep``: how many of the latest frames the summary's percentiles cover (100,000: 55 minutes at 30 fps)."""

    def __init__(self, window: int = 60, keep: int = 100_000) -> None:
        self._keep = max(1, keep)
        self._samples: dict[str, _Ring] = {s: _Ring(self._keep) for s in (*STAGES, "latency", "frame")}
        self._recent_t: deque[float] = deque(maxlen=window)
        self._recent_lat: deque[float] = deque(maxlen=window)
        self.frames = 0
        self.t_start = time.perf_counter()
        self.t_last = self.t_start
        self.reconnecting_frames = 0
        self.extra: dict = {}

    def series(self, name: str) -> np.ndarray:
        """One stage's per-frame samples in ms, oldest first (the latest ``keep`` frames; empty if never seen)."""
        ring = self._samples.get(name)
        if ring is None:
            return np.empty(0, np.float32)
        if ring.n <= ring.data.size:
            return ring.data[: ring.n]
        i = ring.n % ring.data.size
        return np.concatenate([ring.data[i:], ring.data[:i]])

    def record(self, stages_ms: dict[str, float], latency_ms: float, reconnecting: bool = False) -> None:
        now = time.perf_counter()
        self.frames += 1
        self.t_last = now
        if reconnecting:
            self.reconnecting_frames += 1
        for k, v in stages_ms.items():
            ring = self._samples.get(k)
            if ring is None:   # a stage outside STAGES: allocated once, on first sight
                ring = self._samples[k] = _Ring(self._keep)
            ring.add(v)
        self._samples["latency"].add(latency_ms)
        if self._recent_t:
            self._samples["frame"].add((now - self._recent_t[-1]) * 1000)
        self._recent_t.append(now)
        self._recent_lat.append(latency_ms)

    @property
    def fps_now(self) -> float:
        if len(self._recent_t) < 2:
            return 0.0
        span = self._recent_t[-1] - self._recent_t[0]
        return (len(self._recent_t) - 1) / span if span > 0 else 0.0

    @property
    def latency_now(self) -> float:
        return float(np.median(self._recent_lat)) if self._recent_lat else 0.0

    def summary(self) -> dict:
        elapsed = max(self.t_last - self.t_start, 1e-9)
        out: dict = {"frames": self.frames, "seconds": round(elapsed, 3),
                     "fps": round(self.frames / elapsed, 2) if self.frames > 1 else 0.0,
                     "reconnecting_frames": self.reconnecting_frames, "stages_ms": {}}
        for k, ring in self._samples.items():
            a = ring.values().astype(np.float64)
            if not a.size:
                continue
            entry = {"p50": _r(np.percentile(a, 50)), "p95": _r(np.percentile(a, 95)), "mean": _r(a.mean())}
            if k == "latency":
                out["latency_ms"] = entry
            elif k == "frame":
                out["frame_ms"] = entry
            else:
                out["stages_ms"][k] = entry
        out.update(self.extra)
        return out

    def write_json(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.summary(), indent=2) + "\n", encoding="utf-8")


def _r(v: float) -> float:
    return round(float(v), 3) if math.isfinite(v) else 0.0
