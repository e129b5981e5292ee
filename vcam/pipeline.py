"""The frame loop: feed -> engine -> sinks, with per-stage timing. Knows only the three protocols.

Stages timed per frame (ms): capture_age (grab to pick-up), prep (format/size normalisation; with auto-framing the
crop from the frame as captured, and "framing" its share), pre/infer/post (reported by the engine), send (all sinks).
Latency is grab to the end of send.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from vcam.capture.base import FrameFeed
from vcam.config import Size
from vcam.control.state import Controls, ControlState
from vcam.engines.base import Engine
from vcam.frames import fit, mark_reconnecting, to_bgr
from vcam.gc_pauses import WARM_FRAMES
from vcam.sinks.base import FrameInfo, Sink
from vcam.stats import PipelineStats


def describe_blend(state: ControlState) -> str:
    if state.paused:
        return "paused"
    if not state.weights:
        return "none"
    items = sorted(state.target.items() or state.weights.items(), key=lambda kv: -kv[1])
    if len(items) == 1:
        return items[0][0]
    return ",".join(f"{n}={w:.2f}" for n, w in items)


class Framer(Protocol):
    """Auto-framing (vcam.person.framing.AutoFramer): the frame as captured -> the framed output-size picture."""

    at_rest: bool

    def __call__(self, frame: np.ndarray, on: bool, width: int, height: int, out: np.ndarray) -> np.ndarray: ...


class Pipeline:
    def __init__(self, feed: FrameFeed, engine: Engine, sinks: Sequence[Sink], controls: Controls, size: Size,
                 stats: PipelineStats | None = None, max_frames: int | None = None,
                 frame_timeout: float = 5.0, framer: Framer | None = None) -> None:
        self.feed = feed
        self.engine = engine
        self.sinks = list(sinks)
        self.controls = controls
        self.size = size
        self.stats = stats or PipelineStats()
        self.max_frames = max_frames
        self.frame_timeout = frame_timeout
        self.stop_event = threading.Event()
        self.framer = framer
        self._buf = np.empty((size.height, size.width, 3), np.uint8)   # the one output-size input buffer
        self._marked = np.empty_like(self._buf)                          # re-sent frames with their mark
        self.on_frame: Callable[[int], None] | None = None             # hook for tests and idle logic
        # Called once, after WARM_FRAMES frames: start-up is done (the runner freezes the start-up heap out of the
        # garbage collector's walks there: vcam.gc_pauses).
        self.on_warm: Callable[[], None] | None = None
        self._governor: object = None

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> dict:
        """Process frames until stopped, the stream ends, or max_frames; return the stats summary."""
        sent = 0
        w, h = self.size.width, self.size.height
        while not self.stop_event.is_set():
            if self.max_frames is not None and sent >= self.max_frames:
                break
            try:
                frame = self.feed.next_frame(timeout=self.frame_timeout)
            except TimeoutError:
                continue  # a live feed that produced nothing: check the stop flag and keep waiting
            if frame is None:
                break
            state = self.controls.snapshot()
            t0 = time.perf_counter()
            framer = self.framer
            framed = framer is not None and (state.framing or not framer.at_rest)
            if framed:
                img = framer(to_bgr(frame.image), state.framing, w, h, self._buf)
            else:
                img = fit(to_bgr(frame.image), w, h, out=self._buf)
            t1 = time.perf_counter()
            if state.paused or not state.weights:
                out = img
                eng = {}
            else:
                out = self.engine.step(img, state)
                eng = self.engine.timings
            if frame.reconnecting:
                out = mark_reconnecting(out, self._marked)
            t2 = time.perf_counter()
            info = FrameInfo(index=sent, fps=self.stats.fps_now, latency_ms=self.stats.latency_now,
                             style=describe_blend(state), engine=self.engine.name,
                             reconnecting=frame.reconnecting, notes=self._notes(state))
            for sink in self.sinks:
                sink.send(out, info)
            t3 = time.perf_counter()
            stages = {"capture_age": (t0 - frame.t_grab) * 1000, "prep": (t1 - t0) * 1000,
                      "pre": eng.get("pre", 0.0), "infer": eng.get("infer", 0.0), "post": eng.get("post", 0.0),
                      "engine": (t2 - t1) * 1000, "send": (t3 - t2) * 1000}
            if eng.get("person"):      # person-aware mode: the matte's share of post
                stages["person"] = eng["person"]
            if framed:
                stages["framing"] = (t1 - t0) * 1000
            self.stats.record(stages, (t3 - frame.t_grab) * 1000, frame.reconnecting)
            sent += 1
            if sent == WARM_FRAMES and self.on_warm is not None:
                self.on_warm()
            if self.on_frame is not None:
                self.on_frame(sent)
        self.stats.extra["dropped_frames"] = self.feed.dropped
        self.stats.extra["source_fps"] = round(self.feed.measured_fps, 2)
        self.stats.extra["engine"] = self.engine.info()
        return self.stats.summary()

    def _notes(self, state: ControlState) -> list[str]:
        notes = []
        if state.strength < 0.999:
            notes.append(f"strength {state.strength:.2f}")
        if state.framing:
            notes.append("frame auto")
        # The governor's state changes slowly: ask the engine twice a second, not on every frame.
        if self.stats.frames % 15 == 0:
            self._governor = self.engine.info().get("governor")
        gov = self._governor
        if isinstance(gov, str) and gov:
            notes.append(gov)
        return notes
