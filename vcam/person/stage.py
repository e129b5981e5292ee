"""What an engine needs for person-aware mode, in one object: the segmenter (loaded on first use, or early on
request) and the matte tracker, turning a camera frame into the refined full-size matte.

Loading is lazy so a run without person options never opens person.onnx; ``load()`` is thread-safe and may be
called from a control request's thread (the compile then never stalls the frame thread). A failed load is
remembered and raised again with its reason; the frame thread never raises it (``ready`` stays False and the
engine keeps the uniform blend).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from vcam.errors import VcamError
from vcam.person.matte import MATTE, MatteParams, MatteTracker
from vcam.person.segmenter import LazySegmenter, SegmenterUser


class PersonMatting(SegmenterUser):
    def __init__(self, path: Path, sha256: str | None = None, threads: int = 1, runtime: str = "auto",
                 params: MatteParams = MATTE) -> None:
        self.path = Path(path)
        self._slot = LazySegmenter(self.path, sha256, threads, runtime)
        self.tracker = MatteTracker(params)
        self._used_last = False        # whether the previous frame updated the tracker
        self.ms = 0.0                  # the last frame's segmenter + tracker time

    @property
    def ready(self) -> bool:
        return self._slot.current is not None

    def try_load(self) -> bool:
        """The frame thread's variant: False (and ``error`` set) instead of an exception."""
        try:
            self.load()
        except VcamError:
            return False
        return True

    def skip(self) -> None:
        """A frame without person mode: the next one that uses it starts the smoothing afresh."""
        if self._used_last:
            self.tracker.reset()
            self._used_last = False

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The refined matte at ``frame``'s size (float32 in [0,1]; a buffer reused by the next call)."""
        seg = self.segmenter
        if seg is None:
            raise RuntimeError("PersonMatting used before load()")
        t0 = time.perf_counter()
        if not self._used_last:
            self.tracker.reset()
        low = seg(frame)
        self.tracker.update(low, seg.guide, seg.thumb)
        out = self.tracker.refine(frame, seg.guide)
        self._used_last = True
        self.ms = (time.perf_counter() - t0) * 1000
        return out

    def info(self) -> dict:
        d: dict = {"model": self.path.name, "loaded": self.ready}
        if self.segmenter is not None:
            d.update(runtime=self.segmenter.runtime, threads=self.segmenter.threads, ms=round(self.ms, 2))
        if self.error is not None:
            d["error"] = self.error.message
        return d

