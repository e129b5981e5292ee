"""Per-stage timing and grab-to-send latency: a rolling window for the HUD, full percentiles for the summary."""

from __future__ import annotations

import json
import math
import time
from collections import deque
from pathlib import Path

import numpy as np

STAGES = ("capture_age", "prep", "pre", "infer", "post", "send")


class PipelineStats:
    def __init__(self, window: int = 60, keep: int = 100_000) -> None:
        self._samples: dict[str, list[float]] = {s: [] for s in (*STAGES, "latency", "frame")}
        self._keep = keep
        self._recent_t: deque[float] = deque(maxlen=window)
        self._recent_lat: deque[float] = deque(maxlen=window)
        self.frames = 0
        self.t_start = time.perf_counter()
        self.t_last = self.t_start
        self.reconnecting_frames = 0
        self.extra: dict = {}

    def record(self, stages_ms: dict[str, float], latency_ms: float, reconnecting: bool = False) -> None:
        now = time.perf_counter()
        self.frames += 1
        self.t_last = now
        if reconnecting:
            self.reconnecting_frames += 1
        for k, v in stages_ms.items():
            lst = self._samples.setdefault(k, [])
            if len(lst) < self._keep:
                lst.append(v)
        if len(self._samples["latency"]) < self._keep:
            self._samples["latency"].append(latency_ms)
            if self._recent_t:
                self._samples["frame"].append((now - self._recent_t[-1]) * 1000)
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
        for k, v in self._samples.items():
            if not v:
                continue
            a = np.asarray(v)
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
